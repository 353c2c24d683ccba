"""NumPy ufuncs and array functions applied to traced arrays.

Elementwise operations map SymPy functions over object arrays. Sums and matrix products are
built as one flat ``Add`` per element (NumPy's object loops would add pairwise, which is
quadratic in SymPy) and each result element is named on the tape. Shape-only functions
(stack, reshape, concatenate, ...) run NumPy itself on the object arrays. Everything else is
refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from . import functions as fn
from .symarray import (
    _BINARY,
    _CHEAP_UNARY,
    _NAMED_UNARY,
    SymArray,
    _objects,
    to_expr,
    to_objects,
)
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


def _is_sum(expr: sp.Basic) -> bool:
    return isinstance(expr, sp.Add)


def _bind_sum(tape: Tape, expr: sp.Basic) -> sp.Basic:
    return tape.bind(expr) if _is_sum(expr) else expr


def _wrap(tape: Tape, result: Any) -> Any:
    if isinstance(result, np.ndarray):
        return SymArray(to_objects(result, tape), tape)
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], np.ndarray):
        return [SymArray(to_objects(r, tape), tape) for r in result]
    if isinstance(result, sp.Basic):
        return SymArray(_objects(result), tape)
    return result


def _unwrap(value: Any) -> Any:
    """Replace traced arrays (also inside a list/tuple of arrays) by their object arrays."""
    if isinstance(value, SymArray):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    return value


def apply_ufunc(tape: Tape, ufunc: np.ufunc, method: str, inputs: Any, kwargs: Any) -> Any:
    """``ufunc(*inputs)`` on traced values (see ``SymArray.__array_ufunc__``)."""
    name = ufunc.__name__
    tape.note_operands(inputs)
    if kwargs.get("out") is not None:
        raise tape.error(f"np.{name}(..., out=...) writes into an array in place")
    if method == "reduce" and name == "add":
        return sum_(tape, inputs[0], kwargs.get("axis", 0))
    if method != "__call__":
        raise tape.error(f"np.{name}.{method} is not supported in traced code")
    if name == "matmul":
        return SymArray(_matmul(tape, *(to_objects(x, tape) for x in inputs)), tape)
    arrays = [to_objects(x, tape) for x in inputs]
    try:
        if name in _NAMED_UNARY:
            f = _NAMED_UNARY[name]
            result = np.frompyfunc(lambda a: tape.bind(f(a)), 1, 1)(arrays[0])
        elif name in _CHEAP_UNARY:
            result = np.frompyfunc(_CHEAP_UNARY[name], 1, 1)(arrays[0])
        elif name in _BINARY:
            result = np.frompyfunc(_BINARY[name], 2, 1)(*arrays)
        else:
            raise tape.error(
                f"np.{name} is not supported in traced code",
                "Supported ufuncs: " + ", ".join(sorted([*_NAMED_UNARY, *_CHEAP_UNARY, *_BINARY])),
            )
    except (TypeError, ValueError, AttributeError) as exc:
        raise tape.error(f"np.{name} failed on traced values: {exc}") from exc
    return SymArray(_objects(result), tape)


def apply_function(tape: Tape, func: Any, args: Any, kwargs: Any) -> Any:
    """A NumPy array function on traced values (see ``SymArray.__array_function__``)."""
    name = func.__name__
    tape.note_operands(args)
    special = _SPECIAL.get(name)
    numpy_core = func.__module__.startswith("numpy") and "linalg" not in func.__module__
    if special is not None and numpy_core:
        return special(tape, *args, **kwargs)
    if name in _STRUCTURAL and "linalg" not in func.__module__:
        try:
            result = func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        except (TypeError, ValueError, IndexError) as exc:
            raise tape.error(f"np.{name} failed on traced values: {exc}") from exc
        return _wrap(tape, result)
    module = func.__module__.replace("numpy._core", "numpy").replace("numpy.core", "numpy")
    qualified = f"{module.replace('numpy', 'np', 1)}.{name}"
    raise tape.error(
        f"{qualified} is not supported in traced code",
        "Write it with supported operations (arithmetic, np.exp/np.tanh/..., @, sum, "
        "stack, where), or build the problem with trace=False",
    )


def sum_(tape: Tape, a: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    """``np.sum`` as one flat Add per result element (each named on the tape)."""
    data = to_objects(a, tape)
    if kw.get("out") is not None or kw.get("where") is not None:
        raise tape.error("np.sum with out= or where= is not supported in traced code")
    if axis is None:
        result = _objects(_bind_sum(tape, sp.Add(*data.ravel())))
        if keepdims:
            result = result.reshape((1,) * data.ndim)
        return SymArray(result, tape)
    if not isinstance(axis, (int, np.integer)):
        raise tape.error(f"np.sum(axis={axis!r}) is not supported: use an int axis or None")
    moved = np.moveaxis(data, int(axis), -1)
    result = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(*result.shape):
        result[idx] = _bind_sum(tape, sp.Add(*moved[idx]))
    if keepdims:
        result = np.expand_dims(result, int(axis))
    return SymArray(result, tape)


def _mean(tape: Tape, a: Any, axis: Any = None, **kw: Any) -> Any:
    data = to_objects(a, tape)
    count = data.size if axis is None else data.shape[int(axis)]
    return sum_(tape, data, axis, **kw) * sp.Rational(1, count)


def _prod(tape: Tape, a: Any, axis: Any = None, **kw: Any) -> Any:
    data = to_objects(a, tape)
    if axis is None:
        return SymArray(_objects(sp.Mul(*data.ravel())), tape)
    moved = np.moveaxis(data, int(axis), -1)
    result = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(*result.shape):
        result[idx] = sp.Mul(*moved[idx])
    return SymArray(result, tape)


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
    return _objects(out)


def _dot(tape: Tape, a: Any, b: Any, out: Any = None) -> Any:
    x, y = to_objects(a, tape), to_objects(b, tape)
    if x.ndim == 0 or y.ndim == 0:
        return np.multiply(SymArray(x, tape), SymArray(y, tape))
    return SymArray(_matmul(tape, x, y), tape)


def _condition(c: sp.Basic) -> sp.Basic:
    if isinstance(c, sp.logic.boolalg.Boolean):
        return c
    return sp.Ne(c, 0)


def _where(tape: Tape, cond: Any, a: Any = None, b: Any = None) -> Any:
    if a is None or b is None:
        raise tape.error("np.where(condition) without values is not supported in traced code")
    pick = np.frompyfunc(lambda c, x, y: sp.Piecewise((x, _condition(c)), (y, True)), 3, 1)
    arrays = [to_objects(v, tape) for v in (cond, a, b)]
    return SymArray(_objects(pick(*arrays)), tape)


def _clip(tape: Tape, a: Any, a_min: Any = None, a_max: Any = None, **kw: Any) -> Any:
    x = to_objects(a, tape)
    if a_min is None and a_max is None:
        raise tape.error("np.clip needs at least one of a_min, a_max")
    if a_max is None:
        result = np.frompyfunc(fn.Maximum, 2, 1)(x, to_objects(a_min, tape))
    elif a_min is None:
        result = np.frompyfunc(fn.Minimum, 2, 1)(x, to_objects(a_max, tape))
    else:
        lo, hi = to_objects(a_min, tape), to_objects(a_max, tape)
        result = np.frompyfunc(fn.Clip, 3, 1)(x, lo, hi)
    return SymArray(_objects(result), tape)


_SPECIAL: dict[str, Any] = {
    "sum": sum_,
    "mean": _mean,
    "prod": _prod,
    "dot": _dot,
    "where": _where,
    "clip": _clip,
}

__all__ = ["apply_function", "apply_ufunc", "sum_", "to_expr"]
