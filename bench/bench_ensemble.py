"""Benchmark: ensembles of Lotka–Volterra members on every executor, against plain loops.

Run: ``python bench/bench_ensemble.py [--members 1000] [--repeats 5] [--engines ...]``.
Prints medians and the ratios of issue 17's targets; not a test. Each row is measured in
the same run as what it is compared with. Targets (2 cores):

* processes >= 1.6x faster than serial; a 2-worker Dask LocalCluster >= 1.4x faster;
* serial per-member overhead <= 1.2x a plain Python loop over ``bridge.solve``;
* the batched ``vjp`` (solve + pullback) >= 1.5x faster on processes than serial.

The process pool and the Dask workers are started (and their model built) before timing:
what is measured is the steady state of a session that solves ensembles repeatedly.
"""

from __future__ import annotations

import argparse
import os
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
from bench.problems import lotka_volterra

TS = np.linspace(0.0, 10.0, 101)
OPTS = {"reltol": 1e-8, "abstol": 1e-8}


def members(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(17)
    P = np.array([1.5, 1.0, 3.0, 1.0]) * (1.0 + 0.1 * rng.standard_normal((count, 4)))
    U0 = np.tile([1.0, 1.0], (count, 1))
    return U0, P


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm: traces, compiles, starts workers
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench_engine(engine: str, count: int, repeats: int, client: Any) -> dict[str, float]:
    U0, P = members(count)
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 10.0), P[0])
    eprob = bridge.EnsembleProblem(prob, u0=U0, p=P)
    kw: dict[str, Any] = {"saveat": TS, "backend": engine, **OPTS}
    cot = np.ones((count, len(TS), 2))

    def loop() -> None:
        for i in range(count):
            bridge.solve(prob.remake(u0=U0[i], p=P[i]), "Tsit5", **kw)

    def ens(where: Any) -> Callable[[], None]:
        return lambda: bridge.solve(eprob, "Tsit5", ensemble=where, **kw)

    def grad(where: Any) -> Callable[[], None]:
        def run() -> None:
            _, pullback = bridge.vjp(eprob, "Tsit5", ensemble=where, **kw)
            pullback(cot)

        return run

    out = {
        "plain loop": median_seconds(loop, repeats),
        "serial": median_seconds(ens("serial"), repeats),
        "processes": median_seconds(ens("processes"), repeats),
        "vjp serial": median_seconds(grad("serial"), repeats),
        "vjp processes": median_seconds(grad("processes"), repeats),
    }
    if client is not None:
        out["dask"] = median_seconds(ens(client), repeats)
        out["vjp dask"] = median_seconds(grad(client), repeats)
    return out


def report(engine: str, count: int, r: dict[str, float]) -> list[str]:
    def line(name: str, value: float, target: str = "") -> str:
        return (
            f"| {engine} | {name} | {value * 1000:,.0f} | {1e6 * value / count:,.0f} | {target} |"
        )

    rows = [
        line("plain loop over bridge.solve", r["plain loop"]),
        line(
            "serial",
            r["serial"],
            f"overhead {r['serial'] / r['plain loop']:.2f}x the loop (target <= 1.2x)",
        ),
        line(
            "processes",
            r["processes"],
            f"{r['serial'] / r['processes']:.2f}x faster than serial (target >= 1.6x)",
        ),
    ]
    if "dask" in r:
        rows.append(
            line(
                "dask LocalCluster(2)",
                r["dask"],
                f"{r['serial'] / r['dask']:.2f}x faster than serial (target >= 1.4x)",
            )
        )
    rows.append(line("vjp + pullback serial", r["vjp serial"]))
    rows.append(
        line(
            "vjp + pullback processes",
            r["vjp processes"],
            f"{r['vjp serial'] / r['vjp processes']:.2f}x faster than serial (target >= 1.5x)",
        )
    )
    if "vjp dask" in r:
        rows.append(
            line(
                "vjp + pullback dask",
                r["vjp dask"],
                f"{r['vjp serial'] / r['vjp dask']:.2f}x faster than serial",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", nargs="*", default=["diffsol", "reference"])
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", bridge.BridgeWarning)
    client = None
    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            print("dask[distributed] is not installed: no Dask rows")
        else:
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
    print(f"{args.members} Lotka–Volterra members, {len(TS)} saves, rtol=atol=1e-8, Tsit5;")
    print(f"{os.cpu_count()} cores; medians of {args.repeats} runs after a warm-up run.\n")
    print("| engine | what | ms | µs per member | ratio |")
    print("|---|---|--:|--:|---|")
    for engine in args.engines:
        try:
            bridge.choose_backend(engine)
        except bridge.BridgeError as exc:
            print(f"| {engine} | skipped: {exc} | | | |")
            continue
        for row in report(
            engine, args.members, bench_engine(engine, args.members, args.repeats, client)
        ):
            print(row, flush=True)
    if client is not None:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
