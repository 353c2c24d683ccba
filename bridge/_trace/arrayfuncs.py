"""NumPy ufuncs and array functions on object arrays of SymPy expressions.

Everything here works on plain object ndarrays (what a ``SymArray`` holds) and returns
them; ``symarray.py`` unwraps traced arrays before calling in and wraps the results, so
this module does not know the traced type (and the two do not import each other).

Elementwise operations map the constructors of the operation table (``ops.py``) over
object arrays. Sums and matrix products are built as one flat ``Add`` per element (NumPy's
object loops would add pairwise, which is quadratic in SymPy) and each result element is
named on the tape. Shape-only functions (stack, reshape, concatenate, ...) run NumPy itself
on the object arrays. Everything else is refused by name.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean

from .ops import OPS, UFUNCS
from .switches import may_jump
from .tape import Tape

# Functions that only move elements around (or combine them with + - *), so NumPy's own
# implementation on object arrays of SymPy expressions is correct.
_STRUCTURAL = {
    "reshape", "ravel", "transpose", "stack", "hstack", "vstack", "dstack", "concatenate",
    "column_stack", "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d",
    "flip", "fliplr", "flipud", "roll", "diag", "diagonal", "take", "repeat", "tile",
    "append", "zeros_like", "ones_like", "full_like", "empty_like", "copy", "moveaxis",
    "swapaxes", "broadcast_to", "outer", "diff", "cumsum", "trace", "split", "array_split",
    "cross", "shape", "ndim", "size", "triu", "tril", "block", "asarray", "array",
}  # fmt: skip


def constant(value: Any, tape: Tape) -> sp.Basic:
    """A number (or an expression already in an object array) as a SymPy object.

    Example
    -------
    >>> constant(2, Tape("f")), constant(0.5, Tape("f")), constant(True, Tape("f"))
    (2, 0.500000000000000, True)
    """
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (bool, np.bool_)):
        return sp.true if value else sp.false
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise tape.error(
                f"the constant {float(value)!r} is not finite",
                "NaN and infinite constants cannot be compiled into the model; "
                "use a large finite number, or np.clip(x, lo, None) for a one-sided bound",
            )
        return sp.Float(float(value))
    if isinstance(value, (complex, np.complexfloating)):
        raise tape.error(f"the complex constant {value!r} is not supported (real models only)")
    raise tape.error(f"cannot use a {type(value).__name__} ({value!r}) in a traced expression")


def as_objects(value: Any, tape: Tape) -> np.ndarray:
    """An array-like of numbers and expressions as an object array of SymPy objects."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        flat = value.ravel()
        if all(isinstance(x, sp.Basic) for x in flat):
            return value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise tape.error(f"cannot make an array from {type(value).__name__}: {exc}") from exc
    if arr.dtype.kind not in "biufO":
        raise tape.error(f"arrays of dtype {arr.dtype} are not supported in traced code")
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.ravel(), out.ravel()  # out is fresh, so ravel() is a view
    for i in range(flat_in.size):
        flat_out[i] = constant(flat_in[i], tape)
    return out


def scalar(expr: Any) -> np.ndarray:
    """A 0-d object array from an elementwise result (frompyfunc returns bare 0-d scalars)."""
    if isinstance(expr, np.ndarray):
        return expr
    out = np.empty((), dtype=object)
    out[()] = expr
    return out


def _bind_sum(tape: Tape, expr: sp.Basic) -> sp.Basic:
    return tape.bind(expr) if isinstance(expr, sp.Add) else expr


def _as_result(tape: Tape, result: Any) -> Any:
    if isinstance(result, np.ndarray):
        return as_objects(result, tape)
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], np.ndarray):
        return [as_objects(r, tape) for r in result]
    if isinstance(result, sp.Basic):
        return scalar(result)
    return result


def apply_ufunc(tape: Tape, ufunc: np.ufunc, method: str, inputs: Any, kwargs: Any) -> np.ndarray:
    """``ufunc(*inputs)`` on unwrapped traced values; an object array."""
    name = ufunc.__name__
    tape.note_operands(inputs)
    if kwargs.get("out") is not None:
        raise tape.error(f"np.{name}(..., out=...) writes into an array in place")
    if method == "reduce" and name == "add":
        return sum_(tape, inputs[0], kwargs.get("axis", 0))
    if method != "__call__":
        raise tape.error(f"np.{name}.{method} is not supported in traced code")
    arrays = [as_objects(x, tape) for x in inputs]
    op = UFUNCS.get(name)
    if op is None or op.name not in _LOGICAL:
        arrays = [_numeric(tape, a) for a in arrays]
    if name == "matmul":
        return _matmul(tape, *arrays)
    if op is None:
        raise tape.error(
            f"{_ufunc_name(ufunc)} is not supported in traced code",
            "Supported ufuncs: " + ", ".join(sorted(UFUNCS)),
        )
    if op.name == "power":
        _check_power(tape, *arrays)
    if op.switch is not None:
        _note_switch(tape, f"np.{name}", arrays)
    try:
        if op.bind:
            build = op.sympy
            result = np.frompyfunc(lambda *a: tape.bind(build(*a)), op.arity, 1)(*arrays)
        else:
            result = np.frompyfunc(op.sympy, op.arity, 1)(*arrays)
    except (TypeError, ValueError, AttributeError) as exc:
        raise tape.error(f"np.{name} failed on traced values: {exc}") from exc
    return scalar(result)


