"""Gradients of nonlinear problems against central finite differences of tight solves.

Every sensealg name must give the same answer; forward and adjoint must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import bridge

from .problems import LOTKA_VOLTERRA, ROBERTSON

SENSEALGS = [
    "auto",
    "ForwardDiffSensitivity",
    "InterpolatingAdjoint",
    "GaussAdjoint",
    "QuadratureAdjoint",
    "BacksolveAdjoint",
]


def _fd_gradient(spec, backend, alg, saveat, cot, tight, rel_step, tspan=None):
    """Central differences of L = sum(cot * u(saveat)) w.r.t. (u0, p), tight solves."""
    u0, p = np.array(spec.u0), np.array(spec.p)
    tspan = tspan or spec.tspan
    prob = spec.problem(backend, tspan=tspan)

    def loss(u0_, p_):
        sol = bridge.solve(prob.remake(u0=u0_, p=p_), alg, saveat=saveat, backend=backend, **tight)
        assert sol.success
        return float(np.sum(cot * sol.u))

    x = np.concatenate([u0, p])
    g = np.zeros_like(x)
    n = len(u0)
    for i in range(len(x)):
        h = rel_step * max(abs(x[i]), 1e-3)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (loss(xp[:n], xp[n:]) - loss(xm[:n], xm[n:])) / (2 * h)
    return g[:n], g[n:]


@pytest.fixture(scope="module")
def lv_fd():
    saveat = np.linspace(0.0, 10.0, 11)
    cot = np.random.default_rng(3).standard_normal((len(saveat), 2))
    tight = {"reltol": 1e-12, "abstol": 1e-12}
    return saveat, cot, _fd_gradient(LOTKA_VOLTERRA, "reference", "Vern9", saveat, cot, tight, 1e-5)


@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("alg", ["Tsit5", "auto"])
def test_lotka_volterra_gradient_matches_finite_differences(backend, sensealg, alg, lv_fd):
    saveat, cot, (want_u0, want_p) = lv_fd
    prob = LOTKA_VOLTERRA.problem(backend)
    _sol, pullback = bridge.vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, reltol=1e-9, abstol=1e-11, backend=backend
    )
    g = pullback(cot)
    scale = np.max(np.abs(np.concatenate([want_u0, want_p])))
    np.testing.assert_allclose(g.u0, want_u0, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(g.p, want_p, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("alg", ["Tsit5", pytest.param("FBDF", marks=pytest.mark.slow), "auto"])
def test_forward_and_adjoint_agree_without_saveat(backend, alg):
    """Saving every step: cotangents at every step exercise one jump per forward step."""
    prob = LOTKA_VOLTERRA.problem(backend, tspan=(0.0, 5.0))
    kw = {"reltol": 1e-9, "abstol": 1e-11, "backend": backend}
    sol, pullback = bridge.vjp(prob, alg, sensealg="InterpolatingAdjoint", **kw)
    c = np.sin(sol.t)[:, None] * np.array([1.0, -2.0]) / len(sol.t)
    adjoint = np.concatenate(list(pullback(c)))
    # Forward mode takes its own steps (it controls the error of S too), so give it the
    # adjoint run's step times explicitly: then both differentiate the same loss.
    sol_f, pullback_f = bridge.vjp(prob, alg, saveat=sol.t, sensealg="ForwardDiffSensitivity", **kw)
    np.testing.assert_allclose(sol_f.u, sol.u, rtol=1e-7, atol=1e-9)
    forward = np.concatenate(list(pullback_f(c)))
    np.testing.assert_allclose(forward, adjoint, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def robertson_fd():
    saveat = np.array([0.1, 1.0, 10.0])
    cot = np.array([[1.0, 1e4, 0.5], [-1.0, 2e4, 1.0], [0.5, -1e4, 2.0]])
    # Radau: LSODA tight solves are too noisy for differences of 1e-7 in the zero entries.
    tight = {"reltol": 1e-10, "abstol": 1e-14}
    return (
        saveat,
        cot,
        _fd_gradient(
            ROBERTSON, "reference", "Rodas5P", saveat, cot, tight, 1e-4, tspan=(0.0, 10.0)
        ),
    )


@pytest.mark.parametrize(
    ("alg", "sensealg"),
    [
        ("auto", "ForwardDiffSensitivity"),
        ("auto", "InterpolatingAdjoint"),
        ("FBDF", "InterpolatingAdjoint"),
        pytest.param("FBDF", "ForwardDiffSensitivity", marks=pytest.mark.slow),
        pytest.param("Rodas5P", "ForwardDiffSensitivity", marks=pytest.mark.slow),
        ("Rodas5P", "InterpolatingAdjoint"),
    ],
)
def test_robertson_gradient_matches_finite_differences(backend, sensealg, alg, robertson_fd):
    saveat, cot, (want_u0, want_p) = robertson_fd
    prob = ROBERTSON.problem(backend, tspan=(0.0, 10.0))
    _sol, pullback = bridge.vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, reltol=1e-8, abstol=1e-12, backend=backend
    )
    g = pullback(cot)
    # Parameters span 1e-2..3e7: compare each entry relative to itself (k2's gradient is
    # tiny in absolute terms but must still be right).
    np.testing.assert_allclose(g.u0, want_u0, rtol=2e-4)
    np.testing.assert_allclose(g.p, want_p, rtol=2e-4)
