"""The solve/vjp contract every backend keeps: saving, retcodes, errors, sensealg names."""

from __future__ import annotations

import numpy as np
import pytest

import bridge

from .problems import DECAY, LOTKA_VOLTERRA

#: Engines that never call back into Python: they refuse a ``trace=False`` problem (an opaque
#: Python right-hand side) with BackendUnsupportedError before running anything, while the
#: reference backend runs it. An engine joins this contract by adding its name here.
NO_PYTHON_CALLBACKS = frozenset({"julia", "diffsol"})


def refuses_untraced(backend, prob, alg, calls=None):
    """On engines without Python callbacks: check ``bridge.solve`` refuses ``prob`` (and ran
    nothing) and return True; elsewhere return False (the caller checks the real run)."""
    if backend not in NO_PYTHON_CALLBACKS:
        return False
    with pytest.raises(bridge.BackendUnsupportedError, match=r"trace=False.*backend='reference'"):
        bridge.solve(prob, alg, backend=backend)
    assert not calls, "the refused right-hand side was called"
    return True


def test_saveat_is_exact_and_t0_only_when_listed(backend):
    prob = DECAY.problem(backend)
    sol = bridge.solve(prob, "Tsit5", saveat=[1.0, 2.0, 3.0], backend=backend)
    np.testing.assert_array_equal(sol.t, [1.0, 2.0, 3.0])
    sol = bridge.solve(prob, "Tsit5", saveat=0.75, backend=backend)
    np.testing.assert_array_equal(sol.t, [0.0, 0.75, 1.5, 2.25, 3.0])
    assert sol.u[0, 0] == 2.0  # the initial state exactly


def test_reverse_time_saveat(backend):
    prob = DECAY.problem(backend, tspan=(3.0, 0.0), u0=(1.0,))
    sol = bridge.solve(
        prob, "Tsit5", saveat=[2.0, 1.0, 0.0], reltol=1e-10, abstol=1e-12, backend=backend
    )
    np.testing.assert_allclose(sol.u[:, 0], np.exp(0.7 * np.array([1.0, 2.0, 3.0])), rtol=1e-8)


@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P", "FBDF", "auto"])
def test_nan_rhs_is_a_failed_retcode_with_a_warning(backend, alg):
    def f(u, p, t):
        with np.errstate(invalid="ignore"):
            return -1.0 + 0.0 * np.sqrt(u - 0.5)  # NaN once u drops below 0.5 (t > 0.5)

    prob = bridge.ODEProblem(f, [1.0], (0.0, 10.0), trace=False)
    prob2 = bridge.ODEProblem(lambda u, p, t: u / (1.0 - t) ** 2, [1.0], (0.0, 2.0), trace=False)
    for pr in (prob, prob2):
        if refuses_untraced(backend, pr, alg):
            continue
        with pytest.warns(bridge.SolverWarning):
            sol = bridge.solve(pr, alg, backend=backend)
        assert not sol.success
        assert sol.retcode in {"Unstable", "DtLessThanMin", "DtNaN", "Failure", "MaxIters"}
        assert len(sol.t) >= 1 and np.all(np.isfinite(sol.u))


def test_maxiters(backend):
    prob = LOTKA_VOLTERRA.problem(backend)
    with pytest.warns(bridge.SolverWarning, match="MaxIters"):
        sol = bridge.solve(prob, "Tsit5", maxiters=5, reltol=1e-10, backend=backend)
    assert sol.retcode == "MaxIters"
    assert sol.t[-1] < 10.0


def test_user_exception_propagates_unchanged(backend):
    class Boom(Exception):
        pass

    calls = []

    def f(u, p, t):
        calls.append(t)
        if t > 0.3:
            raise Boom("from the user's RHS")
        return -u

    prob = bridge.ODEProblem(f, [1.0], (0.0, 1.0), trace=False)
    for alg in ["Tsit5", "FBDF", "auto"]:
        if refuses_untraced(backend, prob, alg, calls):
            continue
        with pytest.raises(Boom, match="from the user's RHS"):
            bridge.solve(prob, alg, backend=backend)


def test_vjp_without_derivatives_refuses_before_solving(backend):
    # The same exception on every engine, those without Python callbacks included: the
    # refusal is bridge.vjp's, before any engine is asked.
    calls = []

    def f(u, p, t):
        calls.append(t)
        return -p[0] * u

    prob = bridge.ODEProblem(f, [1.0], (0.0, 1.0), [1.0], trace=False)
    with pytest.raises(bridge.GradientUnavailableError, match="trace=False"):
        bridge.vjp(prob, "Tsit5", backend=backend)
    assert calls == []


@pytest.mark.parametrize("sensealg", bridge.SENSEALGS)
def test_every_sensealg_name_gives_the_same_gradient(backend, sensealg):
    prob = DECAY.problem(backend)
    _sol, pullback = bridge.vjp(
        prob, "Tsit5", saveat=[3.0], sensealg=sensealg, reltol=1e-10, abstol=1e-12, backend=backend
    )
    g = pullback(np.ones((1, 1)))
    np.testing.assert_allclose(g.u0, [np.exp(-2.1)], rtol=1e-7)
    np.testing.assert_allclose(g.p, [-3.0 * 2.0 * np.exp(-2.1)], rtol=1e-7)


def test_zero_cotangent_gives_zero_gradient(backend):
    prob = LOTKA_VOLTERRA.problem(backend)
    _, pullback = bridge.vjp(prob, "Tsit5", saveat=1.0, sensealg="GaussAdjoint", backend=backend)
    g = pullback(np.zeros((11, 2)))
    assert not g.u0.any() and not g.p.any()


def test_pullback_rejects_a_wrong_shape(backend):
    prob = DECAY.problem(backend)
    _, pullback = bridge.vjp(prob, "Tsit5", saveat=[1.0, 2.0], backend=backend)
    with pytest.raises(ValueError, match="shape"):
        pullback(np.ones((3, 1)))
