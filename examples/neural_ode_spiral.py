"""A neural ODE learns a spiral: Chen et al.'s idea, DiffEqFlux's classic demo, from PyTorch.

The data: 30 points of the spiral du/dt = Aᵀ u³ with A = [-0.1 2.0; -2.0 -0.1], u0 = [2, 0],
t in (0, 1.5) (in Julia: ``du .= ((u.^3)'A)'``). The model: du/dt = MLP(u³), a small tanh
network whose weights are slices of one parameter vector ``p``, an ``nn.Parameter``. The
right-hand side is ordinary NumPy code that bridge traces once; ``bridge.torch.odeint`` makes
the solve a differentiable torch operation, so a plain ``torch.optim.Adam`` loop trains it.

Run::

    python examples/neural_ode_spiral.py            # full training
    python examples/neural_ode_spiral.py --quick    # fewer steps (also BRIDGE_EXAMPLES_QUICK=1)

Checks that the loss fell at least tenfold and that the plot was written; exits non-zero if not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import bridge
from bridge.demo import describe_backend, report_plot

U0 = [2.0, 0.0]
TSPAN = (0.0, 1.5)
N_POINTS = 30
TRUE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
HIDDEN = 50  # DiffEqFlux's size; with this many multiply-adds the model is array-traced
N_PARAMS = 2 * HIDDEN + HIDDEN + HIDDEN * 2 + 2  # W1, b1, W2, b2
FULL_STEPS, QUICK_STEPS = 300, 60
LEARNING_RATE = 0.1
REQUIRED_FACTOR = 10.0
SOLVER = {"reltol": 1e-6, "abstol": 1e-8}


def true_rhs(u, p, t):
    """The spiral's right-hand side: du/dt = Aᵀ u³, with A = p reshaped to 2x2."""
    a = p.reshape(2, 2)
    return a.T @ (u**3)


def unpack(p):
    """Slices of the flat parameter vector as the MLP's weights (views, no copies)."""
    h = HIDDEN
    w1 = p[: 2 * h].reshape(h, 2)
    b1 = p[2 * h : 3 * h]
    w2 = p[3 * h : 5 * h].reshape(2, h)
    b2 = p[5 * h : 5 * h + 2]
    return w1, b1, w2, b2


def mlp_rhs(u, p, t):
    """The neural ODE: a 2 -> HIDDEN -> 2 tanh MLP applied to u³."""
    w1, b1, w2, b2 = unpack(p)
    x = u**3
    h = np.tanh(w1 @ x + b1)
    return w2 @ h + b2


def init_params(seed: int = 0) -> np.ndarray:
    """Glorot-uniform weights and zero biases, as Flux's ``Dense`` layers start."""
    rng = np.random.default_rng(seed)
    p = np.zeros(N_PARAMS)
    w1, _, w2, _ = unpack(p)
    w1[...] = rng.uniform(-1, 1, w1.shape) * np.sqrt(6 / (2 + HIDDEN))
    w2[...] = rng.uniform(-1, 1, w2.shape) * np.sqrt(6 / (HIDDEN + 2))
    return p


def spiral_data(backend: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 30 data points, from a tight bridge.solve of the true ODE."""
    t = np.linspace(*TSPAN, N_POINTS)
    prob = bridge.ODEProblem(true_rhs, U0, TSPAN, TRUE_A.ravel(), name="spiral")
    sol = bridge.solve(prob, "Tsit5", saveat=t, reltol=1e-10, abstol=1e-10, backend=backend)
    return t, np.asarray(sol.u)


def plot(t, data, pred_before, pred_after, losses, path: Path) -> Path | None:
    """Phase portraits before/after training and the loss curve, as a PNG (Agg canvas)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig = Figure(figsize=(13, 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, pred, title in ((axes[0], pred_before, "before"), (axes[1], pred_after, "after")):
        ax.plot(data[:, 0], data[:, 1], "o", markersize=4, label="data")
        ax.plot(pred[:, 0], pred[:, 1], "-", label="neural ODE")
        ax.set_title(f"{title} training")
        ax.set_xlabel("u[0]")
        ax.set_ylabel("u[1]")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(loc="lower left")
    axes[2].semilogy(np.arange(len(losses)), losses)
    axes[2].set_xlabel("Adam step")
    axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].set_ylabel("loss  Σ(u - data)²")
    axes[2].set_title(f"loss {losses[0]:.3g} → {losses[-1]:.3g} ({losses[0] / losses[-1]:.3g}×)")
    axes[2].grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Neural ODE spiral with bridge.torch (2→{HIDDEN}→2 tanh MLP on u³)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps (CI)")
    parser.add_argument("--iterations", type=int, default=None, help="Adam steps")
    parser.add_argument("--backend", default=None, help="auto, julia, diffsol or reference")
    parser.add_argument("--outdir", default=".", help="where to write the plot (.)")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BRIDGE_EXAMPLES_QUICK", "") not in ("", "0")
    steps = args.iterations or (QUICK_STEPS if quick else FULL_STEPS)

    # The engine is chosen for this model: an array-traced MLP runs on Julia or the reference
    # backend (diffsol has no array-level DiffSL yet).
    model = bridge.ODEProblem(mlp_rhs, U0, TSPAN, init_params(), name="mlp_rhs")
    backend, banner = describe_backend(args.backend, model)
    print(banner)
    # bridge.torch starts Julia before importing torch when Julia will be used (juliacall
    # documents crashes with the other order), so import it first and tell it the backend.
    os.environ["BRIDGE_BACKEND"] = backend
    from bridge.torch import odeint  # noqa: I001 (must come before torch)

    import torch

    t_np, data_np = spiral_data(backend)
    t = torch.tensor(t_np)
    u0 = torch.tensor(U0)
    data = torch.tensor(data_np)
    p = torch.nn.Parameter(torch.tensor(init_params()))
    opt = torch.optim.Adam([p], lr=LEARNING_RATE)

    def predict():
        return odeint(mlp_rhs, u0, t, p, alg="Tsit5", backend=backend, **SOLVER)

    print(f"Training a 2->{HIDDEN}->2 tanh MLP ({N_PARAMS} parameters): {steps} Adam steps")
    every = max(1, steps // 10)
    losses: list[float] = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bridge.BridgeBackendWarning)
        with torch.no_grad():
            pred_before = predict().numpy().copy()
        for i in range(steps):
            opt.zero_grad()
            loss = torch.sum((predict() - data) ** 2)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if i % every == 0:
                print(f"  step {i:>4}/{steps}  loss {losses[-1]:.4e}", flush=True)
        with torch.no_grad():
            pred_after = predict().numpy().copy()
    losses.append(float(np.sum((pred_after - data_np) ** 2)))
    seconds = time.perf_counter() - start
    print(f"  step {steps:>4}/{steps}  loss {losses[-1]:.4e}")
    print(f"Time: {seconds:.2f} s ({1000 * seconds / steps:.0f} ms per step)")

    factor = losses[0] / max(losses[-1], np.finfo(float).tiny)
    ok = factor >= REQUIRED_FACTOR
    verdict = "OK" if ok else "FAILED"
    print(
        f"{verdict}: loss fell {factor:.3g}x ({losses[0]:.6g} -> {losses[-1]:.6g}; "
        f"needed {REQUIRED_FACTOR:g}x)"
    )
    png = plot(
        t_np, data_np, pred_before, pred_after, losses, Path(args.outdir) / "neural_ode_spiral.png"
    )
    ok = report_plot(png) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
