"""Problems with closed-form solutions and gradients: decay, linear 2x2 (expm), oscillator.

Every backend must reproduce them to a tolerance that follows from reltol/abstol.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm, expm_frechet

import bridge

from .problems import DECAY, LINEAR, OSCILLATOR

TIGHT = {"reltol": 1e-10, "abstol": 1e-12}
#: Global error allowed at TIGHT tolerances (errors accumulate over the span).
TIGHT_ERR = 1e-7
NONSTIFF_AND_STIFF = ["Tsit5", "Vern9", "DP5", "Rodas5P", "FBDF", "auto"]
SENSEALGS = ["ForwardDiffSensitivity", "InterpolatingAdjoint"]


def decay_exact(t, t0, u0, k):
    return u0 * np.exp(-k * (t - t0))


def linear_exact(t, t0, u0, p):
    a = np.asarray(p).reshape(2, 2)
    return np.array([expm(a * (ti - t0)) @ u0 for ti in t])


def oscillator_exact(t, t0, u0, w):
    s, c = np.sin(w * (t - t0)), np.cos(w * (t - t0))
    x0, v0 = u0
    return np.stack([x0 * c + v0 / w * s, -x0 * w * s + v0 * c], axis=1)


@pytest.mark.parametrize("alg", NONSTIFF_AND_STIFF)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward-time", "reverse-time"])
def test_decay_solution(backend, alg, reverse):
    tspan = (3.0, 0.5) if reverse else (0.5, 3.0)
    prob = DECAY.problem(backend, tspan=tspan)
    sol = bridge.solve(prob, alg, backend=backend, **TIGHT)
    assert sol.success, sol.message
    assert sol.t[0] == tspan[0] and sol.t[-1] == tspan[1]
    assert np.all(np.diff(sol.t) * np.sign(tspan[1] - tspan[0]) > 0)
    exact = decay_exact(sol.t, tspan[0], 2.0, 0.7)
    np.testing.assert_allclose(sol.u[:, 0], exact, rtol=TIGHT_ERR, atol=1e-10)


@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P", "auto"])
def test_decay_default_tolerances_are_loose_but_right(backend, alg):
    prob = DECAY.problem(backend)
    sol = bridge.solve(prob, alg, saveat=0.5, backend=backend)
    exact = decay_exact(sol.t, 0.0, 2.0, 0.7)
    err = np.max(np.abs(sol.u[:, 0] - exact) / np.abs(exact))
    assert err < 1e-2  # reltol 1e-3 by default
    assert sol.stats.naccept < 100  # and cheap, as a loose tolerance should be


@pytest.mark.parametrize("alg", NONSTIFF_AND_STIFF)
def test_linear_solution(backend, alg):
    prob = LINEAR.problem(backend)
    saveat = np.linspace(0.0, 2.0, 9)
    sol = bridge.solve(prob, alg, saveat=saveat, backend=backend, **TIGHT)
    np.testing.assert_array_equal(sol.t, saveat)
    exact = linear_exact(saveat, 0.0, np.array(LINEAR.u0), LINEAR.p)
    np.testing.assert_allclose(sol.u, exact, rtol=TIGHT_ERR, atol=1e-9)


@pytest.mark.parametrize("alg", ["Tsit5", "Vern9", "Rodas5P", "auto"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward-time", "reverse-time"])
def test_oscillator_solution(backend, alg, reverse):
    tspan = (5.0, 0.0) if reverse else (0.0, 5.0)
    prob = OSCILLATOR.problem(backend, tspan=tspan)
    saveat = np.linspace(*tspan, 11)
    sol = bridge.solve(prob, alg, saveat=saveat, backend=backend, **TIGHT)
    exact = oscillator_exact(saveat, tspan[0], np.array(OSCILLATOR.u0), 2.0)
    np.testing.assert_allclose(sol.u, exact, rtol=0, atol=1e-7)


def _cotangent(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P", "auto"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward-time", "reverse-time"])
def test_decay_gradient(backend, sensealg, alg, reverse):
    tspan = (3.0, 0.5) if reverse else (0.5, 3.0)
    prob = DECAY.problem(backend, tspan=tspan)
    saveat = np.linspace(*tspan, 6)  # includes t0, so dL/du0 gets the cotangent there
    sol, pullback = bridge.vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, backend=backend, **TIGHT
    )
    c = _cotangent(sol.u.shape)
    g = pullback(c)
    tau = saveat - tspan[0]
    e = np.exp(-0.7 * tau)
    np.testing.assert_allclose(g.u0, [np.sum(c[:, 0] * e)], rtol=1e-7)
    np.testing.assert_allclose(g.p, [np.sum(c[:, 0] * -tau * 2.0 * e)], rtol=1e-7)


@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P", "auto"])
def test_linear_gradient_matches_matrix_exponential(backend, sensealg, alg):
    prob = LINEAR.problem(backend)
    saveat = np.array([0.5, 1.0, 2.0])
    sol, pullback = bridge.vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, backend=backend, **TIGHT
    )
    c = _cotangent(sol.u.shape, seed=1)
    g = pullback(c)
    a = np.array(LINEAR.p).reshape(2, 2)
    u0 = np.array(LINEAR.u0)
    want_u0 = sum(expm(a * t).T @ ci for t, ci in zip(saveat, c, strict=True))
    want_p = np.zeros(4)
    for t, ci in zip(saveat, c, strict=True):
        for j in range(4):
            e = np.zeros(4)
            e[j] = 1.0
            # d expm(A t) / dA_j in direction E_j is the Fréchet derivative at A t along E_j t.
            d = expm_frechet(a * t, e.reshape(2, 2) * t, compute_expm=False)
            want_p[j] += ci @ d @ u0
    np.testing.assert_allclose(g.u0, want_u0, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g.p, want_p, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("alg", ["Tsit5", "Vern9", "FBDF"])
def test_oscillator_gradient(backend, sensealg, alg):
    prob = OSCILLATOR.problem(backend)
    _sol, pullback = bridge.vjp(
        prob, alg, saveat=[5.0], sensealg=sensealg, backend=backend, **TIGHT
    )
    g = pullback(np.array([[1.0, 0.0]]))  # L = x(5)
    t, w = 5.0, 2.0
    x0, v0 = OSCILLATOR.u0
    s, c = np.sin(w * t), np.cos(w * t)
    dx_dw = -x0 * t * s - v0 / w**2 * s + v0 * t / w * c
    tol = 1e-5 if alg == "FBDF" else 1e-7  # BDF's global error is larger at equal tolerance
    np.testing.assert_allclose(g.u0, [c, s / w], rtol=tol, atol=tol)
    np.testing.assert_allclose(g.p, [dx_dw], rtol=tol)
