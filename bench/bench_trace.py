"""Benchmark: tracing, derivatives and code generation on the array and scalar paths.

Run: ``python bench/bench_trace.py [--quick]``. Prints medians; not a test. The machine may
be shared: wall times measure the other processes too, so CPU times are printed beside them.

1. **Array path** (issue 16): tanh MLPs whose parameters are a dict of arrays (``W1``,
   ``b1``, ...), from 2→50→2 up to 2→256→256→2 (67k parameters). Columns: the build
   (trace + derivatives + NumPy and Julia code generation, cache bypassed), the first
   ``vjp`` + pullback through ``ODEProblem`` (tracing included: a new function each time),
   a later ``vjp`` + pullback, and the size of the generated Julia. Targets: 2→64→64→2
   build ≤ 0.3 s and Julia ≤ 20 kB; 2→256→256→2 build ≤ 1 s; code size grows with
   operations, not parameters. The issue measured the scalar path at 2→64→64→2: 8.9 s first
   vjp, 0.65 s later vjp + pullback, 15,402 lines / 2.7 MB of Julia.
2. **Scalar path**: models that keep it (Lotka–Volterra, Robertson, the 50-state chain, the
   2→16→2 MLP), as before, plus ``try array ms``: what trying the array tracer first costs.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge
from bridge._trace.array import decide
from bridge._trace.model import TracedModel
from bridge._trace.tracer import trace
from tests.models import MODELS

ARRAY_SIZES = ([2, 50, 2], [2, 32, 32, 2], [2, 64, 64, 2], [2, 128, 128, 2], [2, 256, 256, 2])
SAVEAT = np.linspace(0.0, 1.0, 11)
SOLVER = {"reltol": 1e-6, "abstol": 1e-8, "backend": "reference"}


SCALAR_CASES = {
    name: MODELS[name][:3]
    for name in ("lotka_volterra", "robertson", "reaction_chain_50", "mlp_2_16_2")
}


def named_mlp(sizes: list[int]) -> tuple[Callable[..., Any], dict[str, np.ndarray]]:
    """A fresh tanh MLP right-hand side with dict parameters (a new function: no cache)."""
    depth = len(sizes) - 1

    def rhs(u: Any, p: Any, t: Any) -> Any:
        h = u
        for k in range(1, depth + 1):
            h = p[f"W{k}"] @ h + p[f"b{k}"]
            if k < depth:
                h = np.tanh(h)
        return h

    rng = np.random.default_rng(0)
    params: dict[str, np.ndarray] = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        params[f"W{k}"] = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_out, n_in))
        params[f"b{k}"] = rng.normal(0.0, 0.1, size=n_out)
    return rhs, params


def _spec(params: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: v.shape for k, v in params.items()}


def build(sizes: list[int]) -> tuple[float, float, Any]:
    """(wall, CPU) seconds of trace + derivatives + NumPy and Julia generation, and the model."""
    rhs, params = named_mlp(sizes)
    m = sum(v.size for v in params.values())
    start, start_cpu = time.perf_counter(), time.process_time()
    model, reason = decide(rhs, sizes[0], m, _spec(params), "mlp")
    assert model is not None, reason
    model.julia_source("Bench")
    return time.perf_counter() - start, time.process_time() - start_cpu, model


def vjp_seconds(sizes: list[int], repeats: int) -> tuple[float, float]:
    """(first vjp + pullback including the trace, median later vjp + pullback) seconds."""
    rhs, params = named_mlp(sizes)
    u0 = np.array([1.0, 0.0])[: sizes[0]]

    def step(prob: bridge.ODEProblem) -> None:
        sol, pullback = bridge.vjp(prob, "Tsit5", saveat=SAVEAT, **SOLVER)
        pullback(np.ones_like(sol.u))

    prob = bridge.ODEProblem(rhs, u0, (0.0, 1.0), params)
    start = time.perf_counter()
    step(prob)
    first = time.perf_counter() - start
    later = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(prob)
        later.append(time.perf_counter() - start)
    return first, statistics.median(later)


def array_table(repeats: int) -> None:
    vjp_seconds([2, 3, 2], 1)  # warm-up: imports and first calls are not the model's cost
    print("Array path: tanh MLPs, parameters as a dict of arrays; reference backend, Tsit5,")
    print(f"reltol {SOLVER['reltol']}, abstol {SOLVER['abstol']}, {len(SAVEAT)} save points")
    print(
        f"{'model':<16}{'params':>8}{'build s':>9}{'(cpu s)':>9}{'first vjp s':>13}"
        f"{'later vjp+pb s':>16}{'Julia lines':>13}{'Julia kB':>10}"
    )
    for sizes in ARRAY_SIZES:
        walls, cpus = [], []
        model = None
        for _ in range(repeats):
            wall, cpu, model = build(sizes)
            walls.append(wall)
            cpus.append(cpu)
        first, later = vjp_seconds(sizes, repeats)
        source = model.julia_source("Bench")  # type: ignore[union-attr]
        label = "→".join(map(str, sizes))
        print(
            f"{label:<16}{model.n_params:>8,}{statistics.median(walls):>9.3f}"  # type: ignore[union-attr]
            f"{statistics.median(cpus):>9.3f}{first:>13.3f}{later:>16.3f}"
            f"{len(source.splitlines()):>13,}{len(source.encode()) / 1e3:>10.1f}",
            flush=True,
        )


def scalar_build_seconds(f: Any, n: int, m: int, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of the scalar path (trace, derivatives, both printers)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        model = TracedModel(f, trace(f, n, m, None, f.__name__), None, f.__name__)
        model.julia_source("Bench")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def call_microseconds(fn: Any, *args: Any, number: int = 2000) -> float:
    """Median CPU time per call (CPU rather than wall time: robust to a busy machine)."""
    runs = timeit.repeat(lambda: fn(*args), number=number, repeat=7, timer=time.process_time)
    return statistics.median(runs) / number * 1e6


def scalar_table(repeats: int) -> None:
    print("\nScalar path (models that keep it); 'try array ms': the array tracer's attempt first")
    print(
        f"{'model':<20}{'f runs':>10}{'build s':>9}{'(cpu s)':>9}{'try array ms':>14}"
        f"{'user f µs':>11}{'model.f µs':>12}{'generated f µs':>16}{'jac µs':>9}{'vjp_p µs':>10}"
    )
    for name, (f, u0, p) in SCALAR_CASES.items():
        n, m = len(u0), len(p)
        build_s, build_cpu = scalar_build_seconds(f, n, m, repeats)
        attempts = []
        for _ in range(repeats):
            start = time.process_time()
            array, reason = decide(f, n, m, None, name)
            attempts.append(time.process_time() - start)
            assert array is None, f"{name} now takes the array path: {reason}"
        model = TracedModel(f, trace(f, n, m, None, name), None, name)
        v = np.ones(n)
        user = call_microseconds(f, u0, p, 0.0)
        wrapped = call_microseconds(model.f, u0, p, 0.0)  # what backends call
        generated = call_microseconds(model.f_generated, u0, p, 0.0)
        jac = call_microseconds(model.jac, u0, p, 0.0)
        vjp_p = call_microseconds(model.vjp_p, v, u0, p, 0.0)
        print(
            f"{name:<20}{model.f_source:>10}{build_s:>9.3f}{build_cpu:>9.3f}"
            f"{statistics.median(attempts) * 1e3:>14.2f}{user:>11.2f}{wrapped:>12.2f}"
            f"{generated:>16.2f}{jac:>9.2f}{vjp_p:>10.2f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat instead of 5")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 5
    array_table(repeats)
    scalar_table(repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
