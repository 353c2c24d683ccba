"""``SymArray``: the array a traced function receives instead of ``u``, ``p`` and ``t``.

It holds an object ndarray of SymPy expressions and implements NumPy's protocols
(``__array_ufunc__``, ``__array_function__``), so ordinary NumPy-style code runs on it
unchanged and builds expressions. Anything that would need a concrete number (``if x > 0``,
``float(x)``, an unsupported NumPy function) raises ``TraceError`` naming the user's line.

Example
-------
>>> from bridge._trace.tape import Tape
>>> u = SymArray.of_symbols([sp.Symbol("a", real=True), sp.Symbol("b", real=True)], Tape("f"))
>>> x, y = u
>>> (np.exp(x) * y).expr
b*x1
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import sympy as sp
from numpy.lib.mixins import NDArrayOperatorsMixin
from sympy.core.sympify import SympifyError

from .._errors import TraceError
from . import arrayfuncs
from .arrayfuncs import as_objects, scalar
from .ops import ROWS
from .tape import Tape


def _unwrap(value: Any, tape: Tape) -> Any:
    """``value`` with every traced array replaced by its object array (0-d ones, inside
    lists and object arrays, by their expression), ready for ``arrayfuncs``.

    This is where values from the user's code enter the trace, so SymPy objects are refused
    here: bridge prints the expressions it builds into Python and Julia source, and a
    foreign one would be printed verbatim (a crafted name runs as code) or alias a state
    (a user's ``Symbol("u_0")`` reads u[0] but is invisible to the derivatives).
    """
    if isinstance(value, SymArray):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_element(v, tape) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        flat_in, flat_out = value.ravel(), out.ravel()
        for i in range(flat_in.size):
            flat_out[i] = _element(flat_in[i], tape)
        return out
    if isinstance(value, sp.Basic):
        return _foreign(value, tape)
    return value


def _element(value: Any, tape: Tape) -> Any:
    if isinstance(value, SymArray) and value.ndim == 0:
        return value.data[()]
    return _unwrap(value, tape)


def _foreign(value: sp.Basic, tape: Tape) -> sp.Basic:
    """A SymPy object from the user's code: plain numbers pass, anything else is refused."""
    if isinstance(value, (sp.Integer, sp.Float, sp.Rational)) and value.is_finite:
        return value
    if value in (sp.true, sp.false):
        return value
    raise tape.error(
        f"it uses the SymPy object {str(value)[:60]!r} ({type(value).__name__}) in the computation",
        "bridge builds the symbolic model itself and does not accept SymPy objects in a "
        "right-hand side (they would be printed into the generated code as they are): "
        "compute with u, p, t, NumPy functions and plain numbers",
    )


def to_objects(value: Any, tape: Tape) -> np.ndarray:
    """Any array-like (SymArray, ndarray, list of traced scalars, number) as an object array."""
    if isinstance(value, SymArray):
        return value.data
    return as_objects(_unwrap(value, tape), tape)


def to_expr(value: Any, tape: Tape) -> sp.Basic:
    """One element (a 0-d SymArray or a number) as a SymPy object."""
    data = to_objects(value, tape)
    if data.ndim != 0:
        raise tape.error(f"expected a scalar, got a traced array of shape {data.shape}")
    return data[()]


class _SymPyCalled(TraceError, SympifyError):
    """A SymPy operation was given a traced value.

    A ``SympifyError`` too, so that SymPy's binary operators return NotImplemented and
    ``sp.Rational(1, 2) * u`` comes to ``SymArray.__rmul__`` (which accepts SymPy numbers);
    ``sp.exp(u)`` surfaces as this TraceError.
    """

    def __init__(self, message: str) -> None:
        TraceError.__init__(self, message)
        self.expr, self.base_exc = message, None

    def __str__(self) -> str:
        return str(self.args[0])


class SymArray(NDArrayOperatorsMixin):
    """An n-d array of SymPy expressions that NumPy functions accept (see module docstring)."""

    # Beat ndarray in mixed binary operations, so ``W @ u`` and ``2.0 * u`` come to us.
    __array_priority__ = 1000

    def __init__(self, data: np.ndarray, tape: Tape, label: str = "") -> None:
        self.data = data
        self.tape = tape
        #: What the user passed it as ("u", "p", "p['W']"), for messages; "" if derived.
        self.label = label

    @classmethod
    def of_symbols(
        cls, symbols: Sequence[sp.Symbol], tape: Tape, shape: Any = None, label: str = ""
    ) -> SymArray:
        """An array of the given symbols (C order), reshaped to ``shape`` if given."""
        data = np.empty(len(symbols), dtype=object)
        data[:] = list(symbols)
        return cls(data.reshape(shape if shape is not None else (len(symbols),)), tape, label)

    # -- array attributes -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return int(self.data.ndim)

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def expr(self) -> sp.Basic:
        """The SymPy expression of a 0-d array."""
        return to_expr(self, self.tape)

    @property
    def T(self) -> SymArray:
        return SymArray(self.data.T, self.tape)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a traced scalar")
        return self.shape[0]

    def __iter__(self) -> Iterator[SymArray]:
        if self.ndim == 0:
            raise TypeError("iteration over a traced scalar")
        if self.label:  # `x, y = u` with the wrong length: the tracer says which was short
            self.tape.unpacked = (self.label, self.shape[0])
        for i in range(self.shape[0]):
            yield self[i]

    def __getitem__(self, index: Any) -> SymArray:
        if _contains_traced(index):
            raise self.tape.error(
                "indexing with a traced value", "indices must be concrete integers or slices"
            )
        try:
            return SymArray(scalar(self.data[index]), self.tape)
        except IndexError as exc:
            if not self.label:
                raise self.tape.error(
                    f"indexing a traced array of shape {self.shape}: {exc}"
                ) from exc
            what = f"{self.label}[{_index_text(index)}]"
            hint = "Pass p=[...] to ODEProblem" if self.label == "p" and not self.size else ""
            raise self.tape.error(f"it reads {what}, but {self.tape.sizes}", hint) from exc

    def __setitem__(self, index: Any, value: Any) -> None:
        if _contains_traced(index):
            raise self.tape.error(
                "indexing with a traced value", "indices must be concrete integers or slices"
            )
        values = to_objects(value, self.tape)
        # A 0-d object array would be stored as one opaque element: assign its content.
        self.data[index] = values[()] if values.ndim == 0 else values

    def __repr__(self) -> str:
        return f"SymArray({self.data!r})"

    # -- conversions that need a number: refuse, naming the line ---------------------------
    def __bool__(self) -> bool:
        if self.ndim == 0 and self.data[()] in (sp.true, sp.false):
            return bool(self.data[()])
        raise self.tape.error(
            "it branches on a traced value (`if`, `while`, `and`/`or`, min()/max() or a "
            "comparison chain need a concrete True/False, but bridge calls the function "
            "once with symbols)",
            "Write the branch with NumPy: np.maximum/np.minimum/np.clip/np.abs for "
            "continuous ones, np.where(condition, a, b) otherwise; or build the problem "
            "with trace=False. Note: where the solution crosses a np.where switch on u or "
            "p whose branches differ, the reference engine's gradients follow the crossing "
            "as an event and other engines warn that theirs are wrong (docs/events.md)",
        )

    def _sympy_(self) -> sp.Basic:
        raise _SymPyCalled(
            str(
                self.tape.error(
                    "a SymPy function or operation was given a traced value",
                    "Use NumPy functions (np.exp, np.sqrt, ...): bridge builds the symbolic "
                    "model itself and does not accept SymPy in a right-hand side",
                )
            )
        )

    def _needs_number(self, what: str) -> Exception:
        return self.tape.error(
            f"{what} needs a concrete number, but the value is traced",
            "Use NumPy functions (np.exp, np.sqrt, ...) on traced values, and build outputs "
            "with a list, np.array([...]) or np.zeros_like(u) rather than writing into a "
            "float array",
        )

    def __float__(self) -> float:
        raise self._needs_number("float()/math.* (or writing into a float array)")

    def __int__(self) -> int:
        raise self._needs_number("int()")

    def __index__(self) -> int:
        raise self._needs_number("using a traced value as an index")

    def __complex__(self) -> complex:
        raise self._needs_number("complex()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # An object array of 0-d SymArrays: np.array([x, y]) then still builds expressions.
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise self._needs_number(f"conversion to a {np.dtype(dtype)} array")
        out = np.empty(self.shape, dtype=object)
        for idx in np.ndindex(*self.shape):
            out[idx] = SymArray(scalar(self.data[idx]), self.tape)
        return out

    # -- NumPy protocols --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        tape = self.tape
        args = [_unwrap(x, tape) for x in inputs]
        kw = {k: _unwrap(v, tape) for k, v in kwargs.items()}
        return SymArray(arrayfuncs.apply_ufunc(tape, ufunc, method, args, kw), tape)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        tape = self.tape
        result = arrayfuncs.apply_function(
            tape, func, _unwrap(args, tape), {k: _unwrap(v, tape) for k, v in kwargs.items()}
        )
        if isinstance(result, np.ndarray):
            return SymArray(result, tape)
        if isinstance(result, list) and result and isinstance(result[0], np.ndarray):
            return [SymArray(r, tape) for r in result]
        return result

    # Operators (+, @, <, & ...) come from NDArrayOperatorsMixin: each calls its ufunc, which
    # reaches __array_ufunc__ above. ``&``, ``|`` and ``~`` are NumPy's bitwise_and/or and
    # invert, traced as logical and/or/not (ops.py).
    # In-place operators build a new traced value and rebind the name (``x += y`` is
    # ``x = x + y``): the mixin's in-place forms would write into the traced array.
    __iadd__ = NDArrayOperatorsMixin.__add__
    __isub__ = NDArrayOperatorsMixin.__sub__
    __imul__ = NDArrayOperatorsMixin.__mul__
    __itruediv__ = NDArrayOperatorsMixin.__truediv__
    __ipow__ = NDArrayOperatorsMixin.__pow__
    __imatmul__ = NDArrayOperatorsMixin.__matmul__
    __iand__ = NDArrayOperatorsMixin.__and__
    __ior__ = NDArrayOperatorsMixin.__or__
    __hash__ = None  # type: ignore[assignment]

    # -- ndarray methods users call ------------------------------------------------------------
    def reshape(self, *shape: Any, order: str = "C") -> SymArray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return SymArray(self.data.reshape(shape, order=order), self.tape)  # type: ignore[call-overload]

    def ravel(self) -> SymArray:
        return SymArray(self.data.ravel(), self.tape)

    def flatten(self) -> SymArray:
        return SymArray(self.data.flatten(), self.tape)

    def copy(self) -> SymArray:
        return SymArray(self.data.copy(), self.tape)

    def astype(self, dtype: Any = None, **kwargs: Any) -> SymArray:
        return self  # the dtype of traced values is decided at evaluation time

    def transpose(self, *axes: Any) -> SymArray:
        return SymArray(self.data.transpose(*axes), self.tape)

    def tolist(self) -> Any:
        return [x.tolist() if x.ndim else x for x in self] if self.ndim else self

    def sum(self, axis: Any = None, **kwargs: Any) -> Any:
        return np.sum(self, axis=axis, **kwargs)

    def mean(self, axis: Any = None, **kwargs: Any) -> Any:
        return np.mean(self, axis=axis, **kwargs)

    def prod(self, axis: Any = None, **kwargs: Any) -> Any:
        return np.prod(self, axis=axis, **kwargs)

    def dot(self, other: Any) -> Any:
        return np.dot(self, other)

    def clip(self, lo: Any = None, hi: Any = None) -> Any:
        return np.clip(self, lo, hi)


def _index_text(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if isinstance(part, slice):
            text = ":".join("" if v is None else str(v) for v in (part.start, part.stop))
            out.append(text + (f":{part.step}" if part.step is not None else ""))
        else:
            out.append(repr(part))
    return ", ".join(out)


def _contains_traced(index: Any) -> bool:
    if isinstance(index, SymArray):
        return True
    if isinstance(index, tuple):
        return any(isinstance(i, SymArray) for i in index)
    return False


def _ufunc_method(name: str) -> Callable[[SymArray], Any]:
    def method(self: SymArray) -> Any:
        return getattr(np, name)(self)

    method.__name__ = name
    return method


# NumPy's object-dtype loops call ``element.<ufunc name>()``: with these, np.tanh works on an
# object array of traced scalars such as ``np.array([x, y])``.
for _name in [name for op in ROWS if op.arity == 1 for name in op.numpy]:
    if not hasattr(SymArray, _name):
        setattr(SymArray, _name, _ufunc_method(_name))
