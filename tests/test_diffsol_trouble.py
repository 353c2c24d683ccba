"""Solver trouble and bad input on the diffsol engine: the contract of
tests/test_solver_trouble.py (failures are data: retcode, partial trajectory, one warning at
the caller's line; ``vjp`` raises ``SolveFailedError``) and the same errors for bad input.

diffsol raises instead of returning a partial solution, has no step limit, and lets tsit45
integrate NaN on; ``bridge._diffsol.run`` turns each into the reference backend's data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bridge
from bridge import _diffsol

from . import test_solver_trouble
from .test_solver_trouble import ROBER_P, blowup, log_rhs, robertson, sqrt_rhs

REASON = _diffsol.availability()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"needs pydiffsol: {REASON}")
DS = "diffsol"


@pytest.fixture(autouse=True)
def _warnings_point_here(monkeypatch):
    # assert_failed_cleanly checks the warning names the calling test file: this one.
    monkeypatch.setattr(test_solver_trouble, "__file__", __file__)


def assert_failed_cleanly(sol, solver_warnings, retcodes):
    test_solver_trouble.assert_failed_cleanly(sol, solver_warnings, retcodes)


def solve_warned(prob, alg, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = bridge.solve(prob, alg, backend=DS, **kw)
    return sol, [w for w in caught if issubclass(w.category, bridge.SolverWarning)]


@pytest.mark.parametrize("alg", ["Tsit5", "auto", "Rodas5P", "FBDF", "KenCarp4"])
def test_blowup(alg):
    prob = bridge.ODEProblem(blowup, [1.0], (0.0, 2.0))
    sol, sw = solve_warned(prob, alg, reltol=1e-6, abstol=1e-8)
    assert_failed_cleanly(sol, sw, {"DtLessThanMin", "Unstable"})
    assert sol.t[0] == 0.0 and 0.99 < sol.t[-1] < 1.01 and sol.u[-1, 0] > 1e3
    assert "t=" in str(sw[0].message)


def test_blowup_with_saveat_saves_a_prefix_of_the_grid():
    prob = bridge.ODEProblem(blowup, [1.0], (0.0, 2.0))
    sol, sw = solve_warned(prob, "Tsit5", saveat=0.1, reltol=1e-8, abstol=1e-10)
    assert_failed_cleanly(sol, sw, {"DtLessThanMin", "Unstable"})
    np.testing.assert_array_equal(sol.t, np.linspace(0.0, 2.0, 21)[: len(sol.t)])
    np.testing.assert_allclose(sol.u[:10, 0], 1.0 / (1.0 - sol.t[:10]), rtol=1e-5)


def test_stiff_problem_with_nonstiff_method_hits_maxiters():
    prob = bridge.ODEProblem(robertson, [1.0, 0.0, 0.0], (0.0, 1e5), ROBER_P)
    sol, sw = solve_warned(prob, "Tsit5", maxiters=500)
    assert_failed_cleanly(sol, sw, {"MaxIters"})
    assert "maxiters" in sol.message.lower()
    assert len(sol.t) == 501 and sol.stats.naccept == 500
    np.testing.assert_allclose(sol.u.sum(axis=1), 1.0, atol=1e-6)


def test_same_stiff_problem_and_maxiters_succeed_with_a_stiff_method():
    prob = bridge.ODEProblem(robertson, [1.0, 0.0, 0.0], (0.0, 1e5), ROBER_P)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bridge.SolverWarning)
        sol = bridge.solve(prob, "Rodas5P", maxiters=500, backend=DS)
    assert sol.retcode == "Success" and sol.t[-1] == 1e5


@pytest.mark.parametrize("rhs", [sqrt_rhs, log_rhs], ids=["sqrt", "log"])
@pytest.mark.parametrize("alg", ["Tsit5", "auto", "FBDF", "Rodas5P", "KenCarp4"])
def test_nan_mid_solve_is_unstable(alg, rhs):
    prob = bridge.ODEProblem(rhs, [1.0, 0.0], (0.0, 2.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        sol, sw = solve_warned(prob, alg, reltol=1e-6, abstol=1e-9)
    assert_failed_cleanly(sol, sw, {"Unstable"})
    assert 0.5 < sol.t[-1] <= 1.0 + 1e-9
    np.testing.assert_allclose(sol.u[:, 0], 1.0 - sol.t, atol=1e-9)


def test_messages_show_times_as_plain_numbers():
    prob = bridge.ODEProblem(robertson, [1.0, 0.0, 0.0], (0.0, 1e5), ROBER_P)
    sol, sw = solve_warned(prob, "Tsit5", maxiters=50)
    assert sol.retcode == "MaxIters" and "np.float64" not in sol.message
    assert "np.float64" not in str(sw[0].message)
    sol, sw = solve_warned(bridge.ODEProblem(blowup, [1.0], (0.0, 2.0)), "Tsit5")
    assert "np.float64" not in sol.message and "diffsol" in sol.message
    assert "np.float64" not in str(sw[0].message)


@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint", "auto"])
@pytest.mark.parametrize(
    ("f", "u0", "tspan", "p", "kw", "retcodes"),
    [
        (blowup, [1.0], (0.0, 2.0), None, {"saveat": 0.5}, {"DtLessThanMin", "Unstable"}),
        (robertson, [1.0, 0.0, 0.0], (0.0, 1e5), ROBER_P, {"maxiters": 200}, {"MaxIters"}),
        (sqrt_rhs, [1.0, 0.0], (0.0, 2.0), None, {"saveat": 0.5}, {"Unstable"}),
    ],
    ids=["blowup", "maxiters", "nan"],
)
def test_vjp_on_trouble_raises_solve_failed(sensealg, f, u0, tspan, p, kw, retcodes):
    prob = bridge.ODEProblem(f, u0, tspan, p)
    with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
        warnings.simplefilter("always")
        with pytest.raises(bridge.SolveFailedError) as info:
            bridge.vjp(prob, "Tsit5", sensealg=sensealg, backend=DS, **kw)
    assert info.value.retcode in retcodes and info.value.retcode in str(info.value)


def test_failed_vjp_leaves_the_problem_usable():
    prob = bridge.ODEProblem(blowup, [1.0], (0.0, 2.0))
    with warnings.catch_warnings(record=True), pytest.raises(bridge.SolveFailedError):
        warnings.simplefilter("always")
        bridge.vjp(prob, "Tsit5", saveat=0.5, backend=DS)
    short = prob.remake(tspan=(0.0, 0.5))
    sol, pullback = bridge.vjp(short, "Tsit5", saveat=[0.5], reltol=1e-10, abstol=1e-12, backend=DS)
    np.testing.assert_allclose(sol.u[-1, 0], 2.0, rtol=1e-8)
    np.testing.assert_allclose(pullback(np.ones_like(sol.u)).u0, [4.0], rtol=1e-6)


# -- bad input: the same errors as on every engine ----------------------------------------------
def decay(u, p, t):
    return -p[0] * u


def test_pullback_refuses_bad_cotangents():
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    for sensealg in ("ForwardDiffSensitivity", "GaussAdjoint"):
        _, pullback = bridge.vjp(prob, "Tsit5", saveat=[0.5, 1.0], sensealg=sensealg, backend=DS)
        with pytest.raises(ValueError, match=r"cotangent must have the shape of sol.u \(2, 1\)"):
            pullback(np.ones((3, 1)))
        with pytest.raises(ValueError, match="cotangent must be finite"):
            pullback(np.array([[1.0], [np.nan]]))
        with pytest.raises(TypeError, match="cotangent must hold real numbers"):
            pullback(np.array([["a"], ["b"]]))


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"saveat": [0.5, 2.0]}, ValueError, r"saveat must lie inside tspan"),
        ({"saveat": [0.5, 0.2]}, ValueError, r"saveat must be strictly increasing"),
        ({"reltol": -1.0}, ValueError, r"reltol must be positive"),
        ({"maxiters": 0}, ValueError, r"maxiters must be a positive integer"),
        ({"alg": "Tsit6"}, ValueError, r"alg='Tsit6' is not a known algorithm"),
    ],
)
def test_bad_options_are_refused_before_diffsol_runs(kw, error, match):
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    alg = kw.pop("alg", "Tsit5")
    with pytest.raises(error, match=match):
        bridge.solve(prob, alg, backend=DS, **kw)


def test_user_exception_while_tracing_surfaces_unchanged():
    class Boom(Exception):
        pass

    def f(u, p, t):
        raise Boom("from the user's RHS")

    with pytest.raises(Boom, match="from the user's RHS"):
        bridge.solve(bridge.ODEProblem(f, [1.0], (0.0, 1.0)), "Tsit5", backend=DS)
