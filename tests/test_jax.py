"""bridge.jax: odeint as a custom_vjp around pure_callback, under jit, grad and vmap."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import bridge  # noqa: E402
import bridge.jax as bj  # noqa: E402
from tests.models import lotka_volterra  # noqa: E402

TIGHT = {"reltol": 1e-10, "abstol": 1e-10, "backend": "reference"}


def decay(u, p, t):
    return -p[0] * u


def forced(u, p, t):
    return [u[1], -p[0] * u[0] + np.sin(t)]


LV_U0, LV_P = jnp.array([1.0, 1.0]), jnp.array([1.5, 1.0, 3.0, 1.0])


def test_forward_matches_bridge_solve():
    t = np.linspace(0.0, 2.0, 7)
    u = bj.odeint(lotka_volterra, LV_U0, t, LV_P, **TIGHT)
    sol = bridge.solve(
        bridge.ODEProblem(lotka_volterra, LV_U0, (0.0, 2.0), LV_P), saveat=t, **TIGHT
    )
    assert u.shape == (7, 2) and u.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(u), sol.u, rtol=1e-12, atol=1e-12)


def test_decay_analytic_gradients_eager_and_jit():
    def loss(u0, p):
        return bj.odeint(decay, u0, jnp.array([0.0, 1.5]), p, **TIGHT)[-1, 0]

    for grad in (jax.grad(loss, argnums=(0, 1)), jax.jit(jax.grad(loss, argnums=(0, 1)))):
        g_u0, g_p = grad(jnp.array([2.0]), jnp.array([0.7]))
        np.testing.assert_allclose(g_u0, [np.exp(-1.05)], rtol=1e-8)
        np.testing.assert_allclose(g_p, [-1.5 * 2.0 * np.exp(-1.05)], rtol=1e-8)


def test_gradients_match_bridge_vjp():
    t = np.linspace(0.0, 1.0, 5)
    w = np.random.default_rng(1).normal(size=(5, 2))
    g_u0, g_p = jax.grad(
        lambda a, b: jnp.sum(bj.odeint(lotka_volterra, a, t, b, **TIGHT) * w), argnums=(0, 1)
    )(LV_U0, LV_P)
    _, pullback = bridge.vjp(
        bridge.ODEProblem(lotka_volterra, LV_U0, (0.0, 1.0), LV_P), saveat=t, **TIGHT
    )
    g = pullback(w)
    np.testing.assert_allclose(g_u0, g.u0, rtol=1e-10)
    np.testing.assert_allclose(g_p, g.p, rtol=1e-10)


def test_check_grads_reverse_mode_including_t():
    f = lambda u0, t, p: bj.odeint(forced, u0, t, p, **TIGHT)  # noqa: E731
    check_grads(
        f,
        (jnp.array([1.0, 0.5]), jnp.array([0.1, 0.4, 0.9, 1.3]), jnp.array([2.0])),
        order=1,
        modes=["rev"],
    )
    check_grads(
        jax.jit(f),
        (jnp.array([1.0, 0.5]), jnp.array([0.0, 0.7]), jnp.array([2.0])),
        order=1,
        modes=["rev"],
    )


def test_problem_input_with_named_parameters():
    def lv_named(u, p, t):
        x, y = u
        return [p["a"] * x - p["bc"][0] * x * y, -p["bc"][1] * y + p["d"] * x * y]

    prob = bridge.ODEProblem(lv_named, LV_U0, (0.0, 1.0), {"a": 1.5, "bc": [1.0, 3.0], "d": 1.0})
    t = jnp.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(
        bj.odeint(prob, None, t, None, **TIGHT), bj.odeint(lotka_volterra, LV_U0, t, LV_P, **TIGHT)
    )
    g_named = jax.grad(lambda p: jnp.sum(bj.odeint(prob, None, t, p, **TIGHT)))(LV_P)
    g_flat = jax.grad(lambda p: jnp.sum(bj.odeint(lotka_volterra, LV_U0, t, p, **TIGHT)))(LV_P)
    np.testing.assert_allclose(g_named, g_flat, rtol=1e-10)


def test_vmap_is_correct():
    ps = jnp.array([[0.5], [1.0], [2.0]])
    us = jax.vmap(lambda p: bj.odeint(decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), p, **TIGHT))(
        ps
    )
    np.testing.assert_allclose(us[:, -1, 0], np.exp(-ps[:, 0]), rtol=1e-8)
    gs = jax.vmap(
        jax.grad(
            lambda p: bj.odeint(decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), p, **TIGHT)[-1, 0]
        )
    )(ps)
    np.testing.assert_allclose(gs[:, 0], -np.exp(-ps[:, 0]), rtol=1e-8)


def test_pullback_is_released_after_backward_and_recomputed_when_gone():
    f = lambda p: bj.odeint(decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), p, **TIGHT)  # noqa: E731
    u, pull = jax.vjp(f, jnp.array([0.5]))
    (g1,) = pull(jnp.ones_like(u))
    assert not bj._PENDING
    (g2,) = pull(jnp.ones_like(u))  # the pullback was consumed: solved again, same answer
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_float32_inputs_give_float32_results():
    u = bj.odeint(
        decay,
        jnp.array([1.0], jnp.float32),
        jnp.array([0.0, 1.0]),
        jnp.array([0.5], jnp.float32),
        **TIGHT,
    )
    assert u.dtype == jnp.float32
    g = jax.grad(
        lambda p: bj.odeint(
            decay, jnp.array([1.0], jnp.float32), jnp.array([0.0, 1.0]), p, **TIGHT
        )[-1, 0]
    )(jnp.array([0.5], jnp.float32))
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, [-np.exp(-0.5)], rtol=1e-6)


def test_lotka_volterra_fit_reduces_loss():
    t = jnp.linspace(0.0, 2.0, 9)
    data = bj.odeint(lotka_volterra, LV_U0, t, LV_P, **TIGHT)
    opts = {"reltol": 1e-6, "abstol": 1e-8, "backend": "reference"}

    def loss(p):
        return jnp.mean((bj.odeint(lotka_volterra, LV_U0, t, p, **opts) - data) ** 2)

    step = jax.jit(jax.value_and_grad(loss))
    p = jnp.array([1.3, 0.9, 3.2, 1.1])
    losses = []
    for _ in range(8):
        value, g = step(p)
        p = p - 0.03 * g / (jnp.linalg.norm(g) + 1e-12)  # normalised gradient descent
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (
            lambda: bj.odeint(decay, jnp.ones((2, 1)), jnp.array([0.0, 1.0]), jnp.array([1.0])),
            bridge.BridgeValueError,
            r"u0 must be a 1-D array, got shape \(2, 1\); for a batch of problems use jax.vmap",
        ),
        (
            lambda: bj.odeint(decay, jnp.array([1.0]), jnp.array([1.0]), jnp.array([1.0])),
            bridge.BridgeValueError,
            r"t must hold at least two times",
        ),
        (
            lambda: bj.odeint(
                decay, jnp.array([1.0]), jnp.array([0.0, 1.0, 0.5]), jnp.array([1.0])
            ),
            bridge.BridgeValueError,
            r"t must be strictly increasing .*t\[1\] = 1.0 and t\[2\] = 0.5",
        ),
        (
            lambda: bj.odeint(decay, jnp.array([jnp.nan]), jnp.array([0.0, 1.0]), jnp.array([1.0])),
            bridge.BridgeValueError,
            r"u0 must be finite, but entry 0 is nan",
        ),
        (
            lambda: bj.odeint(decay, jnp.array([1j]), jnp.array([0.0, 1.0]), jnp.array([1.0])),
            bridge.BridgeTypeError,
            r"u0 must hold real numbers, got dtype complex128",
        ),
        (
            lambda: bj.odeint(
                decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), jnp.array([1.0]), saveat=0.1
            ),
            bridge.BridgeTypeError,
            r"takes no saveat",
        ),
        (
            lambda: bj.odeint(
                decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), jnp.array([1.0]), reltol=-1.0
            ),
            bridge.BridgeValueError,
            r"reltol must be positive, got -1.0",
        ),
        (
            lambda: bj.odeint(
                decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), jnp.array([1.0]), sensealg="Adjoint"
            ),
            bridge.BridgeValueError,
            r"sensealg='Adjoint' is not a known sensitivity method",
        ),
    ],
    ids=[
        "u0-2d",
        "t-one-time",
        "t-not-monotone",
        "u0-nan",
        "u0-complex",
        "saveat",
        "reltol",
        "sensealg",
    ],
)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_bad_value_under_jit_names_the_problem():
    f = jax.jit(
        lambda t: bj.odeint(decay, jnp.array([1.0]), t, jnp.array([1.0]), backend="reference")
    )
    with pytest.raises(Exception, match="BridgeValueError: t must be strictly increasing"):
        f(jnp.array([0.0, 1.0, 0.5])).block_until_ready()


def test_x64_off_warns_once_and_rounds_to_float32(monkeypatch):
    monkeypatch.setattr(bj, "_warned_x64", False)
    with jax.enable_x64(False), pytest.warns(UserWarning, match="jax_enable_x64 is off") as record:
        args = (jnp.array([1.0]), jnp.array([0.0, 1.0]), jnp.array([0.5]))
        u = bj.odeint(decay, *args, **TIGHT)
        g = jax.grad(lambda p: bj.odeint(decay, args[0], args[1], p, **TIGHT)[-1, 0])(args[2])
    assert u.dtype == jnp.float32 and g.dtype == jnp.float32
    assert sum("jax_enable_x64" in str(w.message) for w in record) == 1
    np.testing.assert_allclose(g, [-np.exp(-0.5)], rtol=1e-6)


def test_vmap_reaches_the_host_as_one_ensemble(monkeypatch):
    from bridge import _odeint

    calls = {"solve": 0, "vjp": 0}
    real_solve, real_vjp = _odeint.Odeint.solve_batch, _odeint.Odeint.vjp_batch

    def solve_batch(self, *a):
        calls["solve"] += 1
        return real_solve(self, *a)

    def vjp_batch(self, *a):
        calls["vjp"] += 1
        return real_vjp(self, *a)

    monkeypatch.setattr(_odeint.Odeint, "solve_batch", solve_batch)
    monkeypatch.setattr(_odeint.Odeint, "vjp_batch", vjp_batch)
    t = jnp.array([0.0, 0.5, 1.0])
    ps = jnp.array([[1.5, 1.0, 3.0, 1.0], [1.4, 1.1, 2.9, 1.0], [1.6, 0.9, 3.1, 1.1]])

    def loss(p):
        return jnp.sum(bj.odeint(lotka_volterra, LV_U0, t, p, **TIGHT) ** 2)

    us = jax.vmap(lambda p: bj.odeint(lotka_volterra, LV_U0, t, p, **TIGHT))(ps)
    assert calls["solve"] == 1 and us.shape == (3, 3, 2)
    gs = jax.vmap(jax.grad(loss))(ps)
    assert calls["vjp"] == 1
    for i in range(3):
        np.testing.assert_allclose(
            us[i], bj.odeint(lotka_volterra, LV_U0, t, ps[i], **TIGHT), rtol=1e-12
        )
        np.testing.assert_allclose(gs[i], jax.grad(loss)(ps[i]), rtol=1e-9)


def test_vmap_over_t_and_nested_vmap():
    # members with their own save times are solved one by one, in the same single callback
    ts = jnp.array([[0.0, 0.5, 1.0], [0.0, 0.7, 1.4]])
    f = lambda t: bj.odeint(decay, jnp.array([1.0]), t, jnp.array([0.5]), **TIGHT)  # noqa: E731
    us = jax.vmap(f)(ts)
    np.testing.assert_allclose(us[:, :, 0], np.exp(-0.5 * ts), rtol=1e-8)
    g_t = jax.vmap(jax.grad(lambda t: f(t)[-1, 0]))(ts)
    np.testing.assert_allclose(g_t[:, -1], -0.5 * np.exp(-0.5 * ts[:, -1]), rtol=1e-7)
    ps = jnp.array([[[0.5], [1.0]], [[2.0], [3.0]]])
    nested = jax.vmap(
        jax.vmap(lambda p: bj.odeint(decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), p, **TIGHT))
    )(ps)
    np.testing.assert_allclose(nested[..., -1, 0], np.exp(-ps[..., 0]), rtol=1e-8)
