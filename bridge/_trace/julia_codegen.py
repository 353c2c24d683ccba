"""Julia source for a traced model: a module with in-place ``f!``, ``jac!``, ``paramjac!``,
``vjp!`` and ``vjp_p!``.

The generated functions follow the rules in shared/julia-api/USAGE.md §4, because
ForwardDiff duals, ReverseDiff tracked values and ``Zygote.Buffer`` flow through them: no
argument annotations, no ``Float64`` conversions or buffers, scalar locals for
intermediates, element-by-element writes, ``return nothing``, and only Base functions.
Indices are 1-based. ``vjp!``/``vjp_p!`` follow SciMLBase's argument order
``(out, v, u, p, t)`` and compute ``out = (∂f/∂u)ᵀ v`` / ``(∂f/∂p)ᵀ v``.

Functions that are real on part of the line only (``sqrt``, ``log``, ``log1p``, ``acos``,
``asin``, ``atanh``, a non-integer power) print as the NaN-returning helpers of the operation
table (``nan_sqrt`` ...), defined at the top of the module when used, unless SymPy proves the
argument is inside the domain (``sqrt(1.0 + u[1]^2)``): NumPy returns NaN outside, Base
throws a DomainError, and ``ifelse`` evaluates both branches, so even an unused branch of
``np.where(u > 0, np.sqrt(u), 0)`` must not throw. Under ForwardDiff 1.x, ``x < zero(x)``
also compares partials at exactly x = 0, so a dual at the boundary moving outward gets NaN
there (where the derivative is infinite anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy as sp

from .._errors import BridgeValueError
from .ops import HEADS, OPS, ROWS, spellings
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

    def __init__(
        self, names: Mapping[sp.Basic, str], temps: Mapping[sp.Basic, str] | None = None
    ) -> None:
        super().__init__(names, temps)
        #: Rows of the operation table whose NaN helper the printed code calls.
        self.helpers: set[str] = set()

    def call_name(self, head: str, args: tuple[sp.Basic, ...]) -> str:
        # Outside its domain Base's function throws a DomainError where NumPy returns NaN;
        # the NaN helper is used unless SymPy can prove the argument is inside.
        op = HEADS.get(head)
        if op is None or op.domain is None or op.julia_nan is None:
            return self.function_name(head)
        if op.domain(*args).is_nonnegative:
            return self.function_name(head)
        self.helpers.add(op.name)
        return op.julia_nan

    def real_power(self, base: sp.Expr, exp: sp.Expr) -> tuple[str, int]:
        if base.is_nonnegative or exp.is_integer:
            return super().real_power(base, exp)
        op = OPS["power"]
        self.helpers.add(op.name)
        return f"{op.julia_nan}({self.doprint(base)}, {self.doprint(exp)})", 100

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


def julia_function(
    program: Program, helpers: set[str] | None = None, *, scalar: bool = False
) -> str:
    """The Julia text of one in-place function; adds the NaN helpers it calls to ``helpers``.

    ``scalar=True`` prints a program with one entry as a function returning that value,
    ``<name>(<args>...)`` (an event's condition, for ``ContinuousCallback``).
    """
    printer = JuliaPrinter(_julia_names(program), program.temps)
    out = program.out
    args = ", ".join(program.args)
    lines = [
        f"function {program.name}({args})" if scalar else f"function {program.name}!({out}, {args})"
    ]
    if not program.dense and not scalar:
        lines.append(f"    fill!({out}, zero(eltype({out})))")
    writes = []
    for index, expr in program.entries:
        where = ", ".join(str(i + 1) for i in index)
        writes.append((f"{out}[{where}]", printer.doprint(expr)))
    defined = [(local, printer.define(expr)) for local, expr in program.assignments]
    for local, text in prune_unused(defined, [t for _, t in writes]):
        lines.append(f"    {local} = {text}")
    if scalar:
        ((_, text),) = writes
        lines.append(f"    return {text}")
    else:
        lines.extend(f"    {target} = {text}" for target, text in writes)
        lines.append("    return nothing")
    lines.append("end")
    if helpers is not None:
        helpers |= printer.helpers
    return "\n".join(lines)


def module_name(name: str) -> str:
    """A Julia module name for a model name: ``"lotka_volterra"`` -> ``"LotkaVolterra"``.

    Example
    -------
    >>> module_name("lotka_volterra"), module_name("2 states"), module_name("<lambda>")
    ('LotkaVolterra', 'M2States', 'Lambda')
    """
    words = "".join(c if c.isalnum() else " " for c in name).split()
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Rhs"
    text = text if text[0].isalpha() else f"M{text}"
    return text if text not in _KEYWORDS and _IDENTIFIER.match(text) else "BridgeModel"


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
    helpers: set[str] = set()
    functions = [julia_function(program, helpers) for program in programs]
    if helpers:
        parts.append("")
        parts.extend(op.julia_helper for op in ROWS if op.name in helpers and op.julia_helper)
    for text in functions:
        parts.extend(["", text])
    parts.extend(["", "end # module", ""])
    return "\n".join(parts)
