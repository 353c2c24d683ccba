"""Problems without parameters: gradients for u0 and an empty parameter gradient.

On the Julia backend an empty ``p`` used to reach ForwardDiffSensitivity's chunking
(0 ÷ 0); DiffBridge now solves such problems with ``NullParameters``.
"""

from __future__ import annotations

import numpy as np
import pytest

import bridge


def decay(u, p, t):
    return -u


@pytest.mark.parametrize(
    "sensealg", ["auto", "ForwardDiffSensitivity", "GaussAdjoint", "InterpolatingAdjoint"]
)
def test_gradient_without_parameters(backend, sensealg):
    prob = bridge.ODEProblem(decay, [2.0, -1.0], (0.0, 1.0))
    sol, pullback = bridge.vjp(
        prob,
        "Tsit5",
        saveat=[0.5, 1.0],
        sensealg=sensealg,
        reltol=1e-10,
        abstol=1e-12,
        backend=backend,
    )
    np.testing.assert_allclose(sol.u[-1], [2.0 * np.exp(-1.0), -np.exp(-1.0)], rtol=1e-8)
    g = pullback(np.array([[1.0, 0.0], [0.0, 1.0]]))
    # L = u1(0.5) + u2(1): dL/du0 = (e^-0.5, e^-1)
    np.testing.assert_allclose(g.u0, [np.exp(-0.5), np.exp(-1.0)], rtol=1e-7)
    assert g.p.shape == (0,)
