"""bridge.value_and_grad: a traced NumPy loss of sol.u, chained with the solve's pullback."""

from __future__ import annotations

import numpy as np
import pytest

import bridge
from bridge import value_and_grad
from tests.models import lotka_volterra

TIGHT = {"reltol": 1e-10, "abstol": 1e-10, "backend": "reference"}


def decay(u, p, t):
    return -p[0] * u


def test_exponential_decay_matches_the_analytic_gradient():
    # L = sum_i u(t_i)^2 with u(t) = u0 exp(-k t): dL/du0 = 2 u0 sum e^{-2kt}, dL/dk = -2 u0^2 sum t e^{-2kt}
    u0, k = 1.5, 0.8
    t = np.linspace(0.0, 2.0, 5)
    prob = bridge.ODEProblem(decay, [u0], (0.0, 2.0), [k])
    value, g = value_and_grad(lambda u: np.sum(u**2), prob, saveat=t, **TIGHT)
    e = np.exp(-2 * k * t)
    np.testing.assert_allclose(value, u0**2 * e.sum(), rtol=1e-9)
    np.testing.assert_allclose(g.u0, [2 * u0 * e.sum()], rtol=1e-8)
    np.testing.assert_allclose(g.p, [-2 * u0**2 * (t * e).sum()], rtol=1e-8)


def _fd_gradient(loss, prob, t, h=1e-6):
    def value(u0, p):
        sol = bridge.solve(prob.remake(u0=u0, p=p), saveat=t, **TIGHT)
        return loss(sol.u)

    x = np.concatenate([prob.u0, prob.p])
    n = prob.n_states
    out = np.empty_like(x)
    for i in range(x.size):
        dx = np.zeros_like(x)
        dx[i] = h
        hi, lo = x + dx, x - dx
        out[i] = (value(hi[:n], hi[n:]) - value(lo[:n], lo[n:])) / (2 * h)
    return out[:n], out[n:]


def test_lotka_volterra_fit_loss_matches_finite_differences():
    t = np.linspace(0.0, 3.0, 13)
    data = bridge.solve(
        bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 3.0), [1.5, 1.0, 3.0, 1.0]),
        saveat=t,
        **TIGHT,
    ).u
    prob = bridge.ODEProblem(lotka_volterra, [1.1, 0.9], (0.0, 3.0), [1.3, 0.9, 3.2, 1.1])

    def loss(u):
        r = u - data
        return np.mean(r**2) + 0.1 * np.sum(np.log1p(u[:, 0] ** 2))

    value, g = value_and_grad(loss, prob, "Tsit5", saveat=t, **TIGHT)
    assert value == pytest.approx(loss(bridge.solve(prob, saveat=t, **TIGHT).u), rel=1e-7)
    fd_u0, fd_p = _fd_gradient(loss, prob, t)
    np.testing.assert_allclose(g.u0, fd_u0, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g.p, fd_p, rtol=1e-5, atol=1e-7)


def test_matches_vjp_with_the_hand_written_cotangent():
    t = np.linspace(0.0, 1.0, 4)
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 1.0), [1.5, 1.0, 3.0, 1.0])
    w = np.arange(8.0).reshape(4, 2)
    value, g = value_and_grad(lambda u: np.sum(w * u) + u[-1, 1] ** 3, prob, saveat=t, **TIGHT)
    sol, pullback = bridge.vjp(prob, saveat=t, **TIGHT)
    cot = w.copy()
    cot[-1, 1] += 3 * sol.u[-1, 1] ** 2
    expected = pullback(cot)
    assert value == pytest.approx(np.sum(w * sol.u) + sol.u[-1, 1] ** 3, rel=1e-12)
    np.testing.assert_allclose(g.u0, expected.u0, rtol=1e-12)
    np.testing.assert_allclose(g.p, expected.p, rtol=1e-12)


def test_named_parameters_come_back_named():
    def named(u, p, t):
        return -p["k"] * u

    prob = bridge.ODEProblem(named, [1.0], (0.0, 1.0), {"k": 0.5})
    _, g = value_and_grad(lambda u: u[-1, 0], prob, saveat=[0.0, 1.0], **TIGHT)
    np.testing.assert_allclose(g.p_dict["k"], -np.exp(-0.5), rtol=1e-8)


def test_a_changed_closure_is_noticed_not_served_stale():
    t = np.linspace(0.0, 1.0, 3)
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    target = np.zeros((3, 1))

    def loss(u):
        return np.sum((u - target) ** 2)

    value_and_grad(loss, prob, saveat=t, **TIGHT)  # traces the loss with target = 0
    target[:] = 1.0  # the loss now means something else
    v2, g2 = value_and_grad(loss, prob, saveat=t, **TIGHT)
    u = np.exp(-0.5 * t)
    assert v2 == pytest.approx(np.sum((u - 1.0) ** 2), rel=1e-9)
    np.testing.assert_allclose(g2.u0, [np.sum(2 * (u - 1.0) * u)], rtol=1e-8)


@pytest.mark.parametrize(
    ("loss", "exc", "pattern"),
    [
        (
            lambda u: u,
            bridge.BridgeValueError,
            r"loss must return a scalar, got an array of shape \(3, 1\)",
        ),
        (lambda u: 1.0 if u[0, 0] > 0 else 0.0, bridge.TraceError, r"branches on a traced value"),
        ("sum", bridge.BridgeTypeError, r"loss must be a callable loss\(u\)"),
    ],
    ids=["not-scalar", "branch", "not-callable"],
)
def test_bad_loss(loss, exc, pattern):
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    with pytest.raises(exc, match=pattern):
        value_and_grad(loss, prob, saveat=[0.0, 0.5, 1.0], **TIGHT)


def test_saveat_is_required_and_options_checked():
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    with pytest.raises(TypeError, match="saveat"):
        value_and_grad(lambda u: np.sum(u), prob)  # type: ignore[call-arg]
    with pytest.raises(bridge.BridgeTypeError, match=r"unknown solver option\(s\) 'rtol'"):
        value_and_grad(lambda u: np.sum(u), prob, saveat=0.5, rtol=1e-3)
