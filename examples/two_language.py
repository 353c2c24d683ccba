"""The two-language problem, measured: fib(20) in Python and in Julia through bridge.

The founding talk asks how much longer Python takes than C to compute fib(20) (answer:
about 100x) and shows Julia's one-liner ``fib(n) = n < 2 ? n : fib(n-1) + fib(n-2)``, which
runs at C speed. This script times the same recursive function in Python and in Julia (started
by bridge through juliacall) and prints the ratio.

Run::

    python examples/two_language.py                      # n = 20
    python examples/two_language.py --quick              # fewer repetitions (also BRIDGE_EXAMPLES_QUICK=1)
    python examples/two_language.py --backend reference  # as every example: auto, julia, diffsol, reference

Only Julia can run the Julia fib: with another backend (asked for, or chosen by ``auto``
because Julia is absent) it says so, explains how to get Julia, times Python alone and
exits 0; ``--backend julia`` without Julia exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable

import bridge

# A module of its own, so the example does not define names in Julia's Main.
JULIA_FIB = """
module BridgeFibExample
fib(n::Int) = n < 2 ? n : fib(n - 1) + fib(n - 2)
function seconds_per_call(n::Int, reps::Int)
    fib(n)  # compile before timing
    t0 = time_ns()
    s = 0
    for _ in 1:reps
        s += fib(n)
    end
    return (time_ns() - t0) / 1e9 / reps, s
end
end
"""


def fib(n: int) -> int:
    """The talk's Python fib.

    Example
    -------
    >>> fib(20)
    6765
    """
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def best_time(func: Callable[[], object], reps: int) -> float:
    """The fastest of ``reps`` timed calls, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def julia_fib(n: int, reps: int) -> tuple[int, float, float]:
    """fib(n) in Julia: the value, the time per call measured inside Julia, and through bridge."""
    bridge.start_julia()  # bridge's Julia session (juliacall), with DiffBridge loaded
    from juliacall import Main as jl

    mod = jl.seval(JULIA_FIB)
    value = int(mod.fib(n))
    inside, _ = mod.seconds_per_call(n, max(reps, 100))
    through = best_time(lambda: mod.fib(n), reps)
    return value, float(inside), through


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (CI)")
    parser.add_argument("-n", type=int, default=20, help="which Fibonacci number (20)")
    parser.add_argument(
        "--backend", default=None, help="auto, julia, diffsol or reference (BRIDGE_BACKEND)"
    )
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BRIDGE_EXAMPLES_QUICK", "") not in ("", "0")
    reps = 3 if quick else 20
    n = args.n

    value = fib(n)
    py = best_time(lambda: fib(n), reps)
    print(f"Python: fib({n}) = {value} in {py * 1e3:.3f} ms (best of {reps})")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bridge.BridgeBackendWarning)
            choice = bridge.choose_backend(args.backend)
    except bridge.JuliaUnavailableError as exc:
        print(f"Julia was asked for but is not available: {exc}")
        return 2
    except bridge.BridgeError as exc:
        print(f"FAILED: {exc}")
        return 2
    print(f"Backend: {choice.describe()}")
    if choice.name != "julia":
        reason = dict(choice.skipped).get("julia") or (
            f"backend {choice.name!r} was asked for ({choice.source})"
        )
        print(f"Julia: not available here, so there is nothing to compare with ({reason}).")
        print("To get Julia: run `python -m bridge install` once; then run this example again.")
        print(f"OK: Python timed; the Julia comparison needs Julia ({choice.name} backend).")
        return 0

    jvalue, inside, through = julia_fib(n, reps)
    if jvalue != value:
        print(f"FAILED: Julia's fib({n}) = {jvalue}, Python's = {value}")
        return 1
    print(f"Julia:  fib({n}) = {jvalue} in {inside * 1e3:.4f} ms (timed inside Julia)")
    print(f"        {through * 1e3:.4f} ms called from Python through bridge")
    print(
        f"OK: Python takes {py / inside:.0f}x as long as Julia "
        f"({py / through:.0f}x counting the call from Python)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
