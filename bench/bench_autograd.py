"""One training step (forward + backward) through an ODE solve: bridge against its peers.

Problems, each with a mean-squared loss against data:

* **spiral 2→64→64→2** (issue 16's target): the neural ODE du/dt = MLP(u³) of Chen et al. /
  DiffEqFlux on the spiral data (du/dt = Aᵀu³, u0 = [2, 0], 30 points on t ∈ [0, 1.5]),
  a tanh MLP with 4,482 parameters initialised as ``torch.nn.Linear`` does (seed 0). It
  takes bridge's array path;
* a small neural ODE (2 → 16 → 2 tanh MLP, 82 parameters; bridge's scalar path);
* the Lotka–Volterra parameter fit.

Contestants, all at the same tolerances (reltol 1e-6, abstol 1e-8) with Tsit5 / dopri5-class
solvers:

* bridge.torch.odeint (backend from BRIDGE_BACKEND, default here: reference)
* torchdiffeq.odeint (backpropagation through the solver) and torchdiffeq.odeint_adjoint
* bridge.jax.odeint under jax.jit, and diffrax.diffeqsolve under jax.jit (default adjoint)

Reported: the median wall time of a step (after one warm-up; slow contestants get fewer
repeats, within ``--budget`` seconds), its ratio to bridge.torch, and the relative error of
the loss gradient (w.r.t. the parameters) against a tight reference (torchdiffeq dopri5 at
reltol = abstol = 1e-12, backpropagated). Per problem, bridge's gradient time is also given
as a multiple of its forward solve (``bridge.vjp`` + pullback against ``bridge.solve``).

Run: ``python bench/bench_autograd.py [--quick] [--problems spiral,neural,lv]``. Not a test.
The machine may be shared: compare the ratios, which come from one run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("BRIDGE_BACKEND", "reference")

import bridge
import bridge.torch as bt
from tests.models import lotka_volterra

torch = bt.torch  # imported by bridge.torch, which may have to start Julia before it

RTOL, ATOL = 1e-6, 1e-8


# ---------------------------------------------------------------------------------- problems


class Problem:
    def __init__(
        self,
        name: str,
        rhs: Callable[..., Any],
        torch_rhs: Callable[[Any, Any, Any], Any],
        jax_rhs: Callable[[Any, Any, Any], Any],
        u0: np.ndarray,
        t: np.ndarray,
        p_true: np.ndarray,
        p_start: np.ndarray,
        data: np.ndarray | None = None,
    ) -> None:
        self.name, self.rhs, self.torch_rhs, self.jax_rhs = name, rhs, torch_rhs, jax_rhs
        self.u0, self.t, self.p_true, self.p_start = u0, t, p_true, p_start
        self.data = data


def lv_problem() -> Problem:
    def torch_rhs(u: Any, p: Any, t: Any) -> Any:
        x, y = u[..., 0], u[..., 1]
        return torch.stack([p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y], dim=-1)

    def jax_rhs(y: Any, p: Any, t: Any) -> Any:
        import jax.numpy as jnp

        return jnp.stack([p[0] * y[0] - p[1] * y[0] * y[1], -p[2] * y[1] + p[3] * y[0] * y[1]])

    return Problem(
        "Lotka-Volterra fit (4 params)",
        lotka_volterra,
        torch_rhs,
        jax_rhs,
        np.array([1.0, 1.0]),
        np.linspace(0.0, 5.0, 21),
        np.array([1.5, 1.0, 3.0, 1.0]),
        np.array([1.3, 0.9, 3.2, 1.1]),
    )


def _layers(sizes: list[int]) -> list[tuple[int, int, int]]:
    """(start, out, in) of each weight in ``bt.mlp_rhs``'s layout (weight, then bias)."""
    out, start = [], 0
    for n_in, n_out in itertools.pairwise(sizes):
        out.append((start, n_out, n_in))
        start += n_out * n_in + n_out
    return out


def _mlp(sizes: list[int], xp: Any, cube: bool) -> Callable[[Any, Any, Any], Any]:
    """The same MLP for torch or jax.numpy (``xp``), on batched or single states."""
    layers = _layers(sizes)

    def rhs(u: Any, p: Any, t: Any) -> Any:
        h = u**3 if cube else u
        for k, (w0, n_out, n_in) in enumerate(layers):
            w = p[w0 : w0 + n_out * n_in].reshape(n_out, n_in)
            h = h @ w.T + p[w0 + n_out * n_in : w0 + n_out * n_in + n_out]
            if k < len(layers) - 1:
                h = xp.tanh(h)
        return h

    return rhs


def _jax_mlp(sizes: list[int], cube: bool) -> Callable[[Any, Any, Any], Any]:
    def rhs(y: Any, p: Any, t: Any) -> Any:
        import jax.numpy as jnp

        return _mlp(sizes, jnp, cube)(y, p, t)

    return rhs