#: Operations whose operands stay conditions; every other one reads True/False as 1/0.
_LOGICAL = frozenset({"logical_and", "logical_or", "logical_not"})


def _is_condition(e: Any) -> bool:
    # A SymPy Symbol is a Boolean too (it may stand for one): only non-expressions count.
    return isinstance(e, Boolean) and not isinstance(e, sp.Expr)


def _numeric(tape: Tape, arr: np.ndarray) -> np.ndarray:
    """Conditions used as numbers, as NumPy reads booleans: ``u * True`` is ``u``, and
    ``(x > 0) * x`` is ``where(x > 0, 1, 0) * x`` (recorded as a switch that jumps)."""
    found = [e for e in arr.ravel() if _is_condition(e)]
    if not found:
        return arr
    varying = [e for e in found if e not in (sp.true, sp.false)]
    if varying:
        tape.note_switch("a comparison used as a number", varying, True)

    def number(e: Any) -> Any:
        if e is sp.true:
            return sp.S.One
        if e is sp.false:
            return sp.S.Zero
        if _is_condition(e):
            return OPS["where"].sympy(e, sp.S.One, sp.S.Zero)
        return e

    out = np.frompyfunc(number, 1, 1)(arr)
    return out if isinstance(out, np.ndarray) else scalar(out)


def _ufunc_name(ufunc: np.ufunc) -> str:
    """How the user wrote it: ``np.gamma`` is not ``scipy.special.gamma``."""
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return f"np.{name}"
    for module in ("scipy.special", "scipy.special._ufuncs"):
        found = sys.modules.get(module)
        if found is not None and getattr(found, name, None) is ufunc:
            return f"scipy.special.{name}"
    return f"the ufunc {name}"


def _check_power(tape: Tape, base: np.ndarray, exp: np.ndarray) -> None:
    """Refuse a constant base <= 0 to a traced power: the math, not the printer, fails."""
    for b, e in zip(*(a.ravel() for a in np.broadcast_arrays(base, exp)), strict=True):
        if not (b.is_Number and e.free_symbols):
            continue
        shown = _number(b)
        if b.is_negative:
            raise tape.error(
                f"({shown}) ** ({e}) raises a negative number to a power that depends on the "
                "state, parameters or time: it is not real unless the power is an integer "
                "(NumPy gives NaN), and its derivative needs log of a negative number",
                f"Write it as -({_number(-b)} ** ...) or with a sign you choose, e.g. "
                f"(-1.0) ** k * {_number(-b)} ** x for a fixed integer k",
            )
        if b.is_zero:
            raise tape.error(
                f"{shown} ** ({e}) raises zero to a power that depends on the state, parameters "
                "or time: it is 0 or inf depending on the sign of the power and has no "
                "derivative with respect to it (log 0)",
                "Write the value it takes explicitly, e.g. 0.0 where the power is positive",
            )


def _number(value: sp.Basic) -> str:
    return repr(float(value)) if isinstance(value, sp.Float) else str(value)


def _note_switch(tape: Tape, kind: str, arrays: list[np.ndarray]) -> None:
    """Record a kink: the sign of the argument (abs, sign) or of the difference of the
    arguments (minimum, maximum, clip) decides the branch."""
    first, *others = np.broadcast_arrays(*arrays)
    if not others:
        conditions = list(first.ravel())
    else:
        conditions = [a - b for o in others for a, b in zip(first.ravel(), o.ravel(), strict=True)]
    tape.note_switch(kind, conditions, jumps=kind == "np.sign")


def apply_function(tape: Tape, func: Any, args: Any, kwargs: Any) -> Any:
    """A NumPy array function on unwrapped traced values; object arrays (or what NumPy
    returns for shape queries)."""
    name = func.__name__
    tape.note_operands(args)
    special = _SPECIAL.get(name)
    numpy_core = func.__module__.startswith("numpy") and "linalg" not in func.__module__
    if special is not None and numpy_core:
        return special(tape, *args, **kwargs)
    if name in _STRUCTURAL and "linalg" not in func.__module__:
        try:
            result = func(*args, **kwargs)
        except (TypeError, ValueError, IndexError) as exc:
            raise tape.error(f"np.{name} failed on traced values: {exc}") from exc
        return _as_result(tape, result)
    module = func.__module__.replace("numpy._core", "numpy").replace("numpy.core", "numpy")
    qualified = f"{module.replace('numpy', 'np', 1)}.{name}"
    raise tape.error(
        f"{qualified} is not supported in traced code",
        "Write it with supported operations (arithmetic, np.exp/np.tanh/..., @, sum, "
        "stack, where), or build the problem with trace=False",
    )


