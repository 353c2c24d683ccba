"""Unit tests of the reference backend's pieces: driver, interpolation, stats, mapping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau

import bridge
from bridge._algorithms import ALGORITHMS
from bridge._reference import BACKEND, forward, methods
from bridge._reference.backend import sensitivity_mode
from bridge._reference.driver import Trajectory, integrate
from bridge._validate import check_options
from tests.handmodel import HandModel, decay


def pendulum(t, y):
    return np.array([y[1], -3.0 * np.sin(y[0]) + 0.1 * t])


@pytest.mark.parametrize("cls", [RK23, RK45, DOP853, Radau, BDF, LSODA])
@pytest.mark.parametrize("t1", [5.0, -5.0])
def test_trajectory_matches_scipy_interpolants(cls, t1):
    s = cls(pendulum, 0.0, np.array([1.0, 0.0]), t1, rtol=1e-8, atol=1e-10)
    breaks, pieces = [0.0], []
    while s.status == "running":
        s.step()
        pieces.append(s.dense_output())
        breaks.append(s.t)
    traj = Trajectory(breaks, pieces)
    for t in np.linspace(0.0, t1, 301)[::-1]:  # a backward sweep, as the adjoint does
        ref = pieces[traj._locate(t)](t)
        np.testing.assert_allclose(traj(t), ref, rtol=1e-12, atol=1e-13)


def test_backend_protocol():
    assert BACKEND.name == "reference"
    assert callable(BACKEND.solve) and callable(BACKEND.vjp)


def test_every_algorithm_maps_to_a_scipy_solver():
    for alg in ALGORITHMS.values():
        method = methods.scipy_method(alg)
        assert method in methods.SOLVERS
        assert (method in methods.TAKES_JACOBIAN) or not alg.stiff


def test_rk_stats_count_rejections_exactly():
    # DOP853 without saveat: 2 setup evaluations + 12 per attempt, no dense output.
    run = integrate(
        pendulum, 0.0, 20.0, np.array([1.0, 0.0]), "DOP853", rtol=1e-6, atol=1e-9, maxiters=10**5
    )
    s = run.stats
    assert s.nf == 2 + 12 * (s.naccept + s.nreject)
    assert s.naccept == len(run.t) - 1


def test_maxiters_counts_accepted_steps():
    run = integrate(
        pendulum, 0.0, 20.0, np.array([1.0, 0.0]), "RK45", rtol=1e-6, atol=1e-9, maxiters=7
    )
    assert run.retcode == "MaxIters" and run.stats.naccept == 7 and len(run.t) == 8


def test_sensitivity_mode_follows_scimlsensitivity():
    assert sensitivity_mode("auto", 50, 50) == "forward"
    assert sensitivity_mode("auto", 50, 51) == "adjoint"
    assert sensitivity_mode("BacksolveAdjoint", 1, 1) == "adjoint"
    assert sensitivity_mode("ForwardDiffSensitivity", 500, 500) == "forward"


def test_alg_labels_name_the_scipy_method():
    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    prob._model = decay()
    assert bridge.solve(prob, "Rodas5P", backend="reference").alg == (
        "Rodas5P (reference: scipy Radau)"
    )
    sol, _ = bridge.vjp(prob, "auto", sensealg="GaussAdjoint", backend="reference")
    assert sol.alg == "auto (reference: scipy LSODA) + interpolating adjoint (for GaussAdjoint)"


def _linear_model(n, m, seed=0):
    rng = np.random.default_rng(seed)
    a = -np.eye(n) * 2 + 0.3 * rng.standard_normal((n, n))
    b = 0.1 * rng.standard_normal((n, m))
    return HandModel(
        lambda u, p, t: a @ u + b @ p,
        lambda u, p, t: a,
        lambda u, p, t: b,
        n_states=n,
        n_params=m,
    ), a


def test_large_forward_system_uses_a_sparse_jacobian(monkeypatch):
    """Above the dense limit, LSODA becomes BDF with a sparse block-diagonal Jacobian."""
    monkeypatch.setattr(methods, "DENSE_JACOBIAN_LIMIT", 10)
    monkeypatch.setattr(forward, "for_size", methods.for_size)
    model, a = _linear_model(4, 3)
    prob = bridge.ODEProblem(lambda u, p, t: u, np.ones(4), (0.0, 1.0), np.ones(3))
    prob._model = model
    opts = check_options(prob.tspan, [1.0], 1e-8, 1e-10, 10**5)
    sol, pullback = BACKEND.vjp(prob, ALGORITHMS["auto"], opts, "ForwardDiffSensitivity")
    assert "BDF" in sol.alg
    _, pullback_adj = BACKEND.vjp(prob, ALGORITHMS["auto"], opts, "InterpolatingAdjoint")
    c = np.arange(1.0, 5.0)[None, :]
    g, g_adj = pullback(c), pullback_adj(c)
    from scipy.linalg import expm

    np.testing.assert_allclose(g.u0, expm(a).T @ c[0], rtol=1e-6)
    np.testing.assert_allclose(g.u0, g_adj.u0, rtol=1e-6)
    np.testing.assert_allclose(g.p, g_adj.p, rtol=1e-6)


def test_adjoint_records_its_stats():
    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    prob._model = decay()
    sol, pullback = bridge.vjp(
        prob,
        "Tsit5",
        saveat=0.25,
        sensealg="InterpolatingAdjoint",
        reltol=1e-10,  # more steps than save points: the adjoint itself runs
        abstol=1e-12,
        backend="reference",
    )
    assert "interpolating adjoint" in sol.alg
    g = pullback(np.ones_like(sol.u))
    assert g.stats is not None and g.stats.nf > 0


def test_nan_watch_forgets_an_overshoot_but_not_a_nan_it_is_creeping_up_on():
    from bridge._reference.driver import _NanWatch

    watch = _NanWatch()
    f = watch.wrap(lambda t, y: np.array([np.nan if t > 5 else 1.0]))
    f(6.0, np.zeros(1))  # a trial 6 ahead of t_now = 0 met a NaN
    assert watch.seen and watch.reach == 6.0
    watch.accepted(1.0, 1.0)  # shorter steps: still creeping up on it
    assert watch.seen
    watch.accepted(8.0, 7.0)  # a step longer than the trial: the NaN is behind
    assert not watch.seen
    f(20.0, np.zeros(1))
    for k in range(_NanWatch.QUIET):
        assert watch.seen
        watch.accepted(8.0 + 0.1 * (k + 1), 0.1)  # no new NaN for QUIET steps
    assert not watch.seen
