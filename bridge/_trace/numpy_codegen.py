"""NumPy callables for a traced model: Python source text, compiled once with ``exec``.

Each program becomes a scalar Python function. It is compiled twice from the same text:

* a **fast** version, called with ``u.tolist()``: plain Python floats and ``math``
  functions, which for scalar code is several times faster than NumPy scalars;
* a **NumPy** version, called with the float64 arrays themselves (NumPy scalars and ufuncs),
  used only when the fast one raises (``math.log(-1)``, ``1/0``, ``exp(1000)``), so the
  results are NumPy's ``nan``/``inf`` rather than exceptions, as an ODE solver expects.

Outputs are freshly allocated float64 arrays. Dense outputs are built with ``np.array``;
sparse Jacobians scatter their non-zero entries into ``np.zeros`` with one fancy-index
assignment.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._errors import BridgeValueError
from .ops import ROWS, spellings
from .printer import CodePrinter, prune_unused
from .program import Program


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0)) if x == x else x


# NaN in, NaN out, as np.minimum/np.maximum/np.clip: ``a if a <= b else b`` would drop it.
def _minimum(a: float, b: float) -> float:
    return a if a <= b else (b if b < a else a + b)


def _maximum(a: float, b: float) -> float:
    return a if a >= b else (b if b > a else a + b)


def _clip(x: float, lo: float, hi: float) -> float:
    return _minimum(_maximum(x, lo), hi)


# The fast path's helpers (Python floats): the ``py_fast`` names of the operation table that
# are not math/builtins functions.
_FAST_HELPERS: dict[str, Any] = {
    "sign": _sign,
    "minimum": _minimum,
    "maximum": _maximum,
    "clip": _clip,
    "where": lambda c, a, b: a if c else b,
    "logical_not": lambda c: not c,
}
_MODULES = {"math": math, "np": np, "builtins": builtins}


def _resolve(spelling: str) -> Any:
    module, _, name = spelling.rpartition(".")
    return getattr(_MODULES[module], name) if module else _FAST_HELPERS[name]


def _namespace(fast: bool) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    for op in ROWS:
        if op.py is not None:
            spelling = op.py_fast if fast else op.py_numpy
            assert spelling is not None
            ns[op.py] = _resolve(spelling)
    ns.update(array=np.array, zeros=np.zeros, float64=np.float64)
    return ns


class NumpyPrinter(CodePrinter):
    """Prints SymPy expressions as Python for the namespaces above.

    Example
    -------
    >>> x = sp.Symbol("u_0")
    >>> NumpyPrinter({}).doprint(sp.Piecewise((x**2, x > 0), (sp.Float(1e-5), True)))
    'where(u_0 > 0, u_0**2, 1e-05)'
    """

    language = "NumPy"
    functions = spellings("py")
    power = "**"

    def format_float(self, value: float) -> str:
        return repr(value)

    def real_power(self, base: sp.Expr, exp: sp.Expr) -> tuple[str, int]:
        # Not ``**``: see the power row of the operation table.
        pow_name = self.function_name("Pow")
        return f"{pow_name}({self.doprint(base)}, {self.doprint(exp)})", 100

    def _print_BooleanTrue(self, expr: object) -> tuple[str, int]:
        return "True", 100

    def _print_BooleanFalse(self, expr: object) -> tuple[str, int]:
        return "False", 100


def _unpack(name: str, symbols: tuple[sp.Symbol, ...]) -> str:
    if not symbols:
        return ""
    targets = ", ".join(s.name for s in symbols)
    return f"    {targets}, = {name}\n"


def python_source(program: Program) -> tuple[str, dict[str, Any]]:
    """The Python text of one program, and the constants its namespace needs."""
    printer = NumpyPrinter({}, program.temps)
    lines = [f"def {program.name}({', '.join(program.args)}):\n"]
    for arg, syms in program.inputs.items():
        lines.append(_unpack(arg, syms))
    printed = [printer.doprint(e) for _, e in program.entries]
    defined = [(local, printer.define(expr)) for local, expr in program.assignments]
    for local, text in prune_unused(defined, printed):
        lines.append(f"    {local} = {text}\n")
    constants: dict[str, Any] = {}
    values = ", ".join(printed)
    if not program.entries:
        lines.append(f"    return zeros({program.shape})\n")
    elif program.dense:
        lines.append(f"    return array(({values},), dtype=float64)\n")
    else:
        flat = np.ravel_multi_index(np.array([i for i, _ in program.entries]).T, program.shape)
        constants[f"_IDX_{program.name}"] = flat
        lines.append(f"    out = zeros({math.prod(program.shape)})\n")
        lines.append(f"    out[_IDX_{program.name}] = ({values},)\n")
        lines.append(f"    return out.reshape({program.shape})\n")
    return "".join(lines), constants


def numpy_module_source(programs: list[Program], model_name: str) -> str:
    """The Python text of all of a model's programs, for reading (``TracedModel.source``).

    Example
    -------
    >>> from bridge._trace.program import build_programs
    >>> from bridge._trace.tracer import trace
    >>> text = numpy_module_source(build_programs(trace(lambda u, p, t: -p[0] * u, 1, 1)), "f")
    >>> print(text.split(chr(10) * 3)[1])  # the functions are three newlines apart
    def f(u, p, t):
        u_0, = u
        p_0, = p
        return array((-p_0*u_0,), dtype=float64)
    """
    names = sorted({op.py for op in ROWS if op.py is not None})
    header = (
        f"# Generated by bridge for model {model_name!r}. Each function runs twice over: with\n"
        "# Python floats and math functions (fast), and, when that raises, with NumPy scalars\n"
        "# and ufuncs, so that the results are NaN/inf as NumPy gives them. Names used:\n"
        f"# {', '.join(names)}, array, zeros, float64.\n"
    )
    parts = [header]
    for program in programs:
        text, constants = python_source(program)
        lines = [f"{key} = {value.tolist()!r}\n" for key, value in constants.items()]
        parts.append("".join(lines) + text)
    return "\n\n".join(parts)


def compile_program(
    program: Program, filename: str
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The (fast, NumPy) pair of Python functions for ``program``."""
    source, constants = python_source(program)
    return compile_source(program.name, source, constants, filename)