def neural_problem() -> Problem:
    sizes = [2, 16, 2]
    rhs, m = bt.mlp_rhs(sizes)
    rng = np.random.default_rng(0)
    p0 = rng.normal(scale=0.3, size=m)
    t = np.linspace(0.0, 1.0, 10)
    data = np.stack([2 * np.cos(2 * t), -2 * np.sin(2 * t)], axis=1)  # a rotation to learn
    return Problem(
        "neural ODE 2-16-2 (82 params)",
        rhs,
        _mlp(sizes, torch, cube=False),
        _jax_mlp(sizes, cube=False),
        np.array([2.0, 0.0]),
        t,
        p0,
        p0,
        data,
    )


SPIRAL_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])


def spiral_problem() -> Problem:
    sizes = [2, 64, 64, 2]
    mlp, m = bt.mlp_rhs(sizes)

    def rhs(u: Any, p: Any, t: Any) -> Any:
        return mlp(u**3, p, t)

    torch.manual_seed(0)
    layers: list[Any] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if k:
            layers.append(torch.nn.Tanh())
        layers.append(torch.nn.Linear(n_in, n_out, dtype=torch.float64))
    init = torch.nn.utils.parameters_to_vector(torch.nn.Sequential(*layers).parameters())
    p0 = init.detach().numpy().copy()
    assert p0.size == m
    t = np.linspace(0.0, 1.5, 30)
    truth = bridge.ODEProblem(
        lambda u, p, t: p.reshape(2, 2).T @ u**3, [2.0, 0.0], (0.0, 1.5), SPIRAL_A.ravel()
    )
    data = bridge.solve(truth, "Tsit5", saveat=t, reltol=1e-12, abstol=1e-12).u
    return Problem(
        f"spiral 2-64-64-2 ({m:,} params)",
        rhs,
        _mlp(sizes, torch, cube=True),
        _jax_mlp(sizes, cube=True),
        np.array([2.0, 0.0]),
        t,
        p0,
        p0,
        np.asarray(data),
    )


PROBLEMS = {"spiral": spiral_problem, "neural": neural_problem, "lv": lv_problem}


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

    def vector_field(tt: Any, y: Any, p: Any) -> Any:
        return prob.jax_rhs(y, p, tt)

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


def gradient_over_forward(prob: Problem, repeats: int) -> tuple[float, float]:
    """Median seconds of bridge's forward solve and of its vjp + pullback, same options."""
    problem = bridge.ODEProblem(prob.rhs, prob.u0, (prob.t[0], prob.t[-1]), prob.p_start)
    data = torch_data(prob).numpy()
    options = {"saveat": prob.t, "reltol": RTOL, "abstol": ATOL}

    def forward() -> np.ndarray:
        return bridge.solve(problem, "Tsit5", **options).u

    def gradient() -> np.ndarray:
        sol, pullback = bridge.vjp(problem, "Tsit5", **options)
        return pullback(2 * (sol.u - data) / data.size).p

    return median_time(forward, repeats)[0], median_time(gradient, repeats)[0]


# ------------------------------------------------------------------------------------- driver


def median_time(
    step: Callable[[], np.ndarray], repeats: int, budget: float = float("inf")
) -> tuple[float, np.ndarray]:
    """Median of up to ``repeats`` timed calls after a warm-up (tracing, jit compilation);
    fewer when the calls so far exceed ``budget`` seconds (at least one)."""
    grad = step()
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget):
        start = time.perf_counter()
        grad = step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), grad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="spiral,neural,lv")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per contestant")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    print(
        f"bridge backend: {os.environ['BRIDGE_BACKEND']}; reltol={RTOL}, abstol={ATOL}; "
        f"median of up to {repeats} steps (after one warm-up, within {args.budget:g} s); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    width = 30
    print(
        f"{'problem':<{width}}  {'contestant':<27} {'median ms':>10} {'vs bridge.torch':>16} "
        f"{'grad rel err':>13}"
    )
    for key in args.problems.split(","):
        prob = PROBLEMS[key.strip()]()
        reference = torchdiffeq_step(prob, adjoint=False, rtol=1e-12, atol=1e-12)()
        steps: dict[str, Callable[[], np.ndarray]] = {
            "bridge.torch": bridge_torch_step(prob),
            "torchdiffeq.odeint": torchdiffeq_step(prob, adjoint=False),
            "torchdiffeq.odeint_adjoint": torchdiffeq_step(prob, adjoint=True),
        }
        steps.update(jax_steps(prob))
        base = None
        for who, step in steps.items():
            median, grad = median_time(step, repeats, args.budget)
            base = base or median
            err = np.linalg.norm(grad - reference) / np.linalg.norm(reference)
            print(
                f"{prob.name:<{width}}  {who:<27} {median * 1e3:>10.2f} {median / base:>15.2f}x "
                f"{err:>13.2e}",
                flush=True,
            )
        forward, gradient = gradient_over_forward(prob, repeats)
        print(
            f"{prob.name:<{width}}  bridge ({os.environ['BRIDGE_BACKEND']}): forward solve "
            f"{forward * 1e3:.2f} ms, vjp + pullback {gradient * 1e3:.2f} ms "
            f"= {gradient / forward:.1f}x the forward solve",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
