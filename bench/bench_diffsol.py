"""The diffsol engine's own measurements: ``auto``'s method choice, the forward/adjoint
crossover behind ``sensealg="auto"``, and compile time against model size.

Usage::

    python bench/bench_diffsol.py              # auto + crossover (about a minute)
    python bench/bench_diffsol.py --compile    # also compile time by model size (minutes)

Writes ``bench/results/diffsol.md``. Times are medians of warm calls on a shared machine:
compare the ratios, which come from the same run. The constants these measurements set are
``bridge._diffsol.methods.AUTO_FLOOR`` (auto), ``FORWARD_MAX_INPUTS`` (the crossover) and
``bridge._diffsol.limits.MAX_MODEL_SIZE`` (the size limit); docs/diffsl.md quotes a run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import bridge  # noqa: E402
from bench.problems import get_problem  # noqa: E402


def interleaved_ms(calls: dict[str, Callable[[], Any]], rounds: int = 21) -> dict[str, float]:
    """Median ms of each call, timed in interleaved rounds so that the load on a shared
    machine falls on all of them alike."""
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def auto_rows() -> list[str]:
    """``auto`` against tsit45 (Tsit5) and bdf (Rodas5P) on Lotka–Volterra and Robertson."""
    lines = [
        "## `auto` against the better of tsit45 and bdf (target: within 1.5x)",
        "",
        "| problem | what | tsit45 ms | bdf ms | auto ms | auto / better | auto ran |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for name in ("lotka_volterra", "robertson"):
        prob = get_problem(name)
        bp = bridge.ODEProblem(prob.f, prob.u0, prob.tspan, prob.bridge_p, name=name)
        kw = dict(saveat=prob.saveat, reltol=prob.rtol, abstol=prob.atol, backend="diffsol")

        def solve(alg: str, bp: Any = bp, kw: dict[str, Any] = kw) -> Any:
            return bridge.solve(bp, alg, **kw)

        def grad(alg: str, bp: Any = bp, kw: dict[str, Any] = kw) -> Any:
            sol, pullback = bridge.vjp(bp, alg, **kw)
            return pullback(2.0 * sol.u)

        for what, call in (("solve", solve), ("vjp + pullback", grad)):
            # stiff: tsit45 would take ~10^8 steps on Robertson
            algs = ("Rodas5P", "auto") if name == "robertson" else ("Tsit5", "Rodas5P", "auto")
            times = dict.fromkeys(("Tsit5", "Rodas5P", "auto"), float("nan"))
            timed = {alg: (lambda alg=alg, call=call: call(alg)) for alg in algs}
            times.update(interleaved_ms(timed))
            better = np.nanmin([times["Tsit5"], times["Rodas5P"]])
            ran = solve("auto").alg
            lines.append(
                f"| {prob.title} | {what} | {times['Tsit5']:.3g} | {times['Rodas5P']:.3g} | "
                f"{times['auto']:.3g} | {times['auto'] / better:.2f} | {ran} |"
            )
    return lines


def overhead_rows() -> list[str]:
    """bridge[diffsol] against hand-written pydiffsol on every benchmark problem, timed in
    interleaved rounds (bench/run.py times cells one after another, so load on a shared
    machine lands on one tool and not the other; these ratios are the steadier ones)."""
    from bench.peers import BridgeAdapter, PydiffsolAdapter
    from bench.problems import build_problems

    lines = [
        "## bridge[diffsol] against hand-written pydiffsol (target: within 1.3x)",
        "",
        "| problem | forward ms (bridge / by hand) | ratio | gradient ms (bridge / by hand) "
        "| ratio |",
        "|---|--:|--:|--:|--:|",
    ]
    for prob in build_problems():
        ours, hand = BridgeAdapter("diffsol").setup(prob), PydiffsolAdapter().setup(prob)
        assert ours.gradient is not None and hand.gradient is not None
        fwd = interleaved_ms({"ours": ours.forward, "hand": hand.forward}, rounds=15)
        grad = interleaved_ms({"ours": ours.gradient, "hand": hand.gradient}, rounds=9)
        lines.append(
            f"| {prob.title} | {fwd['ours']:.3g} / {fwd['hand']:.3g} | "
            f"{fwd['ours'] / fwd['hand']:.2f} | {grad['ours']:.3g} / {grad['hand']:.3g} | "
            f"{grad['ours'] / grad['hand']:.2f} |"
        )
    return lines


def chain(u: Any, p: Any, t: Any) -> Any:
    flux = p * u[:-1]
    return np.concatenate([[0.0], flux]) - np.concatenate([flux, [0.0]])


def dense_cubic(n: int) -> Callable[..., Any]:
    def f(u: Any, p: Any, t: Any) -> Any:
        return [sum(p[i * n + j] * u[j] for j in range(n)) - u[i] ** 3 for i in range(n)]

    return f


def crossover_rows() -> list[str]:
    """vjp + pullback with forward sensitivities against the discrete adjoint, by n + m."""
    lines = [
        '## Forward sensitivities against the discrete adjoint (`sensealg="auto"`\'s rule)',
        "",
        "vjp + pullback, Tsit5, rtol 1e-6, atol 1e-8, 21 saves over 0–5.",
        "",
        "| model | n | m | n + m | forward ms | adjoint ms | forward / adjoint |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    cases = []
    for n in (5, 10, 20, 30, 50):
        u0 = np.concatenate([[1.0], np.zeros(n - 1)])
        cases.append((f"chain {n}", chain, u0, np.linspace(0.5, 1.5, n - 1)))
    for n in (3, 5, 7, 9):
        rng = np.random.default_rng(n)
        p = -np.eye(n).ravel() + 0.3 * rng.standard_normal(n * n) / n
        cases.append((f"dense cubic {n}", dense_cubic(n), rng.uniform(-1, 1, n), p))
    saveat = np.linspace(0.0, 5.0, 21)
    for label, f, u0, p in cases:
        prob = bridge.ODEProblem(f, u0, (0.0, 5.0), p, name=label.replace(" ", "_"))

        def run(sensealg: str, prob: Any = prob) -> Any:
            sol, pullback = bridge.vjp(
                prob, "Tsit5", saveat=saveat, sensealg=sensealg, reltol=1e-6, abstol=1e-8,
                backend="diffsol",
            )  # fmt: skip
            return pullback(np.ones_like(sol.u))

        names = ("ForwardDiffSensitivity", "InterpolatingAdjoint")
        out = interleaved_ms({k: lambda k=k: run(k) for k in names}, rounds=9)
        fwd, adj = out["ForwardDiffSensitivity"], out["InterpolatingAdjoint"]
        n, m = len(u0), len(p)
        lines.append(f"| {label} | {n} | {m} | {n + m} | {fwd:.3g} | {adj:.3g} | {fwd / adj:.2f} |")
    return lines


def compile_rows() -> list[str]:
    """Trace + DiffSL + compile time of scalar models of growing size (one each, cold)."""
    from bridge._diffsol.compiled import compiled
    from bridge._diffsol.limits import model_size
    from bridge._trace.diffsl_codegen import diffsl_source

    lines = [
        "## Compile time against model size (`MAX_MODEL_SIZE`)",
        "",
        "| model | n | m | model size | compile s |",
        "|---|--:|--:|--:|--:|",
    ]
    cases: list[tuple[str, Any, int, int]] = []
    for n in (10, 25, 50, 100, 150, 200):
        cases.append((f"chain {n}", chain, n, n - 1))
    for n in (3, 5, 7, 9):
        cases.append((f"dense cubic {n}", dense_cubic(n), n, n * n))
    for label, f, n, m in cases:
        prob = bridge.ODEProblem(f, np.ones(n), (0.0, 1.0), np.ones(m), name=label.replace(" ", ""))
        source = diffsl_source(prob.model)
        t0 = time.perf_counter()
        compiled(source)
        lines.append(
            f"| {label} | {n} | {m} | {model_size(source, n, m)} | {time.perf_counter() - t0:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compile", action="store_true", help="also time compiles by size")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "diffsol.md")
    args = ap.parse_args(argv)
    from bridge._diffsol import availability, describe

    if availability() is not None:
        print(f"diffsol is unavailable: {availability()}")
        return 1
    import os

    lines = [
        "# diffsol engine measurements",
        "",
        f"{describe()}; load average at start {os.getloadavg()[0]:.2f} (shared machine).",
        "",
        *auto_rows(),
        "",
        *overhead_rows(),
        "",
        *crossover_rows(),
        "",
    ]
    if args.compile:
        lines += [*compile_rows(), ""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
