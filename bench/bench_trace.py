"""Benchmark: tracing + derivatives + code generation, and the cost of evaluating f.

Run: ``python bench/bench_trace.py``. Prints medians; not a test. Goals (issue 3): tracing,
derivatives and code generation under 1 s for a 2→50→2 tanh MLP (252 parameters) and the
50-state reaction chain; the model's NumPy f no slower than calling the user's function.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge._trace.model import TracedModel
from bridge._trace.tracer import trace
from tests.models import MODELS, _mlp_params


def mlp_2_50_2(u, p, t):
    w1 = p[:100].reshape(50, 2)
    b1 = p[100:150]
    w2 = p[150:250].reshape(2, 50)
    b2 = p[250:252]
    return w2 @ np.tanh(w1 @ u + b1) + b2


CASES = {
    "mlp_2_50_2": (mlp_2_50_2, np.array([2.0, 0.0]), _mlp_params([2, 50, 2], seed=1)),
    "reaction_chain_50": MODELS["reaction_chain_50"][:3],
    "lotka_volterra": MODELS["lotka_volterra"][:3],
    "mlp_2_16_2": MODELS["mlp_2_16_2"][:3],
}


def build_seconds(f, n: int, m: int, repeats: int = 5) -> tuple[float, float]:
    """Median (wall, CPU) seconds of trace + derivatives + NumPy and Julia code generation.

    Bypasses the cache. CPU time is printed too because on a shared machine the wall time
    mostly measures the other processes.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        model = TracedModel(f, trace(f, n, m, None, f.__name__), None, f.__name__)
        model.julia_source("Bench")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def call_microseconds(fn, *args, number: int = 2000) -> float:
    """Median CPU time per call (CPU rather than wall time: robust to a busy machine)."""
    runs = timeit.repeat(lambda: fn(*args), number=number, repeat=7, timer=time.process_time)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    print(
        f"{'model':<20}{'f runs':>10}{'build s':>9}{'(cpu s)':>9}{'user f µs':>11}"
        f"{'model.f µs':>12}{'generated f µs':>16}{'jac µs':>9}{'vjp_p µs':>10}"
    )
    for name, (f, u0, p) in CASES.items():
        n, m = len(u0), len(p)
        build, build_cpu = build_seconds(f, n, m)
        model = TracedModel(f, trace(f, n, m, None, name), None, name)
        v = np.ones(n)
        user = call_microseconds(f, u0, p, 0.0)
        wrapped = call_microseconds(model.f, u0, p, 0.0)  # what backends call
        generated = call_microseconds(model.f_generated, u0, p, 0.0)
        jac = call_microseconds(model.jac, u0, p, 0.0)
        vjp_p = call_microseconds(model.vjp_p, v, u0, p, 0.0)
        print(
            f"{name:<20}{model.f_source:>10}{build:>9.3f}{build_cpu:>9.3f}{user:>11.2f}{wrapped:>12.2f}{generated:>16.2f}"
            f"{jac:>9.2f}{vjp_p:>10.2f}"
        )


if __name__ == "__main__":
    main()
