"""Benchmark: how the scalar tracing path scales with MLP depth (issue 13, "tracing cost").

Run: ``python bench/trace_scalar_depth.py [--max-seconds S] [names...]``. Traces tanh MLP
right-hand sides (flat parameter vector) through the *scalar* path (``tracer.trace`` and
``TracedModel``, bypassing the array-level tracer and the cache) and prints the seconds per
stage: trace, derivatives + programs, NumPy compile, Julia source; and the peak RSS growth.
One run per model (they take seconds to minutes); a model whose previous, smaller sibling
already took longer than ``--max-seconds`` is skipped. Not a test.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge._trace.julia_codegen import julia_module
from bridge._trace.numpy_codegen import NumpyFunction
from bridge._trace.program import build_programs
from bridge._trace.tracer import trace

#: name -> layer sizes
SIZES = {
    "2-16-16-2": [2, 16, 16, 2],
    "3x16": [2, 16, 16, 16, 2],
    "4x16": [2, 16, 16, 16, 16, 2],
    "6x16": [2, 16, 16, 16, 16, 16, 16, 2],
    "2-48-48-48-2": [2, 48, 48, 48, 2],
}


def mlp(sizes: list[int]):
    shapes = [(b, a) for a, b in itertools.pairwise(sizes)]

    def rhs(u, p, t):
        x, start = u, 0
        for i, (rows, cols) in enumerate(shapes):
            w = p[start : start + rows * cols].reshape(rows, cols)
            start += rows * cols
            b = p[start : start + rows]
            start += rows
            x = w @ x + b
            if i < len(shapes) - 1:
                x = np.tanh(x)
        return x

    n_params = sum(r * c + r for r, c in shapes)
    return rhs, n_params


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str) -> dict[str, float]:
    sizes = SIZES[name]
    rhs, m = mlp(sizes)
    n = sizes[0]
    before = rss_mb()
    t0 = time.perf_counter()
    traced = trace(rhs, n, m, None, "mlp")
    t1 = time.perf_counter()
    programs = build_programs(traced)
    t2 = time.perf_counter()
    for program in programs:
        NumpyFunction(program, "mlp")
    t3 = time.perf_counter()
    source = julia_module("Mlp", programs, n, m)
    t4 = time.perf_counter()
    return {
        "params": m,
        "trace": t1 - t0,
        "programs": t2 - t1,
        "numpy": t3 - t2,
        "julia": t4 - t3,
        "total": t4 - t0,
        "kB": len(source) / 1e3,
        "rss MB": rss_mb() - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(SIZES))
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()
    cols = ["params", "trace", "programs", "numpy", "julia", "total", "kB", "rss MB"]
    print(f"{'model':<14}" + "".join(f"{c:>10}" for c in cols))
    previous = 0.0
    for name in args.names:
        if previous > args.max_seconds:
            print(f"{name:<14} skipped (the previous model took {previous:.0f} s)")
            continue
        row = measure(name)
        previous = row["total"]
        cells = [f"{row['params']:>10.0f}"] + [f"{row[c]:>10.2f}" for c in cols[1:]]
        print(f"{name:<14}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
