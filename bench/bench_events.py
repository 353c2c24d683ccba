"""Benchmark: solves and gradients through events on each engine, with their errors.

Run: ``python bench/bench_events.py [--repeats 7] [--engines diffsol reference]``.
Prints medians and ratios to the reference engine measured in the same run; not a test.

Problems (closed forms in ``tests/conformance/test_events.py``):

* **falling ball, terminal**: u = (h, v), h' = v, v' = -g from (1, 0), stopped at h = 0;
  the time to the ground τ = sqrt(2 h0 / g), and the gradient of the speed there,
  v(τ) = -sqrt(2 g h0), with respect to (h0, v0, g, e) (it holds dτ/dθ);
* **bouncing ball, 10 bounces**: the same ball with v -> -e v at each impact, saved at
  100 times; the height at the end and its gradient against the closed form;
* **leaky switch**: x' = where(x > 0.5, -k x, -0.1 k x) to t = 3 (a jumping switch on the
  state, followed as an event by ``vjp``): d x(3)/d(x0, k) against 0.05 e^-0.3 2^0.1 and
  -0.15 e^-0.3 2^0.1.

Every timing is a median of warm calls (the first call, which traces and compiles, is
reported apart).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge

G, E, H = 9.81, 0.9, 1.0
TIGHT = {"reltol": 1e-10, "abstol": 1e-12}


def ball(u: Any, p: Any, t: Any) -> list[Any]:
    return [u[1], -p[0]]


def leaky(u: Any, p: Any, t: Any) -> list[Any]:
    return [np.where(u[0] > 0.5, -p[0] * u[0], -0.1 * p[0] * u[0])]


def bounce_times(k: int) -> np.ndarray:
    v0 = math.sqrt(2 * G * H)
    times = [v0 / G]
    for i in range(1, k):
        times.append(times[-1] + 2 * E**i * v0 / G)
    return np.array(times)


def height_and_gradient(t: float) -> tuple[float, np.ndarray]:
    """h(t) after the impacts before t and d h / d(h0, g, e), by central differences of the
    closed form (to about 1e-8 with this step: the error column cannot go below that)."""

    def h(h0: float, g: float, e: float) -> float:
        v0 = math.sqrt(2 * g * h0)
        tk, k = v0 / g, 0
        if t < tk:
            return h0 - g * t**2 / 2
        while True:
            k += 1
            nxt = tk + 2 * e**k * v0 / g
            if t < nxt:
                s = t - tk
                return e**k * v0 * s - g * s**2 / 2
            tk = nxt

    x = np.array([H, G, E])
    step = 1e-6
    grad = np.array([(h(*(x + step * d)) - h(*(x - step * d))) / (2 * step) for d in np.eye(3)])
    return h(*x), grad


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return 1000 * first, 1000 * statistics.median(runs)


def cases(engine: str) -> dict[str, tuple[Callable[[], Any], Callable[[], float]]]:
    """name -> (timed call, its error against the closed form)."""
    kw: dict[str, Any] = {"backend": engine, **TIGHT}
    stop = bridge.Event(lambda u, p, t: u[0], direction=-1, terminal=True, name="ground")
    fall = bridge.ODEProblem(ball, [H, 0.0], (0.0, 5.0), [G, E])
    tau = math.sqrt(2 * H / G)

    def fall_solve() -> Any:
        return bridge.solve(fall, "Tsit5", events=[stop], **kw)

    def fall_grad() -> Any:
        sol, pullback = bridge.vjp(fall, "Tsit5", events=[stop], **kw)
        cot = np.zeros_like(sol.u)
        cot[-1, 1] = 1.0  # d v(τ): saving every step, the last row is the state at τ
        return sol, pullback(cot)

    def fall_error() -> float:
        _, g = fall_grad()
        # v(τ) = -g τ = -sqrt(2 g h0): d/d h0 = -g / sqrt(2 g h0), d/dg = -h0 / sqrt(2 g h0)
        want = np.array([-G / math.sqrt(2 * G * H), 0.0])
        want_p = np.array([-H / math.sqrt(2 * G * H), 0.0])
        got = np.concatenate([g.u0, g.p])
        return float(np.max(np.abs(got - np.concatenate([want, want_p]))) / abs(want[0]))

    bounce = bridge.Event(lambda u, p, t: u[0], direction=-1,
                          affect=lambda u, p, t: [u[0], -p[1] * u[1]], name="ground")  # fmt: skip
    times = bounce_times(11)
    t_end = float(times[9] + times[10]) / 2
    bouncing = bridge.ODEProblem(ball, [H, 0.0], (0.0, t_end), [G, E])
    saves = np.linspace(0.0, t_end, 100)

    def bounce_solve() -> Any:
        return bridge.solve(bouncing, "Tsit5", events=[bounce], saveat=saves, **kw)

    def bounce_grad() -> Any:
        sol, pullback = bridge.vjp(bouncing, "Tsit5", events=[bounce], saveat=saves, **kw)
        cot = np.zeros_like(sol.u)
        cot[-1, 0] = 1.0
        return sol, pullback(cot)

    def bounce_error() -> float:
        sol, g = bounce_grad()
        h, dh = height_and_gradient(t_end)
        got = np.array([g.u0[0], g.p[0], g.p[1]])
        return float(max(abs(sol.u[-1, 0] - h), np.max(np.abs(got - dh)) / np.max(np.abs(dh))))

    switch = bridge.ODEProblem(leaky, [1.0], (0.0, 3.0), [1.0])

    def switch_grad() -> Any:
        sol, pullback = bridge.vjp(switch, "Tsit5", saveat=[3.0], **kw)
        return sol, pullback(np.ones((1, 1)))

    def switch_error() -> float:
        _, g = switch_grad()
        c = math.exp(-0.3) * 2**0.1
        return float(max(abs(g.u0[0] - 0.05 * c) / (0.05 * c), abs(g.p[0] + 0.15 * c) / (0.15 * c)))

    return {
        "falling ball: solve to the ground": (fall_solve, lambda: abs(fall_solve().t[-1] - tau)),
        "falling ball: d v(τ) / d(u0, p)": (fall_grad, fall_error),
        "10 bounces, 100 saves: solve": (bounce_solve, bounce_error),
        "10 bounces: d h(T) / d(u0, p)": (bounce_grad, bounce_error),
        "leaky switch: d x(3) / d(x0, k)": (switch_grad, switch_error),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--engines", nargs="*", default=["diffsol", "reference"])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", bridge.BridgeWarning)
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    for engine in args.engines:
        try:
            bridge.choose_backend(engine)
        except bridge.BridgeError as exc:
            print(f"{engine}: skipped: {exc}")
            continue
        results[engine] = {}
        for name, (call, error) in cases(engine).items():
            first, median = median_ms(call, args.repeats)
            results[engine][name] = (first, median, error())
    print(f"Events at rtol 1e-10, atol 1e-12, Tsit5; medians of {args.repeats} warm calls.\n")
    print("| case | engine | first call ms | median ms | vs reference | rel. error |")
    print("|---|---|--:|--:|--:|--:|")
    ref = results.get("reference", {})
    for name in next(iter(results.values()), {}):
        for engine, rows in results.items():
            first, median, err = rows[name]
            ratio = f"{median / ref[name][1]:.3f}" if name in ref else ""
            print(f"| {name} | {engine} | {first:.1f} | {median:.2f} | {ratio} | {err:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