def compile_source(
    name: str, source: str, constants: dict[str, Any], filename: str
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The (fast, NumPy) pair of Python functions ``name`` from ``python_source`` text."""
    code = compile(source, filename, "exec")
    compiled = []
    for fast in (True, False):
        ns = {**_namespace(fast), **constants}
        exec(code, ns)
        compiled.append(ns[name])
    return compiled[0], compiled[1]


class NumpyFunction:
    """A compiled program with the fast path and the NumPy fallback (see module docstring).

    Called as ``fn(u, p, t)`` or ``fn(v, u, p, t)`` with float64 arrays.
    """

    def __init__(self, program: Program, model_name: str) -> None:
        source, constants = python_source(program)
        sizes = {arg: len(syms) for arg, syms in program.inputs.items()}
        self._setup(program.name, program.args, sizes, source, constants, model_name)

    @classmethod
    def from_source(
        cls,
        name: str,
        args: tuple[str, ...],
        sizes: dict[str, int],
        source: str,
        constants: dict[str, Any],
        model_name: str,
    ) -> NumpyFunction:
        """The function rebuilt from its generated source (an ensemble worker's copy)."""
        self = cls.__new__(cls)
        self._setup(name, args, sizes, source, constants, model_name)
        return self

    def _setup(
        self,
        name: str,
        args: tuple[str, ...],
        sizes: dict[str, int],
        source: str,
        constants: dict[str, Any],
        model_name: str,
    ) -> None:
        self.name, self.args, self.sizes, self.model_name = name, args, sizes, model_name
        self.source, self.constants = source, constants
        self.fast, self.numpy = compile_source(
            name, source, constants, f"<bridge {model_name}.{name}>"
        )

    def __call__(self, *args: Any) -> Any:
        *arrays, t = args
        try:
            # ndarray.tolist() gives Python floats; lists, wrong lengths etc. fall through
            # to the checked NumPy path below, which reports them.
            return self.fast(*[a.tolist() for a in arrays], float(t))
        except (ArithmeticError, ValueError, AttributeError, TypeError):
            pass
        checked = [self._check(name, a) for name, a in zip(self.args, arrays, strict=False)]
        with np.errstate(all="ignore"):
            return self.numpy(*checked, np.float64(t))

    def _check(self, name: str, value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != (self.sizes[name],):
            raise BridgeValueError(
                f"{self.name} of model {self.model_name!r}: {name} has shape "
                f"{arr.shape}, expected ({self.sizes[name]},)"
            )
        return arr
