"""The reference engine's pullbacks: their cost with dense save grids, the save count in
``sensealg="auto"``, and that a pullback owns what it reads (issue 12 item 4)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

import bridge
from bridge._algorithms import ALGORITHMS
from bridge._reference import BACKEND, adjoint, forward
from bridge._solution import DensePullback
from bridge._validate import check_options
from tests.handmodel import HandModel
from tests.models import lotka_volterra as lv

REF = {"backend": "reference", "reltol": 1e-9, "abstol": 1e-11}


@pytest.fixture(scope="module")
def lv_prob():
    return bridge.ODEProblem(lv, [1.0, 1.0], (0.0, 10.0), [1.5, 1.0, 3.0, 1.0])


def _grad(pullback, cot):
    g = pullback(cot)
    return np.concatenate([g.u0, g.p])


def test_dense_saveat_costs_steps_not_save_points(lv_prob):
    """Ten times the save points, the same work: the pullback does not step per save point."""
    nf = {}
    for n_save in (2_000, 20_000):
        ts = np.linspace(0.0, 10.0, n_save)
        sol, pullback = bridge.vjp(
            lv_prob, "Tsit5", saveat=ts, sensealg="InterpolatingAdjoint", **REF
        )
        assert "forward sensitivities (for InterpolatingAdjoint" in sol.alg, sol.alg
        assert f"{n_save} save points" in sol.alg
        pullback(np.ones_like(sol.u))
        nf[n_save] = sol.stats.nf
    assert nf[20_000] < 1.2 * nf[2_000], nf


def test_the_switch_gives_the_adjoints_answer(lv_prob, monkeypatch):
    ts = np.linspace(0.0, 10.0, 3_000)
    cot = np.random.default_rng(3).standard_normal((len(ts), 2))
    sol, pullback = bridge.vjp(lv_prob, "Tsit5", saveat=ts, sensealg="GaussAdjoint", **REF)
    assert "forward sensitivities" in sol.alg
    switched = _grad(pullback, cot)
    monkeypatch.setattr(adjoint, "SAVES_PER_STEP", 10**9)  # force the jumps
    sol, pullback = bridge.vjp(lv_prob, "Tsit5", saveat=ts, sensealg="GaussAdjoint", **REF)
    assert "interpolating adjoint" in sol.alg
    np.testing.assert_allclose(switched, _grad(pullback, cot), rtol=1e-6)


def test_sparse_saveat_keeps_the_adjoint(lv_prob):
    sol, _ = bridge.vjp(lv_prob, "Tsit5", saveat=1.0, sensealg="InterpolatingAdjoint", **REF)
    assert sol.alg.endswith("+ interpolating adjoint"), sol.alg


def _linear(n: int, m: int) -> tuple[bridge.ODEProblem, np.ndarray]:
    rng = np.random.default_rng(0)
    a = -np.eye(n) + 0.2 * rng.standard_normal((n, n)) / np.sqrt(n)
    b = 0.1 * rng.standard_normal((n, m))
    prob = bridge.ODEProblem(lambda u, p, t: u, np.ones(n), (0.0, 1.0), np.ones(m))
    prob._model = HandModel(
        lambda u, p, t: a @ u + b @ p,
        lambda u, p, t: a,
        lambda u, p, t: b,
        n_states=n,
        n_params=m,
    )
    return prob, a


def test_auto_accounts_for_the_save_count():
    # n + m = 110 > 100: SciMLSensitivity's rule says adjoint; with 5000 save points over
    # a few dozen steps, auto runs forward sensitivities, and says why.
    prob, a = _linear(60, 50)
    sparse, _ = bridge.vjp(prob, "Tsit5", saveat=[1.0], **REF)
    assert "interpolating adjoint" in sparse.alg
    ts = np.linspace(0.0, 1.0, 5000)
    sol, pullback = bridge.vjp(prob, "Tsit5", saveat=ts, **REF)
    assert "forward sensitivities (for auto" in sol.alg, sol.alg
    cot = np.zeros((len(ts), 60))
    cot[-1] = 1.0
    np.testing.assert_allclose(pullback(cot).u0, expm(a).T @ np.ones(60), rtol=1e-6)


def test_forward_sensitivities_past_the_store_limit_interpolate(lv_prob, monkeypatch):
    ts = np.linspace(0.0, 10.0, 3_001)
    cot = np.random.default_rng(5).standard_normal((len(ts), 2))
    kw = {"saveat": ts, "sensealg": "ForwardDiffSensitivity", **REF}
    sol, stored = bridge.vjp(lv_prob, "Tsit5", **kw)
    opts = check_options(lv_prob.tspan, ts, 1e-9, 1e-11, 10**5)
    _, raw = BACKEND.vjp(lv_prob, ALGORITHMS["Tsit5"], opts, "ForwardDiffSensitivity")
    assert isinstance(raw, DensePullback), "it pickles, for ensembles on processes"
    monkeypatch.setattr(forward, "STORE_LIMIT", 1000)
    monkeypatch.setattr(forward, "CHUNK", 700)  # several chunks, one ragged
    sol2, dense = bridge.vjp(lv_prob, "Tsit5", **kw)
    np.testing.assert_allclose(sol2.u, sol.u, rtol=1e-12)
    np.testing.assert_allclose(_grad(dense, cot), _grad(stored, cot), rtol=1e-10)


# -- the pullback owns what it needs (issue 12 item 4)


@pytest.mark.parametrize("sensealg", ["InterpolatingAdjoint", "ForwardDiffSensitivity"])
def test_editing_inputs_and_solution_after_vjp_does_not_change_the_pullback(sensealg):
    u0, p = np.array([1.0, 1.0]), np.array([1.5, 1.0, 3.0, 1.0])
    prob = bridge.ODEProblem(lv, u0, (0.0, 5.0), p)
    sol, pullback = bridge.vjp(prob, "Tsit5", saveat=0.5, sensealg=sensealg, **REF)
    cot = np.random.default_rng(1).standard_normal(sol.u.shape)
    before = _grad(pullback, cot)
    p[0] = 3.0  # the user's arrays ...
    u0[:] = 7.0
    sol.t -= 0.5  # ... and the solution's (plain NumPy arrays the user may edit)
    sol.u[:] = 0.0
    np.testing.assert_array_equal(_grad(pullback, cot), before)
    with pytest.raises(ValueError, match="read-only"):
        prob.p[0] = 3.0  # the problem's own copy cannot be edited in place


@pytest.mark.parametrize("dtype", [np.float64, np.float32, "list"])
def test_the_rule_does_not_depend_on_the_input_dtype(dtype):
    # Before, float64 C-contiguous inputs were aliased and lists / float32 copied.
    raw = [1.5, 1.0, 3.0, 1.0]
    p = raw if dtype == "list" else np.array(raw, dtype=dtype)
    prob = bridge.ODEProblem(lv, [1.0, 1.0], (0.0, 1.0), p)
    if not isinstance(p, list):
        assert not np.shares_memory(prob.p, p)
    assert not prob.p.flags.writeable
