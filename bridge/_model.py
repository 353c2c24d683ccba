"""What a backend needs from a right-hand side: the ``Model`` protocol.

A model is produced by tracing a Python function (``bridge._trace``), or wraps an opaque
callable (``trace=False``). Backends only ever talk to this protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ._errors import BridgeTypeError, BridgeValueError, GradientUnavailableError

FloatArray = NDArray[np.float64]

#: How parameters are laid out: ``None`` for a flat vector, else an ordered mapping of
#: name -> shape; the flat vector is the concatenation of the C-order ravel of each entry.
ParamSpec = Mapping[str, tuple[int, ...]] | None


@runtime_checkable
class Model(Protocol):
    """A right-hand side ``du/dt = f(u, p, t)`` with known sizes and (maybe) derivatives."""

    name: str
    n_states: int
    n_params: int
    has_derivatives: bool

    def f(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """du/dt as a float64 array of shape (n_states,)."""
        ...

    def jac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """State Jacobian df/du, shape (n_states, n_states)."""
        ...

    def paramjac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """Parameter Jacobian df/dp, shape (n_states, n_params)."""
        ...

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """v^T df/du, shape (n_states,)."""
        ...

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """v^T df/dp, shape (n_params,)."""
        ...


def function_label(func: Any, name: str | None, default: str) -> str:
    """The name messages and generated code use for ``func``: ``name`` if given, else its
    ``__name__`` (a lambda's ``"<lambda>"`` becomes ``default``).

    Example
    -------
    >>> function_label(lambda u: u, None, "rhs"), function_label(len, "n", "rhs")
    ('rhs', 'n')
    """
    label = name or getattr(func, "__name__", None) or default
    return default if label == "<lambda>" else label


def unflatten_params(p: FloatArray, spec: ParamSpec) -> Any:
    """Turn a flat parameter vector back into the user's layout (views, not copies).

    Example
    -------
    >>> unflatten_params(np.arange(3.0), {"a": (1,), "b": (2,)})["b"]
    array([1., 2.])
    """
    if spec is None:
        return p
    out: dict[str, FloatArray] = {}
    start = 0
    for key, shape in spec.items():
        size = math.prod(shape)  # not np.prod: this runs on every RHS call
        out[key] = p[start : start + size].reshape(shape)
        start += size
    return out


def rhs_output(out: Any, name: str, n_states: int, u: Any = None) -> FloatArray:
    """Check what a user's right-hand side returned; return it as a fresh (n,) float64 array.

    A fresh float64 array of the right shape (the usual result of NumPy arithmetic) is
    returned as is; anything else is converted once, or refused with a message naming the
    function and the sizes.

    Example
    -------
    >>> rhs_output([1, 2], "f", 2)
    array([1., 2.])
    """
    if (
        type(out) is np.ndarray
        and out.dtype == np.float64
        and out.shape == (n_states,)
        and out.base is None  # not a view of u or p, which the solver may still change
        and out is not u
    ):
        return out
    if out is None:
        raise BridgeTypeError(
            f"right-hand side {name!r} returned None; it must return du/dt "
            f"(a list, tuple or array of {n_states} numbers)"
        )
    if np.iscomplexobj(out):
        raise BridgeTypeError(
            f"right-hand side {name!r} returned complex values; bridge solves "
            "real ODEs: split real and imaginary parts into separate states"
        )
    try:
        arr = np.array(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BridgeTypeError(
            f"right-hand side {name!r} returned {type(out).__name__} "
            f"that is not a numeric array: {exc}"
        ) from exc
    if arr.shape != (n_states,):
        raise BridgeValueError(
            f"right-hand side {name!r} returned shape {arr.shape}, "
            f"but u0 has {n_states} states: expected ({n_states},)"
        )
    return arr


class ParamUnflattener:
    """``unflatten_params`` for one layout, with a one-entry cache on the identity of ``p``.

    Solvers pass the same ``p`` array to every right-hand-side call of a solve, so the views
    are built once per solve rather than once per call (rebuilding them cost more than the
    user's whole MLP right-hand side). The views alias ``p``, so in-place changes show through.

    Example
    -------
    >>> unflatten = ParamUnflattener({"a": (2,)})
    >>> p = np.arange(2.0)
    >>> unflatten(p) is unflatten(p)
    True
    """

    def __init__(self, spec: ParamSpec) -> None:
        self.spec = spec
        self._cache: tuple[Any, Any] = (None, None)

    def __call__(self, p: FloatArray) -> Any:
        if self.spec is None:
            return p
        last_p, views = self._cache
        if last_p is p:
            return views
        views = unflatten_params(p, self.spec)
        self._cache = (p, views)  # one assignment: safe when threads race
        return views


class OpaqueModel:
    """A user's callable used as is (``trace=False``): no derivatives, called per step.

    Example
    -------
    >>> m = OpaqueModel(lambda u, p, t: -p[0] * u, n_states=1, n_params=1)
    >>> m.f(np.array([2.0]), np.array([0.5]), 0.0)
    array([-1.])
    """

    has_derivatives = False

    def __init__(
        self,
        func: Callable[..., Any],
        n_states: int,
        n_params: int,
        param_spec: ParamSpec = None,
        name: str | None = None,
    ) -> None:
        self.func = func
        self.n_states = n_states
        self.n_params = n_params
        self.param_spec = param_spec
        self._unflatten = ParamUnflattener(param_spec)
        self.name: str = name or str(getattr(func, "__name__", "rhs"))

    def f(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        return rhs_output(self.func(u, self._unflatten(p), t), self.name, self.n_states, u)

    def _no_grad(self, what: str) -> GradientUnavailableError:
        return GradientUnavailableError(
            f"{what} of {self.name!r} is not available: the problem was built with "
            "trace=False, so bridge has no derivatives of the right-hand side. "
            "Build it with trace=True (the default) to get gradients."
        )

    def jac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        raise self._no_grad("the Jacobian")

    def paramjac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        raise self._no_grad("the parameter Jacobian")

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        raise self._no_grad("the state VJP")

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        raise self._no_grad("the parameter VJP")