def sum_(tape: Tape, a: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> np.ndarray:
    """``np.sum`` as one flat Add per result element (each named on the tape)."""
    data = as_objects(a, tape)
    if kw.get("out") is not None or kw.get("where") is not None:
        raise tape.error("np.sum with out= or where= is not supported in traced code")
    if axis is None:
        result = scalar(_bind_sum(tape, sp.Add(*data.ravel())))
        if keepdims:
            result = result.reshape((1,) * data.ndim)
        return result
    if not isinstance(axis, (int, np.integer)):
        raise tape.error(f"np.sum(axis={axis!r}) is not supported: use an int axis or None")
    moved = np.moveaxis(data, int(axis), -1)
    result = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(*result.shape):
        result[idx] = _bind_sum(tape, sp.Add(*moved[idx]))
    if keepdims:
        result = np.expand_dims(result, int(axis))
    return result


def _mean(tape: Tape, a: Any, axis: Any = None, **kw: Any) -> np.ndarray:
    data = as_objects(a, tape)
    count = data.size if axis is None else data.shape[int(axis)]
    scale = sp.Rational(1, count)
    return scalar(np.frompyfunc(lambda x: x * scale, 1, 1)(sum_(tape, data, axis, **kw)))


def _prod(tape: Tape, a: Any, axis: Any = None, **kw: Any) -> np.ndarray:
    data = as_objects(a, tape)
    if axis is None:
        return scalar(sp.Mul(*data.ravel()))
    moved = np.moveaxis(data, int(axis), -1)
    result = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(*result.shape):
        result[idx] = sp.Mul(*moved[idx])
    return result


def _matmul(tape: Tape, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim == 0 or b.ndim == 0 or a.ndim > 2 or b.ndim > 2:
        raise tape.error(
            f"matrix product of shapes {a.shape} and {b.shape} is not supported "
            "(only 1-d and 2-d operands)"
        )
    a2 = a if a.ndim == 2 else a[None, :]
    b2 = b if b.ndim == 2 else b[:, None]
    if a2.shape[1] != b2.shape[0]:
        raise tape.error(f"matrix product of shapes {a.shape} and {b.shape}: sizes differ")
    out = np.empty((a2.shape[0], b2.shape[1]), dtype=object)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _bind_sum(
                tape, sp.Add(*[x * y for x, y in zip(a2[i], b2[:, j], strict=True)])
            )
    if a.ndim == 1:
        out = out[0]
    if b.ndim == 1:
        out = out[..., 0]
    return scalar(out)


def _dot(tape: Tape, a: Any, b: Any, out: Any = None) -> np.ndarray:
    x, y = as_objects(a, tape), as_objects(b, tape)
    if x.ndim == 0 or y.ndim == 0:
        return scalar(np.frompyfunc(OPS["multiply"].sympy, 2, 1)(x, y))
    return _matmul(tape, x, y)


def _condition(c: sp.Basic) -> sp.Basic:
    if isinstance(c, sp.logic.boolalg.Boolean):
        return c
    return sp.Ne(c, 0)


def _where(tape: Tape, cond: Any, a: Any = None, b: Any = None) -> np.ndarray:
    if a is None or b is None:
        raise tape.error("np.where(condition) without values is not supported in traced code")
    build = OPS["where"].sympy
    pick = np.frompyfunc(lambda c, x, y: build(_condition(c), x, y), 3, 1)
    arrays = [as_objects(v, tape) for v in (cond, a, b)]
    c, x, y = (v.ravel() for v in np.broadcast_arrays(*arrays))
    conditions = [_condition(ci) for ci in c]
    jumps = any(may_jump(ci, xi, yi) for ci, xi, yi in zip(conditions, x, y, strict=True))
    tape.note_switch("np.where", conditions, jumps)
    return scalar(pick(*arrays))


def _clip(tape: Tape, a: Any, a_min: Any = None, a_max: Any = None, **kw: Any) -> np.ndarray:
    x = as_objects(a, tape)
    if a_min is None and a_max is None:
        raise tape.error("np.clip needs at least one of a_min, a_max")
    bounds = [as_objects(v, tape) for v in (a_min, a_max) if v is not None]
    _note_switch(tape, "np.clip", [x, *bounds])
    if a_max is None:
        result = np.frompyfunc(OPS["maximum"].sympy, 2, 1)(x, as_objects(a_min, tape))
    elif a_min is None:
        result = np.frompyfunc(OPS["minimum"].sympy, 2, 1)(x, as_objects(a_max, tape))
    else:
        lo, hi = as_objects(a_min, tape), as_objects(a_max, tape)
        result = np.frompyfunc(OPS["clip"].sympy, 3, 1)(x, lo, hi)
    return scalar(result)


_SPECIAL: dict[str, Any] = {
    "sum": sum_,
    "mean": _mean,
    "prod": _prod,
    "dot": _dot,
    "where": _where,
    "clip": _clip,
}

__all__ = ["apply_function", "apply_ufunc", "as_objects", "constant", "scalar", "sum_"]
