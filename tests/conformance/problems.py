"""Test problems for the conformance suite: a traceable f plus hand-written derivatives.

Problems go through ``bridge.ODEProblem(f, ...)``, so they are traced once tracing exists.
Until then (or if ``bridge._trace`` has no ``trace_model``) the hand-written model is
attached instead, which the reference backend runs but the Julia backend cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import bridge
from tests.handmodel import HandModel
from tests.models import lotka_volterra as lotka_volterra_f
from tests.models import robertson as robertson_f


def _tracing_available() -> bool:
    try:
        from bridge._trace import trace_model  # noqa: F401
    except ImportError:
        return False
    return True


TRACING = _tracing_available()


@dataclass(frozen=True)
class Spec:
    name: str
    f: Callable[..., Any]
    jac: Callable[..., Any]
    paramjac: Callable[..., Any]
    u0: tuple[float, ...]
    p: tuple[float, ...]
    tspan: tuple[float, float]

    def problem(self, backend: str = "reference", **changes: Any) -> bridge.ODEProblem:
        """An ODEProblem for this spec (``u0``, ``p``, ``tspan`` may be overridden)."""
        u0 = changes.get("u0", self.u0)
        p = changes.get("p", self.p)
        tspan = changes.get("tspan", self.tspan)
        prob = bridge.ODEProblem(self.f, list(u0), tuple(tspan), list(p), name=self.name)
        if not TRACING:
            if backend != "reference":
                pytest.skip("the Julia backend needs traced models (bridge._trace)")
            prob._model = HandModel(
                self.f,
                self.jac,
                self.paramjac,
                n_states=len(u0),
                n_params=len(p),
                name=self.name,
            )
        return prob


# --- exponential decay: u' = -k u ------------------------------------------------------
def decay_f(u, p, t):
    return -p[0] * u


DECAY = Spec(
    "decay",
    decay_f,
    lambda u, p, t: np.array([[-p[0]]]),
    lambda u, p, t: np.array([[-u[0]]]),
    (2.0,),
    (0.7,),
    (0.0, 3.0),
)


# --- linear 2x2: u' = A u, A = p.reshape(2, 2) ----------------------------------------
def linear_f(u, p, t):
    return [p[0] * u[0] + p[1] * u[1], p[2] * u[0] + p[3] * u[1]]


LINEAR = Spec(
    "linear2",
    linear_f,
    lambda u, p, t: np.array([[p[0], p[1]], [p[2], p[3]]]),
    lambda u, p, t: np.array([[u[0], u[1], 0.0, 0.0], [0.0, 0.0, u[0], u[1]]]),
    (1.0, -0.5),
    (-0.5, 1.2, -0.8, -0.3),
    (0.0, 2.0),
)


# --- harmonic oscillator: x'' = -w^2 x ------------------------------------------------
def oscillator_f(u, p, t):
    return [u[1], -(p[0] ** 2) * u[0]]


OSCILLATOR = Spec(
    "oscillator",
    oscillator_f,
    lambda u, p, t: np.array([[0.0, 1.0], [-(p[0] ** 2), 0.0]]),
    lambda u, p, t: np.array([[0.0], [-2.0 * p[0] * u[0]]]),
    (1.0, 0.5),
    (2.0,),
    (0.0, 5.0),
)


# --- Lotka-Volterra -------------------------------------------------------------------
LOTKA_VOLTERRA = Spec(
    "lotka_volterra",
    lotka_volterra_f,
    lambda u, p, t: np.array(
        [[p[0] - p[1] * u[1], -p[1] * u[0]], [p[3] * u[1], -p[2] + p[3] * u[0]]]
    ),
    lambda u, p, t: np.array([[u[0], -u[0] * u[1], 0.0, 0.0], [0.0, 0.0, -u[1], u[0] * u[1]]]),
    (1.0, 1.0),
    (1.5, 1.0, 3.0, 1.0),
    (0.0, 10.0),
)


# --- Robertson chemical kinetics (stiff) -----------------------------------------------
def _robertson_jac(u, p, t):
    _y1, y2, y3 = u
    k1, k2, k3 = p
    return np.array(
        [
            [-k1, k3 * y3, k3 * y2],
            [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2],
            [0.0, 2 * k2 * y2, 0.0],
        ]
    )


def _robertson_paramjac(u, p, t):
    y1, y2, y3 = u
    return np.array([[-y1, 0.0, y2 * y3], [y1, -(y2**2), -y2 * y3], [0.0, y2**2, 0.0]])


ROBERTSON = Spec(
    "robertson",
    robertson_f,
    _robertson_jac,
    _robertson_paramjac,
    (1.0, 0.0, 0.0),
    (0.04, 3e7, 1e4),
    (0.0, 1e5),
)


# --- Van der Pol, mu = 1000 (stiff; MATLAB's vdp1000) ---------------------------------
def van_der_pol_f(u, p, t):
    return [u[1], p[0] * (1 - u[0] ** 2) * u[1] - u[0]]


VAN_DER_POL = Spec(
    "van_der_pol",
    van_der_pol_f,
    lambda u, p, t: np.array([[0.0, 1.0], [-2 * p[0] * u[0] * u[1] - 1, p[0] * (1 - u[0] ** 2)]]),
    lambda u, p, t: np.array([[0.0], [(1 - u[0] ** 2) * u[1]]]),
    (2.0, 0.0),
    (1000.0,),
    (0.0, 3000.0),
)
