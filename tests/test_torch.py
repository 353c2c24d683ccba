"""bridge.torch: odeint as a torch.autograd.Function, NeuralODE, import order, bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bridge  # noqa: E402
import bridge.torch as bt  # noqa: E402
from tests.models import MODELS, lotka_volterra  # noqa: E402

TIGHT = {"reltol": 1e-10, "abstol": 1e-10, "backend": "reference"}
F64 = torch.float64


def decay(u, p, t):
    return -p[0] * u


def forced(u, p, t):  # non-autonomous, so the gradient with respect to t[0] is not trivial
    return [u[1], -p[0] * u[0] + np.sin(t)]


def tensor(values, grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=F64, requires_grad=grad)


LV_U0, LV_P = [1.0, 1.0], [1.5, 1.0, 3.0, 1.0]


# ----------------------------------------------------------------------------- values, gradients


def test_forward_matches_bridge_solve():
    t = np.linspace(0.0, 2.0, 7)
    u = bt.odeint(lotka_volterra, tensor(LV_U0), torch.from_numpy(t), tensor(LV_P), **TIGHT)
    prob = bridge.ODEProblem(lotka_volterra, LV_U0, (0.0, 2.0), LV_P)
    sol = bridge.solve(prob, saveat=t, **TIGHT)
    assert u.shape == (7, 2) and u.dtype == F64 and not u.requires_grad
    np.testing.assert_allclose(u.numpy(), sol.u, rtol=1e-12, atol=1e-12)


def test_decay_matches_analytic_gradients():
    u0, p = tensor([2.0], grad=True), tensor([0.7], grad=True)
    u = bt.odeint(decay, u0, tensor([0.0, 1.5]), p, **TIGHT)
    u[-1, 0].backward()
    np.testing.assert_allclose(u0.grad.numpy(), [np.exp(-0.7 * 1.5)], rtol=1e-8)
    np.testing.assert_allclose(p.grad.numpy(), [-1.5 * 2.0 * np.exp(-0.7 * 1.5)], rtol=1e-8)


def test_gradients_match_bridge_vjp():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 5)
    w = rng.normal(size=(5, 2))
    u0, p = tensor(LV_U0, grad=True), tensor(LV_P, grad=True)
    (
        bt.odeint(lotka_volterra, u0, torch.from_numpy(t), p, **TIGHT) * torch.from_numpy(w)
    ).sum().backward()
    prob = bridge.ODEProblem(lotka_volterra, LV_U0, (0.0, 1.0), LV_P)
    _, pullback = bridge.vjp(prob, saveat=t, **TIGHT)
    g = pullback(w)
    np.testing.assert_allclose(u0.grad.numpy(), g.u0, rtol=1e-10)
    np.testing.assert_allclose(p.grad.numpy(), g.p, rtol=1e-10)


def test_gradcheck_u0_p_t():
    u0, p = tensor([1.0, 0.5], grad=True), tensor([2.0], grad=True)
    t = tensor([0.1, 0.4, 0.9, 1.3], grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: bt.odeint(forced, a, c, b, **TIGHT), (u0, p, t), atol=1e-6
    )


def test_gradcheck_lotka_volterra_sensealgs():
    u0, p = tensor(LV_U0, grad=True), tensor(LV_P, grad=True)
    t = tensor([0.0, 0.5, 1.0])
    for sensealg in ("ForwardDiffSensitivity", "InterpolatingAdjoint"):
        assert torch.autograd.gradcheck(
            lambda a, b, s=sensealg: bt.odeint(lotka_volterra, a, t, b, sensealg=s, **TIGHT),
            (u0, p),
            atol=1e-6,
        )


def test_reverse_time_and_problem_input():
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5])
    p = tensor([0.5], grad=True)
    u = bt.odeint(prob, None, tensor([1.0, 0.0]), p, **TIGHT)  # u0 from the problem, at t=1
    np.testing.assert_allclose(u[:, 0].detach().numpy(), [1.0, np.exp(0.5)], rtol=1e-8)
    u[-1, 0].backward()
    np.testing.assert_allclose(p.grad.numpy(), [np.exp(0.5)], rtol=1e-8)  # u(0) = e^p u(1)


def test_named_parameters_problem_takes_flat_p():
    def lv_named(u, p, t):
        x, y = u
        return [p["a"] * x - p["bc"][0] * x * y, -p["bc"][1] * y + p["d"] * x * y]

    prob = bridge.ODEProblem(lv_named, LV_U0, (0.0, 1.0), {"a": 1.5, "bc": [1.0, 3.0], "d": 1.0})
    p = tensor(LV_P, grad=True)
    t = tensor([0.0, 1.0])
    bt.odeint(prob, tensor(LV_U0), t, p, **TIGHT).sum().backward()
    q = tensor(LV_P, grad=True)
    bt.odeint(lotka_volterra, tensor(LV_U0), t, q, **TIGHT).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10)


def test_float32_is_cast_once_and_back():
    u0, p = torch.tensor([2.0], requires_grad=True), torch.tensor([0.7], requires_grad=True)
    u = bt.odeint(decay, u0, torch.tensor([0.0, 1.0]), p, **TIGHT)
    assert u.dtype == torch.float32
    u[-1, 0].backward()
    assert u0.grad.dtype == torch.float32 and p.grad.dtype == torch.float32
    np.testing.assert_allclose(p.grad.numpy(), [-2.0 * np.exp(-0.7)], rtol=1e-6)


def test_the_problem_owns_its_inputs_and_the_result_is_not_copied(monkeypatch):
    # The problem keeps its own copies of u0 and p (so a later in-place edit of the tensors
    # cannot change a pullback); the solution crosses back into torch without a copy.
    import bridge._api

    seen = {}
    real_vjp = bridge._api.vjp

    def spy(prob, *args, **kw):
        seen["prob"] = prob
        sol, pullback = real_vjp(prob, *args, **kw)
        seen["u"] = sol.u
        return sol, pullback

    monkeypatch.setattr(bridge._api, "vjp", spy)
    u0, p = tensor([2.0], grad=True), tensor([0.7], grad=True)
    u = bt.odeint(decay, u0, tensor([0.0, 1.0]), p, **TIGHT)
    assert not np.shares_memory(seen["prob"].u0, u0.detach().numpy())
    assert not np.shares_memory(seen["prob"].p, p.detach().numpy())
    assert np.shares_memory(u.detach().numpy(), seen["u"])


def test_in_place_edit_before_backward_is_refused():
    u0, p = tensor([2.0], grad=True), tensor([0.7], grad=True)
    u = bt.odeint(decay, u0, tensor([0.0, 1.0]), p, **TIGHT)
    with torch.no_grad():
        u.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        u.sum().backward()


def test_lotka_volterra_fit_reduces_loss():
    t = torch.linspace(0.0, 2.0, 9, dtype=F64)
    data = bt.odeint(lotka_volterra, tensor(LV_U0), t, tensor(LV_P), **TIGHT)
    p = tensor([1.3, 0.9, 3.2, 1.1], grad=True)
    opt = torch.optim.Adam([p], lr=0.05)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        u = bt.odeint(lotka_volterra, tensor(LV_U0), t, p, reltol=1e-6, abstol=1e-8)
        loss = ((u - data) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ----------------------------------------------------------------------------------- neural ODE


def test_mlp_rhs_layout_matches_nn_sequential():
    seq = torch.nn.Sequential(
        torch.nn.Linear(2, 5, dtype=F64), torch.nn.Tanh(), torch.nn.Linear(5, 2, dtype=F64)
    )
    model = bt.NeuralODE(seq, backend="reference")
    assert model.layer_sizes == [2, 5, 2] and model.activation == "tanh"
    u = np.array([0.3, -0.8])
    expected = seq(torch.from_numpy(u)).detach().numpy()
    np.testing.assert_allclose(model.rhs(u, model.p.detach().numpy(), 0.0), expected, rtol=1e-12)
    back = model.to_module()
    np.testing.assert_allclose(back(torch.from_numpy(u)).detach().numpy(), expected, rtol=1e-12)


def test_mlp_rhs_agrees_with_the_catalogue_mlp():
    f, m = bt.mlp_rhs([2, 16, 2])
    example = MODELS["mlp_2_16_2"]
    assert m == example.p.size
    u = np.array([0.4, -1.1])
    np.testing.assert_allclose(f(u, example.p, 0.0), example.f(u, example.p, 0.0), rtol=1e-13)


def test_neural_ode_trains():
    torch.manual_seed(0)
    t = torch.linspace(0.0, 1.0, 8, dtype=F64)
    u0 = tensor([1.0, 0.0])
    target = torch.stack([torch.cos(2 * t), -torch.sin(2 * t)], dim=1)  # a rotation
    model = bt.NeuralODE([2, 8, 2], reltol=1e-6, abstol=1e-8, backend="reference")
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = ((model(u0, t) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (
            lambda: bt.odeint(
                decay, torch.ones(1, dtype=F64, device="meta"), tensor([0.0, 1.0]), tensor([1.0])
            ),
            bridge.BridgeValueError,
            r"u0 is on device meta, but bridge.torch solves on the CPU: pass u0.cpu\(\)",
        ),
        (
            lambda: bt.odeint(
                decay, tensor([1.0]), tensor([0.0, 1.0]), torch.ones(1, device="meta")
            ),
            bridge.BridgeValueError,
            r"p is on device meta",
        ),
        (
            lambda: bt.odeint(decay, torch.ones(2, 1, 1), tensor([0.0, 1.0]), tensor([1.0])),
            bridge.BridgeValueError,
            r"u0 must be a 1-D tensor \(or 2-D, one row per member of a batch\), got shape "
            r"\(2, 1, 1\)",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0]), tensor([1.0])),
            bridge.BridgeValueError,
            r"t must hold at least two times .*got array\(\[0.\]\)",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0, 1.0, 0.5]), tensor([1.0])),
            bridge.BridgeValueError,
            r"t must be strictly increasing .*t\[1\] = 1.0 and t\[2\] = 0.5",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0, float("nan")]), tensor([1.0])),
            bridge.BridgeValueError,
            r"t must be finite, but entry 1 is nan",
        ),
        (
            lambda: bt.odeint(decay, torch.tensor([1j]), tensor([0.0, 1.0]), tensor([1.0])),
            bridge.BridgeTypeError,
            r"u0 must hold real numbers, got dtype torch.complex64",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0, 1.0]), tensor([1.0]), saveat=0.1),
            bridge.BridgeTypeError,
            r"odeint\(\) takes no saveat: the solution is saved at the times t",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0, 1.0]), tensor([1.0]), rtol=1e-3),
            bridge.BridgeTypeError,
            r"unknown solver option\(s\) 'rtol'; valid options: reltol, abstol, maxiters",
        ),
        (
            lambda: bt.odeint("decay", tensor([1.0]), tensor([0.0, 1.0]), tensor([1.0])),
            bridge.BridgeTypeError,
            r"first argument, got str",
        ),
        (
            lambda: bt.odeint(
                bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [0.5]),
                tensor([1.0, 2.0]),
                tensor([0.0, 1.0]),
                None,
            ),
            bridge.BridgeValueError,
            r"u0 has length 2, but the problem 'decay' has 1 states",
        ),
        (
            lambda: bt.odeint(decay, tensor([1.0]), tensor([0.0, 1.0]), tensor([1.0]), alg="RK4"),
            bridge.BridgeValueError,
            r"alg='RK4' is not a known algorithm",
        ),
        (
            lambda: bt.NeuralODE([2, 8, 3]),
            bridge.BridgeValueError,
            r"the first and last layer sizes must agree, got 2 and 3",
        ),
        (
            lambda: bt.NeuralODE(
                torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
            ),
            bridge.BridgeValueError,
            r"NeuralODE needs an nn.Sequential of nn.Linear layers",
        ),
    ],
    ids=[
        "u0-meta-device",
        "p-meta-device",
        "u0-2d",
        "t-one-time",
        "t-not-monotone",
        "t-nan",
        "u0-complex",
        "saveat",
        "unknown-option",
        "rhs-not-callable",
        "u0-length-vs-problem",
        "unknown-alg",
        "layer-sizes",
        "relu-module",
    ],
)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_failed_solve_raises():
    with (
        pytest.raises(bridge.SolveFailedError, match="MaxIters"),
        pytest.warns(bridge.SolverWarning),
    ):
        bt.odeint(
            decay,
            tensor([1.0], grad=True),
            tensor([0.0, 10.0]),
            tensor([1.0]),
            maxiters=2,
            backend="reference",
        )


# --------------------------------------------------------------------------------- import order


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_import_bridge_loads_no_torch_and_bridge_torch_starts_julia_first():
    # One subprocess (importing torch is slow): Julia is faked as usable, so bridge.torch must
    # start it before importing torch, with no warning (-W error).
    code = """
        import sys, bridge
        before = ("torch" in sys.modules, "jax" in sys.modules)
        from bridge import _julia
        _julia.status = lambda refresh=False: _julia.JuliaStatus(usable=True)
        started = []
        _julia.jl = lambda: started.append("torch" in sys.modules)
        import bridge.torch
        print(*before, started, "torch" in sys.modules)
    """
    out = _run(code, BRIDGE_BACKEND="auto")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "[False]", "True"]


def test_reference_backend_import_path_warns_nothing(monkeypatch):
    for backend in ("reference", "auto"):  # auto: Julia is not usable on these machines
        monkeypatch.setenv("BRIDGE_BACKEND", backend)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            bt._start_julia_before_torch()


def _fake_usable_julia(monkeypatch: pytest.MonkeyPatch, started: list[bool]) -> None:
    from bridge import _julia

    def fake_jl() -> object:
        started.append("torch" in sys.modules)
        return object()

    monkeypatch.setattr(_julia, "status", lambda refresh=False: _julia.JuliaStatus(usable=True))
    monkeypatch.setattr(_julia, "jl", fake_jl)
    monkeypatch.setattr(_julia, "started", lambda: False)
    monkeypatch.setenv("BRIDGE_BACKEND", "auto")


def test_torch_already_imported_warns_when_julia_would_be_used(monkeypatch):
    started: list[bool] = []
    _fake_usable_julia(monkeypatch, started)
    with pytest.warns(RuntimeWarning, match="torch was imported before Julia started"):
        bt._start_julia_before_torch()
    assert started == []  # too late to help: warn, do not start Julia after torch


def test_forced_reference_backend_never_starts_julia(monkeypatch):
    started: list[bool] = []
    _fake_usable_julia(monkeypatch, started)
    monkeypatch.setenv("BRIDGE_BACKEND", "reference")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bt._start_julia_before_torch()
    assert started == []


# ------------------------------------------------------------------------------- batches


def test_a_batch_is_one_ensemble_with_each_members_answer():
    U0 = tensor([[1.0, 1.0], [1.2, 0.8], [0.9, 1.1]])
    P = tensor([LV_P, [1.4, 1.0, 3.1, 1.0], [1.6, 0.9, 2.9, 1.1]], grad=True)
    t = tensor([0.0, 0.5, 1.0])
    u = bt.odeint(lotka_volterra, U0, t, P, **TIGHT)
    assert u.shape == (3, 3, 2)
    w = torch.arange(18, dtype=F64).reshape(3, 3, 2)
    (u * w).sum().backward()
    for i in range(3):
        p_i = P.detach()[i].clone().requires_grad_(True)
        u_i = bt.odeint(lotka_volterra, U0[i], t, p_i, **TIGHT)
        np.testing.assert_allclose(u.detach()[i].numpy(), u_i.detach().numpy(), rtol=1e-12)
        (u_i * w[i]).sum().backward()
        np.testing.assert_allclose(P.grad[i].numpy(), p_i.grad.numpy(), rtol=1e-9)


def test_a_shared_p_gets_the_sum_of_its_members_gradients():
    U0 = tensor([[2.0], [1.0]], grad=True)
    p = tensor([0.7], grad=True)
    t = tensor([0.0, 1.0])
    bt.odeint(decay, U0, t, p, **TIGHT)[:, -1, 0].sum().backward()
    # u(1) = u0 e^{-p}: d/dp sum = -(2 + 1) e^{-0.7}; d/du0_i = e^{-0.7}
    np.testing.assert_allclose(p.grad.numpy(), [-3.0 * np.exp(-0.7)], rtol=1e-7)
    np.testing.assert_allclose(U0.grad.numpy()[:, 0], [np.exp(-0.7)] * 2, rtol=1e-7)


def test_a_batch_on_processes_equals_serial():
    U0 = tensor([[1.0, 1.0], [1.2, 0.8]])
    t = tensor([0.0, 0.5, 1.0])
    serial = bt.odeint(lotka_volterra, U0, t, tensor(LV_P), **TIGHT)
    procs = bt.odeint(lotka_volterra, U0, t, tensor(LV_P), ensemble="processes", **TIGHT)
    np.testing.assert_array_equal(serial.numpy(), procs.numpy())


def test_batch_rows_must_agree():
    with pytest.raises(bridge.BridgeValueError, match=r"u0 has 2 rows \(members\) but p has 3"):
        bt.odeint(
            decay, torch.ones(2, 1, dtype=F64), tensor([0.0, 1.0]), torch.ones(3, 1, dtype=F64)
        )


def test_a_batch_t_gradient_is_the_sum_over_members():
    U0 = tensor([[1.0, 1.0], [1.2, 0.8]])
    t = tensor([0.0, 0.5, 1.0], grad=True)
    bt.odeint(lotka_volterra, U0, t, tensor(LV_P), **TIGHT).pow(2).sum().backward()
    total = np.zeros(3)
    for i in range(2):
        t_i = tensor([0.0, 0.5, 1.0], grad=True)
        bt.odeint(lotka_volterra, U0[i], t_i, tensor(LV_P), **TIGHT).pow(2).sum().backward()
        total += t_i.grad.numpy()
    np.testing.assert_allclose(t.grad.numpy(), total, rtol=1e-9)
