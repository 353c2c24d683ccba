"""One training step (forward + backward) through an ODE solve: bridge against its peers.

Problems: a small neural ODE (2 -> 16 -> 2 tanh MLP, 82 parameters) and the Lotka-Volterra
parameter fit, each with a mean-squared loss against data. Contestants, all at the same
tolerances (reltol 1e-6, abstol 1e-8) and with Tsit5 / dopri5-class solvers:

* bridge.torch.odeint (backend from BRIDGE_BACKEND, default auto; here: reference)
* torchdiffeq.odeint (backpropagation through the solver) and torchdiffeq.odeint_adjoint
* bridge.jax.odeint under jax.jit, and diffrax.diffeqsolve under jax.jit (default adjoint)

Reported: the median wall time of a step, its ratio to bridge.torch, and the relative error
of the loss gradient (w.r.t. the parameters) against a tight reference (torchdiffeq dopri5 at
reltol = abstol = 1e-12, backpropagated).

Run: ``python bench/bench_autograd.py [--quick]``. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("BRIDGE_BACKEND", "reference")

import bridge.torch as bt

torch = bt.torch  # imported by bridge.torch, which may have to start Julia before it

RTOL, ATOL = 1e-6, 1e-8


# ---------------------------------------------------------------------------------- problems


def lotka_volterra(u: Any, p: Any, t: Any) -> Any:
    x, y = u
    a, b, c, d = p
    return [a * x - b * x * y, -c * y + d * x * y]


class Problem:
    def __init__(
        self,
        name: str,
        rhs: Callable[..., Any],
        torch_rhs: Callable[[Any, Any, Any], Any],
        u0: np.ndarray,
        t: np.ndarray,
        p_true: np.ndarray,
        p_start: np.ndarray,
        data: np.ndarray | None = None,
    ) -> None:
        self.name, self.rhs, self.torch_rhs = name, rhs, torch_rhs
        self.u0, self.t, self.p_true, self.p_start = u0, t, p_true, p_start
        self.data = data


def lv_problem() -> Problem:
    def torch_rhs(u: Any, p: Any, t: Any) -> Any:
        x, y = u[..., 0], u[..., 1]
        return torch.stack([p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y], dim=-1)

    return Problem(
        "Lotka-Volterra fit (4 params)",
        lotka_volterra,
        torch_rhs,
        np.array([1.0, 1.0]),
        np.linspace(0.0, 5.0, 21),
        np.array([1.5, 1.0, 3.0, 1.0]),
        np.array([1.3, 0.9, 3.2, 1.1]),
    )


def neural_problem() -> Problem:
    rhs, m = bt.mlp_rhs([2, 16, 2])
    rng = np.random.default_rng(0)
    p0 = rng.normal(scale=0.3, size=m)

    def torch_rhs(u: Any, p: Any, t: Any) -> Any:
        w1, b1 = p[:32].reshape(16, 2), p[32:48]
        w2, b2 = p[48:80].reshape(2, 16), p[80:82]
        return torch.tanh(u @ w1.T + b1) @ w2.T + b2

    t = np.linspace(0.0, 1.0, 10)
    data = np.stack([2 * np.cos(2 * t), -2 * np.sin(2 * t)], axis=1)  # a rotation to learn
    return Problem(
        "neural ODE 2-16-2 (82 params)", rhs, torch_rhs, np.array([2.0, 0.0]), t, p0, p0, data
    )


# ------------------------------------------------------------------------------- contestants


def torch_data(prob: Problem) -> torch.Tensor:
    if prob.data is not None:
        return torch.from_numpy(prob.data)
    return bt.odeint(
        prob.rhs,
        torch.from_numpy(prob.u0),
        torch.from_numpy(prob.t),
        torch.from_numpy(prob.p_true),
        alg="Tsit5",
        reltol=1e-12,
        abstol=1e-12,
    )


def bridge_torch_step(prob: Problem) -> Callable[[], np.ndarray]:
    u0, t, data = torch.from_numpy(prob.u0), torch.from_numpy(prob.t), torch_data(prob)

    def step() -> np.ndarray:
        p = torch.tensor(prob.p_start, requires_grad=True)
        u = bt.odeint(prob.rhs, u0, t, p, alg="Tsit5", reltol=RTOL, abstol=ATOL)
        ((u - data) ** 2).mean().backward()
        assert p.grad is not None
        return p.grad.numpy()

    return step


class _TorchFunc(torch.nn.Module):
    def __init__(self, prob: Problem, p: torch.Tensor) -> None:
        super().__init__()
        self.p = torch.nn.Parameter(p)
        self.rhs = prob.torch_rhs

    def forward(self, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.rhs(u, self.p, t)  # type: ignore[no-any-return]


def torchdiffeq_step(prob: Problem, adjoint: bool, rtol: float = RTOL, atol: float = ATOL):
    import torchdiffeq

    u0, t, data = torch.from_numpy(prob.u0), torch.from_numpy(prob.t), torch_data(prob)
    solver = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint

    def step() -> np.ndarray:
        func = _TorchFunc(prob, torch.tensor(prob.p_start))
        u = solver(func, u0, t, rtol=rtol, atol=atol, method="dopri5")
        ((u - data) ** 2).mean().backward()
        assert func.p.grad is not None
        return func.p.grad.numpy()

    return step


def jax_steps(prob: Problem) -> dict[str, Callable[[], np.ndarray]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import bridge.jax as bj

    u0, t, data = jnp.asarray(prob.u0), jnp.asarray(prob.t), jnp.asarray(torch_data(prob).numpy())

    @jax.jit
    def bridge_loss(p: Any) -> Any:
        u = bj.odeint(prob.rhs, u0, t, p, alg="Tsit5", reltol=RTOL, abstol=ATOL)
        return jnp.mean((u - data) ** 2)

    out = {"bridge.jax (jit)": _jax_step(jax.jit(jax.grad(bridge_loss)), prob)}
    try:
        import diffrax
    except ImportError:
        return out
    torch_rhs = prob.torch_rhs

    def vector_field(tt: Any, y: Any, p: Any) -> Any:
        if prob.name.startswith("Lotka"):
            x, yy = y[0], y[1]
            return jnp.stack([p[0] * x - p[1] * x * yy, -p[2] * yy + p[3] * x * yy])
        w1, b1 = p[:32].reshape(16, 2), p[32:48]
        w2, b2 = p[48:80].reshape(2, 16), p[80:82]
        return w2 @ jnp.tanh(w1 @ y + b1) + b2

    del torch_rhs

    def diffrax_loss(p: Any) -> Any:
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vector_field),
            diffrax.Tsit5(),
            t0=t[0],
            t1=t[-1],
            dt0=None,
            y0=u0,
            args=p,
            saveat=diffrax.SaveAt(ts=t),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            max_steps=100_000,
        )
        return jnp.mean((sol.ys - data) ** 2)

    out["diffrax (jit)"] = _jax_step(jax.jit(jax.grad(diffrax_loss)), prob)
    return out


def _jax_step(grad_fn: Callable[[Any], Any], prob: Problem) -> Callable[[], np.ndarray]:
    import jax.numpy as jnp

    p = jnp.asarray(prob.p_start)

    def step() -> np.ndarray:
        return np.asarray(grad_fn(p).block_until_ready())

    return step


# ------------------------------------------------------------------------------------- driver


def median_time(step: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    grad = step()  # warm-up: tracing, jit compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        grad = step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), grad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    print(
        f"bridge backend: {os.environ['BRIDGE_BACKEND']}; reltol={RTOL}, abstol={ATOL}; "
        f"median of {repeats} steps (after one warm-up)"
    )
    width = 30
    print(
        f"{'problem':<{width}}  {'contestant':<27} {'median ms':>10} {'vs bridge.torch':>16} "
        f"{'grad rel err':>13}"
    )
    for prob in (neural_problem(), lv_problem()):
        reference = torchdiffeq_step(prob, adjoint=False, rtol=1e-12, atol=1e-12)()
        steps: dict[str, Callable[[], np.ndarray]] = {
            "bridge.torch": bridge_torch_step(prob),
            "torchdiffeq.odeint": torchdiffeq_step(prob, adjoint=False),
            "torchdiffeq.odeint_adjoint": torchdiffeq_step(prob, adjoint=True),
        }
        steps.update(jax_steps(prob))
        base = None
        for who, step in steps.items():
            median, grad = median_time(step, repeats)
            base = base or median
            err = np.linalg.norm(grad - reference) / np.linalg.norm(reference)
            print(
                f"{prob.name:<{width}}  {who:<27} {median * 1e3:>10.2f} {median / base:>15.2f}x "
                f"{err:>13.2e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
