"""Array models through the public API: solve, vjp, the torch adapter, checks and messages.

Gradients of solves are checked against central differences of tight solves and against
the same problem on the scalar path (the model swapped for a ``TracedModel``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bridge
from bridge._errors import GradientWarning, TraceError
from bridge._trace import trace_model
from bridge._trace.array import ArrayModel
from bridge._trace.model import TracedModel
from bridge._trace.tracer import trace

from .array_models import mlp, mlp_params

SIZES = [2, 12, 12, 2]  # 2*12+12 + 12*12+12 + 12*2+2 = 218 parameters: the array path
T_SAVE = np.linspace(0.0, 1.0, 6)
TIGHT = {"reltol": 1e-10, "abstol": 1e-12}


@pytest.fixture(scope="module")
def neural():
    f, _ = mlp(SIZES, "tanh", cube=True)
    p = mlp_params(SIZES, seed=2, scale=1.5)
    return f, p, np.array([1.0, -0.5])


def _loss_and_grad(prob, sensealg="auto"):
    sol, pullback = bridge.vjp(
        prob, "Tsit5", saveat=T_SAVE, sensealg=sensealg, backend="reference", **TIGHT
    )
    weights = np.arange(1.0, sol.u.size + 1).reshape(sol.u.shape) / sol.u.size
    return float(np.sum(weights * sol.u)), pullback(weights), weights


def test_a_neural_ode_takes_the_array_path_through_odeproblem(neural) -> None:
    f, p, u0 = neural
    prob = bridge.ODEProblem(f, u0, (0.0, 1.0), p)
    assert isinstance(prob.model, ArrayModel)


@pytest.mark.parametrize("sensealg", ["InterpolatingAdjoint", "ForwardDiffSensitivity"])
def test_gradients_match_central_differences_and_the_scalar_path(neural, sensealg) -> None:
    f, p, u0 = neural
    prob = bridge.ODEProblem(f, u0, (0.0, 1.0), p)
    assert isinstance(prob.model, ArrayModel)
    _, grads, weights = _loss_and_grad(prob, sensealg)

    scalar = bridge.ODEProblem(f, u0, (0.0, 1.0), p)
    scalar._model = TracedModel(f, trace(f, 2, p.size, None, "f"), None, "f")
    _, expected, _ = _loss_and_grad(scalar, sensealg)
    np.testing.assert_allclose(grads.u0, expected.u0, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads.p, expected.p, rtol=1e-6, atol=1e-9)

    def loss(u0_, p_):
        sol = bridge.solve(
            bridge.ODEProblem(f, u0_, (0.0, 1.0), p_),
            "Tsit5",
            saveat=T_SAVE,
            backend="reference",
            **TIGHT,
        )
        return float(np.sum(weights * sol.u))

    h = 1e-5
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        fd = (loss(u0 + e, p) - loss(u0 - e, p)) / (2 * h)
        assert grads.u0[i] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    for k in (0, 40, 100, p.size - 1):  # a first-layer weight, ..., the last bias
        e = np.zeros(p.size)
        e[k] = h
        fd = (loss(u0, p + e) - loss(u0, p - e)) / (2 * h)
        assert grads.p[k] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_stiff_solvers_use_the_dense_jacobian(neural) -> None:
    f, p, u0 = neural
    prob = bridge.ODEProblem(f, u0, (0.0, 1.0), p)
    sol = bridge.solve(prob, "Rodas5P", saveat=T_SAVE, backend="reference", **TIGHT)
    ref = bridge.solve(prob, "Tsit5", saveat=T_SAVE, backend="reference", **TIGHT)
    assert sol.success and sol.stats.njacs > 0
    np.testing.assert_allclose(sol.u, ref.u, rtol=1e-7, atol=1e-9)


def test_torch_training_step_on_the_array_path() -> None:
    torch = pytest.importorskip("torch")
    import bridge.torch as bt

    node = bt.NeuralODE(SIZES, backend="reference", alg="Tsit5", reltol=1e-8, abstol=1e-10)
    u0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    t = torch.tensor(T_SAVE)
    u = node(u0, t)
    (u**2).sum().backward()
    assert node.p.grad is not None and torch.all(torch.isfinite(node.p.grad))
    prob = bridge.ODEProblem(node.rhs, [1.0, -0.5], (0.0, 1.0), node.p.detach().numpy())
    assert isinstance(prob.model, ArrayModel)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", saveat=T_SAVE, backend="reference", reltol=1e-8, abstol=1e-10
    )
    expected = pullback(2 * sol.u).p
    np.testing.assert_allclose(node.p.grad.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_named_parameters_give_named_gradients() -> None:
    def named(u, p, t):
        return p["W2"] @ np.tanh(p["W1"] @ u + p["b1"]) + p["b2"]

    rng = np.random.default_rng(4)
    params = {
        "W1": rng.normal(size=(40, 2)) / 2,
        "b1": np.zeros(40),
        "W2": rng.normal(size=(2, 40)) / 6,
        "b2": np.zeros(2),
    }
    prob = bridge.ODEProblem(named, [0.5, -0.5], (0.0, 1.0), params)
    assert isinstance(prob.model, ArrayModel)
    sol, pullback = bridge.vjp(prob, "Tsit5", saveat=T_SAVE, backend="reference", **TIGHT)
    grads = pullback(np.ones_like(sol.u))
    assert {k: v.shape for k, v in grads.p_dict.items()} == {
        k: np.shape(v) for k, v in params.items()
    }

    def loss(w):
        q = {**params, "W1": w}
        out = bridge.solve(
            bridge.ODEProblem(named, [0.5, -0.5], (0.0, 1.0), q),
            "Tsit5",
            saveat=T_SAVE,
            backend="reference",
            **TIGHT,
        )
        return float(out.u.sum())

    h = 1e-5
    e = np.zeros((40, 2))
    e[3, 1] = h
    fd = (loss(params["W1"] + e) - loss(params["W1"] - e)) / (2 * h)
    assert grads.p_dict["W1"][3, 1] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_a_jumping_switch_on_the_state_warns_when_a_gradient_is_asked() -> None:
    def switching(u, p, t):
        w = p[:128].reshape(64, 2)
        return np.where(u > 0.5, -1.0, -0.1) * u + 0.01 * (w.T @ np.tanh(w @ u))

    prob = bridge.ODEProblem(switching, [1.0, 0.2], (0.0, 1.0), mlp_params([2, 64, 2])[:128])
    assert isinstance(prob.model, ArrayModel)
    with pytest.warns(GradientWarning, match="np.where at test_array_model.py"):
        bridge.vjp(prob, "Tsit5", saveat=[1.0], backend="reference")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientWarning)  # solving alone does not warn
        bridge.solve(prob, "Tsit5", saveat=[1.0], backend="reference")


def test_a_captured_matrix_changed_later_is_traced_again() -> None:
    w = np.full((64, 2), 0.1)

    def captured(u, p, t):
        return w.T @ np.tanh(w @ u) * p[0]

    first = trace_model(captured, 2, 1)
    assert isinstance(first, ArrayModel)
    u, p = np.array([1.0, 0.5]), np.array([1.0])
    before = first.f(u, p, 0.0)
    w[0, 0] = 5.0
    assert first.stale()
    second = trace_model(captured, 2, 1)
    assert second is not first
    np.testing.assert_allclose(second.f(u, p, 0.0), captured(u, p, 0.0), rtol=1e-13)
    assert not np.allclose(second.f(u, p, 0.0), before)


def test_code_that_takes_another_path_on_float_arrays_is_refused() -> None:
    def sneaky(u, p, t):
        w = p[:128].reshape(64, 2)
        if isinstance(u, np.ndarray):  # true at run time, false while tracing
            return -u
        return w.T @ np.tanh(w @ u)

    prob = bridge.ODEProblem(sneaky, [1.0, 0.5], (0.0, 1.0), mlp_params([2, 64, 2])[:128])
    with pytest.raises(TraceError, match="does not compute what the function computes"):
        prob.model  # noqa: B018
