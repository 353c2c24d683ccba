"""Julia source for a traced model: a module with in-place ``f!``, ``jac!``, ``paramjac!``,
``vjp!`` and ``vjp_p!``.

The generated functions follow the rules in shared/julia-api/USAGE.md §4, because
ForwardDiff duals, ReverseDiff tracked values and ``Zygote.Buffer`` flow through them: no
argument annotations, no ``Float64`` conversions or buffers, scalar locals for
intermediates, element-by-element writes, ``return nothing``, and only Base functions.
Indices are 1-based. ``vjp!``/``vjp_p!`` follow SciMLBase's argument order
``(out, v, u, p, t)`` and compute ``out = (∂f/∂u)ᵀ v`` / ``(∂f/∂p)ᵀ v``.
"""

from __future__ import annotations

import re

import sympy as sp

from .._errors import BridgeValueError
from .ops import spellings
from .printer import CodePrinter, prune_unused
from .program import Program

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset(
    "baremodule begin break catch const continue do else elseif end export false finally "
    "for function global if import let local macro module quote return struct true try "
    "using while abstract mutable primitive type where in isa outer public".split()
)


class JuliaPrinter(CodePrinter):
    """Prints SymPy expressions as Julia (``^`` for powers, ``ifelse`` for ``np.where``).

    Example
    -------
    >>> x = sp.Symbol("u_0")
    >>> JuliaPrinter({x: "u[1]"}).doprint(1e-5 * x**2 + sp.Float(0.5))
    '0.5 + 1.0e-5*u[1]^2'
    """

    language = "Julia"
    functions = spellings("julia")
    power = "^"

    def format_float(self, value: float) -> str:
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            text = f"{mantissa}e{int(exponent)}"
        elif "." not in text:
            text += ".0"
        return text

    def _print_BooleanTrue(self, expr: object) -> tuple[str, int]:
        return "true", 100

    def _print_BooleanFalse(self, expr: object) -> tuple[str, int]:
        return "false", 100


def _julia_names(program: Program) -> dict[sp.Symbol, str]:
    names: dict[sp.Symbol, str] = {}
    for arg, syms in program.inputs.items():
        for i, s in enumerate(syms):
            names[s] = f"{arg}[{i + 1}]"
    return names


def julia_function(program: Program) -> str:
    """The Julia text of one in-place function."""
    printer = JuliaPrinter(_julia_names(program), program.temps)
    out = program.out
    lines = [f"function {program.name}!({out}, {', '.join(program.args)})"]
    if not program.dense:
        lines.append(f"    fill!({out}, zero(eltype({out})))")
    writes = []
    for index, expr in program.entries:
        where = ", ".join(str(i + 1) for i in index)
        writes.append((f"{out}[{where}]", printer.doprint(expr)))
    defined = [(local, printer.define(expr)) for local, expr in program.assignments]
    for local, text in prune_unused(defined, [t for _, t in writes]):
        lines.append(f"    {local} = {text}")
    lines.extend(f"    {target} = {text}" for target, text in writes)
    lines.append("    return nothing")
    lines.append("end")
    return "\n".join(lines)


def julia_module(module_name: str, programs: list[Program], n_states: int, n_params: int) -> str:
    """A complete ``module <module_name> ... end`` with the constants and functions.

    Example
    -------
    >>> julia_module("M", [], 2, 3).splitlines()[:3]
    ['module M', '', 'const NSTATES = 2']
    """
    if (
        not isinstance(module_name, str)
        or not _IDENTIFIER.match(module_name)
        or module_name in _KEYWORDS
    ):
        raise BridgeValueError(
            "module_name must be a Julia identifier (letters, digits, _; not a keyword), "
            f"got {module_name!r}"
        )
    parts = [f"module {module_name}", "", f"const NSTATES = {n_states}"]
    parts.append(f"const NPARAMS = {n_params}")
    for program in programs:
        parts.extend(["", julia_function(program)])
    parts.extend(["", "end # module", ""])
    return "\n".join(parts)
