"""``HandModel``: a Model from hand-written f, Jacobian and parameter Jacobian.

For tests of the reference backend that must not depend on tracing (the conformance
suite's matrix-exponential problems, the driver's unit tests); the VJPs are the transposed
Jacobians applied to v. A test helper, so it lives under tests/ and is not installed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bridge._model import FloatArray

Fn = Callable[[FloatArray, FloatArray, float], FloatArray]


class HandModel:
    """A Model built from ``f``, ``jac`` (n×n) and ``paramjac`` (n×m) callables.

    Example
    -------
    >>> m = HandModel(lambda u, p, t: -p[0] * u, lambda u, p, t: np.array([[-p[0]]]),
    ...               lambda u, p, t: np.array([[-u[0]]]), n_states=1, n_params=1)
    >>> m.vjp_p(np.array([2.0]), np.array([3.0]), np.array([0.5]), 0.0)
    array([-6.])
    """

    has_derivatives = True

    def __init__(
        self, f: Fn, jac: Fn, paramjac: Fn, *, n_states: int, n_params: int, name: str = "hand"
    ) -> None:
        self.f = f
        self.jac = jac
        self.paramjac = paramjac
        self.n_states = n_states
        self.n_params = n_params
        self.name = name

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = v @ self.jac(u, p, t)
        return out

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        if self.n_params == 0:
            return np.zeros(0)
        out: FloatArray = v @ self.paramjac(u, p, t)
        return out


def decay() -> HandModel:
    """u' = -p u.

    Example
    -------
    >>> decay().f(np.array([1.0]), np.array([2.0]), 0.0)
    array([-2.])
    """
    return HandModel(
        lambda u, p, t: -p[0] * u,
        lambda u, p, t: np.array([[-p[0]]]),
        lambda u, p, t: np.array([[-u[0]]]),
        n_states=1,
        n_params=1,
        name="decay",
    )
