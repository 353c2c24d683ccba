"""A bouncing ball: events traced from Python, and gradients that go through the bounces.

A ball dropped from height h0 falls under gravity g; when it reaches the ground
(``u[0]`` crosses zero downwards) an affect reverses its speed, scaled by the restitution e.
``bridge.Event`` traces the condition and the affect like the right-hand side, the solve
locates every impact, and ``bridge.vjp`` differentiates the height at a later time with
respect to h0, g and e, including how each impact time moves with them (the saltation
jumps). The script checks both against the closed form and plots the dense solution
``sol(t)`` with the impacts marked.

Run::

    python examples/bouncing_ball.py                   # writes bouncing_ball.png
    python examples/bouncing_ball.py --quick           # the same, fewer plot points
    python examples/bouncing_ball.py --backend reference --outdir /tmp

It prints ``OK: ...`` when the impact times and the gradient match the closed form, else
``FAILED: ...`` and exits 1. docs/events.md explains events in full.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

import bridge

H0, G, E = 1.0, 9.81, 0.8
WHEN = 2.0  # the time at which the height is differentiated (after three impacts)


def ball(u, p, t):
    """The ball's right-hand side: u = (height, speed), p = (g, e)."""
    return [u[1], -p[0]]


GROUND = bridge.Event(
    lambda u, p, t: u[0],  # the height crosses zero ...
    direction=-1,  # ... going down
    affect=lambda u, p, t: [u[0], -p[1] * u[1]],  # the speed reverses, scaled by e
    name="ground",
)


def impacts(h0: float, g: float, e: float, k: int) -> np.ndarray:
    """The closed-form times of the first k impacts."""
    v0 = math.sqrt(2 * g * h0)
    times = [v0 / g]
    for i in range(1, k):
        times.append(times[-1] + 2 * e**i * v0 / g)
    return np.array(times)


def height(h0: float, g: float, e: float, t: float) -> float:
    """The closed-form height at time t."""
    times = impacts(h0, g, e, 60)
    k = int(np.sum(times < t))
    if k == 0:
        return h0 - g * t * t / 2
    s = t - times[k - 1]
    return e**k * math.sqrt(2 * g * h0) * s - g * s * s / 2


def closed_form_gradient(t: float, step: float = 1e-6) -> np.ndarray:
    """d height(t) / d(h0, g, e), from the closed form (central differences of it)."""
    x = np.array([H0, G, E])
    out = np.zeros(3)
    for i in range(3):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        out[i] = (height(*up, t) - height(*down, t)) / (2 * step)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer plot points")
    parser.add_argument("--outdir", default=".", help="where to write bouncing_ball.png")
    parser.add_argument(
        "--backend", default=None, help="auto, julia, diffsol or reference (default: auto)"
    )
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BRIDGE_EXAMPLES_QUICK") == "1"

    prob = bridge.ODEProblem(ball, [H0, 0.0], (0.0, 4.0), [G, E], name="ball")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bridge.BridgeBackendWarning)  # printed below instead
        sol = bridge.solve(
            prob, "Tsit5", events=[GROUND], reltol=1e-10, abstol=1e-10, backend=args.backend
        )
        grad_sol, pullback = bridge.vjp(
            prob, "Tsit5", events=[GROUND], saveat=[WHEN], reltol=1e-10, abstol=1e-10,
            backend=args.backend,
        )  # fmt: skip
    print(f"Backend: {sol.backend} ({sol.alg})")
    times = sol.t_events[0]
    print(f"{len(times)} impacts, at t = " + ", ".join(f"{t:.4f}" for t in times[:6]) + " ...")
    want_times = impacts(H0, G, E, len(times))
    time_error = float(np.max(np.abs(times - want_times)))

    g = pullback(np.array([[1.0, 0.0]]))
    got = np.array([g.u0[0], *g.p])
    want = closed_form_gradient(WHEN)
    print(
        f"height at t = {WHEN}: {grad_sol.u[0, 0]:.6f} (closed form {height(H0, G, E, WHEN):.6f})"
    )
    print("d height / d(h0, g, e):", np.round(got, 6), " closed form:", np.round(want, 6))
    grad_error = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))

    path = Path(args.outdir).resolve() / "bouncing_ball.png"
    try:
        import matplotlib

        matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        path = None  # type: ignore[assignment]
    if path is not None:
        ts = np.linspace(0.0, prob.tspan[1], 400 if quick else 2000)
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(ts, sol(ts)[:, 0], label="height, sol(t)")
        ax.plot(times, np.zeros_like(times), "v", color="C3", label="impacts, sol.t_events")
        ax.axvline(WHEN, color="0.6", ls="--", lw=1)
        ax.set_xlabel("t")
        ax.set_ylabel("height")
        ax.set_title(f"Bouncing ball, e = {E}: dh({WHEN})/de = {got[2]:.3f}")
        ax.legend(loc="upper right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        print(f"Plot written to {path}")

    if time_error < 1e-7 and grad_error < 1e-5:
        print(
            f"OK: impact times within {time_error:.1e} and the gradient through "
            f"{int(np.sum(times < WHEN))} impacts within {grad_error:.1e} of the closed form"
        )
        return 0
    print(f"FAILED: impact times off by {time_error:.1e}, gradient by {grad_error:.1e}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
