"""The one table of operations: what each traced operation is called in every language.

One ``Op`` row per operation holds its SymPy constructor, the NumPy ufuncs and ``math``
functions that the tracer maps to it, and its spelling in every generated language. The
tracer (``symarray.py``, ``arrayfuncs.py``, ``mathshim.py``) and the printers
(``numpy_codegen.py``, ``julia_codegen.py``) read this table instead of keeping lists, so
an operation is added in one place, and a new target language adds a column (a field of
``Op`` with a default of ``None``, and a keyword in the rows that the target can print).

Columns
-------
``numpy``, ``math``
    The names users call: NumPy ufuncs (``np.arctan``) and ``math`` functions (``math.atan``)
    traced to this operation.
``sympy``, ``arity``, ``bind``
    The constructor of the traced expression from SymPy arguments; ``bind`` names each
    result element on the tape (worth it for transcendental functions, see ``tape.py``).
``heads``
    The SymPy node names (``type(expr).__name__``) the printers print with this row's
    spellings. Rows without heads build plain arithmetic (``np.square``) and need none.
``py``, ``py_fast``, ``py_numpy``
    The name the generated Python calls, and what it is bound to on the fast path (Python
    floats) and on the NumPy fallback (NumPy scalars, ``nan`` instead of exceptions):
    ``"math.<name>"``, ``"np.<name>"``, ``"builtins.<name>"`` or the name of a helper of
    ``numpy_codegen``.
``switch``
    ``"kink"`` for operations that pick between branches but stay continuous (``np.abs``,
    ``np.maximum``, ``np.clip``), ``"jump"`` for those that may jump (``np.sign``,
    ``np.where``); the tracer records where they are used (see ``switches.py``).
``domain``
    For functions that are real only on part of the line: an expression of the arguments
    that is >= 0 exactly where the function is defined. Outside it NumPy returns NaN.
``julia``, ``julia_nan``, ``julia_helper``
    The Julia spelling (a Base function); for functions with a domain, the helper used
    where the printer cannot prove the argument is inside it (Base's ``sqrt(-1.0)`` throws
    a DomainError where NumPy returns NaN), and that helper's one-line definition, which
    the generated module includes when it is used. The helpers are Base-only and
    type-generic (ForwardDiff duals, ReverseDiff tracked reals and Zygote go through them):
    the argument is replaced by NaN *before* the Base function sees it, with ``ifelse``
    rather than a branch, and ``zero(x) / zero(x)`` is a NaN of the argument's type.
``diffsl``
    The DiffSL spelling (``bridge/_trace/diffsl_codegen.py``, the diffsol engine): a DiffSL
    function, or ``"@<construction>"`` for an operation DiffSL lacks that the printer builds
    from ``piecewise`` and other functions (NaN propagating as in NumPy). Rows without one
    (``arctan``, ``arcsin``, ``arccos``, ``arctan2``) cannot run on diffsol.
``partials``
    The derivative rule of the array tracer (``bridge/_trace/array/rules.py``):
    ``partials(d, out, *args)`` gives one partial derivative per argument as array nodes
    built with ``d`` (``d.multiply(a, b)``, ``d.c(1.0)``; ``d.select(cond)`` for "1 where
    cond holds"), in terms of the output where that is cheaper (tanh' = 1 - tanh²), or
    None where it is zero. Rows without one are rewritten into others by the array tracer.

Example
-------
>>> OPS["arctan"].julia, UFUNCS["arctan"].py, MATH["atan"].name
('atan', 'arctan', 'arctan')
>>> spellings("julia")["Minimum"]
'min'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from . import functions as fn


@dataclass(frozen=True)
class Op:
    """One operation and its spellings (see the module docstring for the columns)."""

    name: str
    sympy: Callable[..., Any]
    arity: int
    numpy: tuple[str, ...] = ()
    math: tuple[str, ...] = ()
    bind: bool = False
    heads: tuple[str, ...] = ()
    py: str | None = None
    py_fast: str | None = None
    py_numpy: str | None = None
    switch: str | None = None
    domain: Callable[..., Any] | None = None
    julia: str | None = None
    julia_nan: str | None = None
    julia_helper: str | None = None
    diffsl: str | None = None
    partials: Callable[..., Any] | None = None


def _power(a: Any, b: Any) -> Any:
    # x**2.0 -> x**2: the same value, but simpler derivatives and nicer generated code.
    if isinstance(b, sp.Float) and float(b).is_integer() and abs(float(b)) <= 64:
        b = sp.Integer(int(b))
    return sp.Pow(a, b)


def _nan_helper(julia: str, outside: str) -> tuple[str, str]:
    """The name and definition of the NaN-returning version of a Base function."""
    name = f"nan_{julia}"
    return name, f"{name}(x) = {julia}(ifelse({outside}, zero(x) / zero(x), x))"


def _function(
    name: str,
    sympy: Callable[..., Any],
    numpy: str,
    math: str,
    head: str,
    julia: str,
    domain: Callable[..., Any] | None = None,
    outside: str = "",
    diffsl: str | None = None,
    partials: Callable[..., Any] | None = None,
) -> Op:
    """A transcendental function of Base/``math``/NumPy, bound on the tape; with a domain,
    ``outside`` is the Julia condition (of ``x``) for being outside it."""
    nan, helper = _nan_helper(julia, outside) if domain is not None else (None, None)
    return Op(
        name, sympy, 1, numpy=(numpy,), math=(math,), bind=True, heads=(head,),
        py=numpy, py_fast=f"math.{math}", py_numpy=f"np.{numpy}", domain=domain,
        julia=julia, julia_nan=nan, julia_helper=helper, diffsl=diffsl, partials=partials,
    )  # fmt: skip


def _unit(x: Any) -> Any:
    return 1 - x**2  # >= 0 on [-1, 1]


_OUTSIDE_UNIT = "abs(x) > one(x)"


def _power_partials(d: Any, y: Any, a: Any, b: Any) -> tuple[Any, Any]:
    # x**c for a constant c: c*x**(c-1), without a power for c = 1, 2.
    if b.op == "scalar":
        c = b.attrs[0]
        da = d.c(c) if c == 1.0 else d.multiply(c, a if c == 2.0 else d.power(a, c - 1.0))
    else:
        da = d.multiply(b, d.power(a, d.subtract(b, 1.0)))
    return da, d.multiply(y, d.log(a))


def _unit_partial(d: Any, a: Any, sign: float) -> Any:
    return d.divide(sign, d.sqrt(d.subtract(1.0, d.multiply(a, a))))


def _no_partials(d: Any, y: Any, *args: Any) -> tuple[None, ...]:
    return (None,) * len(args)  # a boolean result, or a piecewise-constant one


# fmt: off
ROWS: tuple[Op, ...] = (
    # -- transcendental functions: named on the tape --------------------------------------
    _function(
        "exp", sp.exp, "exp", "exp", "exp", "exp", diffsl="exp", partials=lambda d, y, a: (y,)
    ),
    _function(
        "log", sp.log, "log", "log", "log", "log", lambda x: x, "x < zero(x)", "log",
        partials=lambda d, y, a: (d.divide(1.0, a),),
    ),
    _function(
        "log1p", fn.log1p, "log1p", "log1p", "log1p", "log1p", lambda x: x + 1, "x < -one(x)",
        "@log1p", partials=lambda d, y, a: (d.divide(1.0, d.add(a, 1.0)),),
    ),
    _function(
        "expm1", fn.expm1, "expm1", "expm1", "expm1", "expm1", diffsl="@expm1",
        partials=lambda d, y, a: (d.add(y, 1.0),),
    ),
    _function(
        "sqrt", sp.sqrt, "sqrt", "sqrt", "sqrt", "sqrt", lambda x: x, "x < zero(x)", "sqrt",
        partials=lambda d, y, a: (d.divide(0.5, y),),
    ),
    _function(
        "sin", sp.sin, "sin", "sin", "sin", "sin", diffsl="sin",
        partials=lambda d, y, a: (d.cos(a),),
    ),
    _function(
        "cos", sp.cos, "cos", "cos", "cos", "cos", diffsl="cos",
        partials=lambda d, y, a: (d.negative(d.sin(a)),),
    ),
    _function(
        "tan", sp.tan, "tan", "tan", "tan", "tan", diffsl="tan",
        partials=lambda d, y, a: (d.add(1.0, d.multiply(y, y)),),
    ),
    _function(
        "tanh", sp.tanh, "tanh", "tanh", "tanh", "tanh", diffsl="tanh",
        partials=lambda d, y, a: (d.subtract(1.0, d.multiply(y, y)),),
    ),
    _function(
        "sinh", sp.sinh, "sinh", "sinh", "sinh", "sinh", diffsl="sinh",
        partials=lambda d, y, a: (d.cosh(a),),
    ),
    _function(
        "cosh", sp.cosh, "cosh", "cosh", "cosh", "cosh", diffsl="cosh",
        partials=lambda d, y, a: (d.sinh(a),),
    ),
    _function(
        "arctan", sp.atan, "arctan", "atan", "atan", "atan",
        partials=lambda d, y, a: (d.divide(1.0, d.add(1.0, d.multiply(a, a))),),
    ),
    _function(
        "arcsin", sp.asin, "arcsin", "asin", "asin", "asin", _unit, _OUTSIDE_UNIT,
        partials=lambda d, y, a: (_unit_partial(d, a, 1.0),),
    ),
    _function(
        "arccos", sp.acos, "arccos", "acos", "acos", "acos", _unit, _OUTSIDE_UNIT,
        partials=lambda d, y, a: (_unit_partial(d, a, -1.0),),
    ),
    _function(
        "arcsinh", sp.asinh, "arcsinh", "asinh", "asinh", "asinh", diffsl="arcsinh",
        partials=lambda d, y, a: (d.divide(1.0, d.sqrt(d.add(d.multiply(a, a), 1.0))),),
    ),
    _function(
        "arctanh", sp.atanh, "arctanh", "atanh", "atanh", "atanh", _unit, _OUTSIDE_UNIT, "@atanh",
        partials=lambda d, y, a: (d.divide(1.0, d.subtract(1.0, d.multiply(a, a))),),
    ),
    # Rewritten into the functions above, so they need no spelling of their own.
    Op("log10", lambda a: sp.log(a) / sp.log(10), 1, ("log10",), ("log10",), bind=True),
    # scipy.special.expit (a ufunc), the logistic sigmoid.
    Op("expit", lambda a: 1 / (1 + sp.exp(-a)), 1, ("expit",), bind=True),
    Op("log2", lambda a: sp.log(a) / sp.log(2), 1, ("log2",), ("log2",), bind=True),
    Op("exp2", lambda a: sp.Integer(2) ** a, 1, ("exp2",), ("exp2",), bind=True),
    Op(
        "cbrt", lambda a: fn.Sign(a) * sp.Abs(a) ** sp.Rational(1, 3), 1, ("cbrt",), ("cbrt",),
        bind=True,
    ),
    # -- cheap elementwise operations: not named ------------------------------------------
    Op("negative", lambda a: -a, 1, ("negative",), partials=lambda d, y, a: (d.c(-1.0),)),
    Op("positive", lambda a: a, 1, ("positive",)),
    Op(
        "absolute", sp.Abs, 1, ("absolute", "fabs"), ("fabs",), heads=("Abs",), switch="kink",
        py="abs", py_fast="builtins.abs", py_numpy="np.absolute", julia="abs", diffsl="abs",
        partials=lambda d, y, a: (d.sign(a),),
    ),
    # SymPy's own ``sign`` arises as the derivative of ``Abs``.
    Op(
        "sign", fn.Sign, 1, ("sign",), heads=("Sign", "sign"), switch="jump",
        py="sign", py_fast="sign", py_numpy="np.sign", julia="sign", diffsl="@sign",
        partials=_no_partials,
    ),
    Op("square", lambda a: a**2, 1, ("square",)),
    Op("reciprocal", lambda a: 1 / a, 1, ("reciprocal",)),
    Op(
        "logical_not", sp.Not, 1, ("logical_not", "invert"), heads=("Not",),
        py="logical_not", py_fast="logical_not", py_numpy="np.logical_not", julia="!",
        diffsl="@select", partials=_no_partials,
    ),
    # -- binary operations ----------------------------------------------------------------
    Op("add", lambda a, b: a + b, 2, ("add",), partials=lambda d, y, a, b: (d.c(1.0), d.c(1.0))),
    Op(
        "subtract", lambda a, b: a - b, 2, ("subtract",),
        partials=lambda d, y, a, b: (d.c(1.0), d.c(-1.0)),
    ),
    Op("multiply", lambda a, b: a * b, 2, ("multiply",), partials=lambda d, y, a, b: (b, a)),
    Op(
        "divide", lambda a, b: a / b, 2, ("divide", "true_divide"),
        partials=lambda d, y, a, b: (d.divide(1.0, b), d.negative(d.divide(y, b))),
    ),
    # Integer powers print as the language's operator; ``py`` is for the others, where
    # ``math.pow`` raises on a negative base (-> NumPy fallback, nan) where ``**`` would
    # return a complex number.
    # A negative base with a non-integer exponent is NaN in NumPy, a DomainError in Julia.
    Op(
        "power", _power, 2, ("power", "float_power"), ("pow",), heads=("Pow",),
        py="fpow", py_fast="math.pow", py_numpy="np.power",
        domain=lambda x, y: x, julia_nan="nan_pow", diffsl="pow", partials=_power_partials,
        julia_helper=(
            "nan_pow(x, y) = ifelse((x < zero(x)) & !isinteger(y), zero(x) / zero(x), x)^y"
        ),
    ),
    # fmin/fmax skip NaN in NumPy; traced as minimum/maximum they propagate it, which an
    # ODE solver reports rather than integrating on.
    Op(
        "minimum", fn.Minimum, 2, ("minimum", "fmin"), heads=("Minimum",), switch="kink",
        py="minimum", py_fast="minimum", py_numpy="np.minimum", julia="min",
        diffsl="@minimum",
        # The argument that wins gets the derivative, a <= b going to a (as fn.Minimum).
        partials=lambda d, y, a, b: (
            d.select(d.less_equal(a, b)), d.select(d.less_equal(a, b), False)
        ),
    ),
    Op(
        "maximum", fn.Maximum, 2, ("maximum", "fmax"), heads=("Maximum",), switch="kink",
        py="maximum", py_fast="maximum", py_numpy="np.maximum", julia="max",
        diffsl="@maximum",
        partials=lambda d, y, a, b: (
            d.select(d.greater_equal(a, b)), d.select(d.greater_equal(a, b), False)
        ),
    ),
    Op(
        "arctan2", sp.atan2, 2, ("arctan2",), ("atan2",), bind=True, heads=("atan2",),
        py="arctan2", py_fast="math.atan2", py_numpy="np.arctan2", julia="atan",
        partials=lambda d, y, a, b: (
            d.divide(b, d.add(d.multiply(a, a), d.multiply(b, b))),
            d.negative(d.divide(a, d.add(d.multiply(a, a), d.multiply(b, b)))),
        ),
    ),
    Op("hypot", lambda a, b: sp.sqrt(a**2 + b**2), 2, ("hypot",), ("hypot",)),
    Op("greater", sp.Gt, 2, ("greater",), partials=_no_partials),
    Op("greater_equal", sp.Ge, 2, ("greater_equal",), partials=_no_partials),
    Op("less", sp.Lt, 2, ("less",), partials=_no_partials),
    Op("less_equal", sp.Le, 2, ("less_equal",), partials=_no_partials),
    Op("equal", sp.Eq, 2, ("equal",), partials=_no_partials),
    Op("not_equal", sp.Ne, 2, ("not_equal",), partials=_no_partials),
    Op("logical_and", sp.And, 2, ("logical_and", "bitwise_and"), partials=_no_partials),
    Op("logical_or", sp.Or, 2, ("logical_or", "bitwise_or"), partials=_no_partials),
    # -- array functions of three arguments (np.clip, np.where; not ufuncs) ---------------
    Op(
        "clip", fn.Clip, 3, heads=("Clip",), switch="kink",
        py="clip", py_fast="clip", py_numpy="np.clip", julia="clamp", diffsl="@clip",
        partials=lambda d, y, x, lo, hi: (
            d.select(d.logical_or(d.less(x, lo), d.greater(x, hi)), False),
            d.select(d.less(x, lo)),
            d.select(d.logical_and(d.logical_not(d.less(x, lo)), d.greater(x, hi))),
        ),
    ),
    Op(
        "where", lambda c, a, b: sp.Piecewise((a, c), (b, True)), 3, heads=("Piecewise",),
        switch="jump",
        py="where", py_fast="where", py_numpy="np.where", julia="ifelse",
        diffsl="@select",
        partials=lambda d, y, c, a, b: (None, d.select(c), d.select(c, False)),
    ),
)
# fmt: on

#: Rows by name.
OPS: Mapping[str, Op] = {op.name: op for op in ROWS}
#: Rows by the NumPy ufunc name that is traced to them.
UFUNCS: Mapping[str, Op] = {name: op for op in ROWS for name in op.numpy}
#: Rows by the ``math`` function name that is traced to them.
MATH: Mapping[str, Op] = {name: op for op in ROWS for name in op.math}
#: Rows by the SymPy head they print (see ``heads``).
HEADS: Mapping[str, Op] = {head: op for op in ROWS for head in op.heads}


def spellings(column: str) -> dict[str, str]:
    """SymPy head -> spelling in ``column`` ("py", "julia", ...), for the rows that have one.

    Example
    -------
    >>> spellings("py")["atan"], spellings("julia")["atan2"]
    ('arctan', 'atan')
    """
    out: dict[str, str] = {}
    for op in ROWS:
        spelling = getattr(op, column)
        if spelling is not None:
            for head in op.heads:
                out[head] = spelling
    return out


def _check_table() -> None:
    if len(UFUNCS) != sum(len(o.numpy) for o in ROWS) or len(OPS) != len(ROWS):
        raise AssertionError("a name appears in two rows of the operation table")
    for op in ROWS:
        if (op.py is None) != (op.py_fast is None) or (op.py is None) != (op.py_numpy is None):
            raise AssertionError(f"row {op.name}: py, py_fast and py_numpy go together")


_check_table()

__all__ = ["HEADS", "MATH", "OPS", "ROWS", "UFUNCS", "Op", "spellings"]
