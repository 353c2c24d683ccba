"""Benchmark the reference backend against plain ``scipy.integrate.solve_ivp``.

Not a test: prints median wall times, right-hand side counts, errors against a tight
reference, and ratios. Run ``python bench/bench_reference.py [--quick]``.

Cases (same method and tolerances on both sides):

* Lotka-Volterra forward solve: bridge ``Tsit5`` (-> DOP853) vs ``solve_ivp(DOP853)``
  with a plain Python RHS. Goal: ratio <= 1.
* Lotka-Volterra gradient (vjp + pullback, forward sensitivities and adjoint) vs the
  forward solve. Goal: <= 5x.
* Robertson to t = 1e5: bridge ``FBDF`` (BDF with the traced Jacobian) vs
  ``solve_ivp(BDF)`` with a finite-difference Jacobian; also ``auto`` vs LSODA.
  Goal: faster than the finite-difference Jacobian.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bridge
from tests.models import lotka_volterra, robertson

warnings.filterwarnings("ignore", category=bridge.BridgeBackendWarning)


def median_times(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median wall time of each function, run interleaved so that load on a shared
    machine hits all of them alike."""
    for fn in fns:
        fn()  # warm up (tracing is cached on the problem, code paths get imported)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    return [statistics.median(acc) for acc in times]


def counting(f: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    calls = [0]

    def wrapped(*args: Any) -> Any:
        calls[0] += 1
        return f(*args)

    return wrapped, calls


def plain_rhs(f: Callable[..., Any], p: np.ndarray) -> Callable[..., Any]:
    return lambda t, y: f(y, p, t)


def row(name: str, seconds: float, nf: int, err: float, base: float | None = None) -> None:
    ratio = f"{seconds / base:6.2f}x" if base else "       "
    print(f"  {name:<44s} {seconds * 1e3:9.2f} ms  {ratio}  nf={nf:<7d} err={err:.1e}")


def bench_lotka_volterra(repeats: int) -> None:
    u0, p, tspan = np.array([1.0, 1.0]), np.array([1.5, 1.0, 3.0, 1.0]), (0.0, 10.0)
    saveat = np.linspace(*tspan, 101)
    tol = {"rtol": 1e-8, "atol": 1e-8}
    ref = solve_ivp(
        plain_rhs(lotka_volterra, p), tspan, u0, "DOP853", t_eval=saveat, rtol=1e-13, atol=1e-13
    ).y.T
    prob = bridge.ODEProblem(lotka_volterra, u0, tspan, p)
    kw = {"saveat": saveat, "reltol": 1e-8, "abstol": 1e-8, "backend": "reference"}
    print(f"Lotka-Volterra, tspan {tspan}, 101 save points, rtol=atol=1e-8")

    cot = np.ones((len(saveat), 2))

    def scipy_solve() -> Any:
        rhs = plain_rhs(lotka_volterra, p)
        return solve_ivp(rhs, tspan, u0, "DOP853", t_eval=saveat, **tol)

    def grad(sensealg: str) -> Callable[[], Any]:
        def run() -> Any:
            s, pullback = bridge.vjp(prob, "Tsit5", sensealg=sensealg, **kw)
            return s, pullback(cot)

        return run

    sensealgs = ["ForwardDiffSensitivity", "InterpolatingAdjoint"]
    fns = [scipy_solve, lambda: bridge.solve(prob, "Tsit5", **kw)] + [grad(s) for s in sensealgs]
    t_scipy, t_fwd, *t_grads = median_times(fns, repeats)
    r = scipy_solve()
    row("scipy solve_ivp DOP853, Python RHS", t_scipy, r.nfev, np.abs(r.y.T - ref).max())
    sol = bridge.solve(prob, "Tsit5", **kw)
    row("bridge solve Tsit5 (DOP853)", t_fwd, sol.stats.nf, np.abs(sol.u - ref).max(), t_scipy)
    for sensealg, t_grad in zip(sensealgs, t_grads, strict=True):
        s, g = grad(sensealg)()
        nf = s.stats.nf + (g.stats or bridge.Stats()).nf
        row(f"bridge vjp+pullback {sensealg}", t_grad, nf, np.abs(s.u - ref).max(), t_fwd)
    print("  (ratios: solve vs scipy; gradients vs the bridge forward solve)")


def bench_robertson(repeats: int) -> None:
    u0, p, tspan = np.array([1.0, 0.0, 0.0]), np.array([0.04, 3e7, 1e4]), (0.0, 1e5)
    saveat = np.array([1e-2, 1.0, 1e2, 1e4, 1e5])
    tol = {"rtol": 1e-6, "atol": 1e-10}
    ref = solve_ivp(
        plain_rhs(robertson, p), tspan, u0, "Radau", t_eval=saveat, rtol=1e-11, atol=1e-15
    ).y.T

    def rel_err(u: np.ndarray) -> float:
        return float(np.max(np.abs(u - ref) / np.abs(ref)))

    prob = bridge.ODEProblem(robertson, u0, tspan, p)
    kw = {"saveat": saveat, "reltol": 1e-6, "abstol": 1e-10, "backend": "reference"}
    print(f"Robertson, tspan {tspan}, rtol=1e-6 atol=1e-10 (err: max relative)")
    for method, alg in [("BDF", "FBDF"), ("LSODA", "auto"), ("Radau", "Rodas5P")]:
        fun, calls = counting(plain_rhs(robertson, p))
        r = solve_ivp(fun, tspan, u0, method, t_eval=saveat, **tol)
        t_scipy, t_b = median_times(
            [
                lambda m=method: solve_ivp(
                    plain_rhs(robertson, p), tspan, u0, m, t_eval=saveat, **tol
                ),
                lambda a=alg: bridge.solve(prob, a, **kw),
            ],
            repeats,
        )
        row(f"scipy solve_ivp {method}, finite-diff Jacobian", t_scipy, calls[0], rel_err(r.y.T))
        sol = bridge.solve(prob, alg, **kw)
        label = f"bridge solve {alg} ({method}, traced Jacobian)"
        row(label, t_b, sol.stats.nf, rel_err(sol.u), t_scipy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 15
    print(f"median of {repeats} runs; nf = right-hand side evaluations (bridge: sol.stats.nf)\n")
    bench_lotka_volterra(repeats)
    print()
    bench_robertson(repeats)


if __name__ == "__main__":
    main()
