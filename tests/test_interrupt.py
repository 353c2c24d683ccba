"""Ctrl-C during a long reference solve (or a long trace) leaves the process usable.

Each scenario runs in a fresh subprocess: the main thread starts something long, a timer
thread sends SIGINT to the process after ``DELAY`` seconds, the script catches the
KeyboardInterrupt and then, in the same process, solves and differentiates again and prints
the results as JSON. The parent asserts that

* the interrupt arrived while the long call was still running (it did not finish first),
  and was acted on promptly (the call did not run on for seconds after Ctrl-C);
* a following solve, vjp and pullback on the same problem's model give the exact answer
  (no lock left held, no half-built cache entry, no leftover solver state).

The problem is a rotation u' = (p u1, -p u0), u(0) = (1, 0): u(1) = (cos p, -sin p), and for
L = u1(1) + u2(1): dL/du0 = (cos 1 - sin 1, sin 1 + cos 1), dL/dp = -sin 1 - cos 1 at p = 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DELAY = 0.5
#: Ctrl-C must take effect within this long (the solver loop checks for signals between
#: Python bytecodes, so anything more means a long stretch of uninterruptible code).
PROMPT = 3.0

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time, warnings
    import numpy as np
    import bridge

    warnings.simplefilter("ignore")
    SCENARIO, ALG, DELAY = sys.argv[1], sys.argv[2], float(sys.argv[3])
    LOOPS = [3]

    def rotation(u, p, t):
        x = u[0]
        for _ in range(LOOPS[0]):  # only makes the *trace* long when LOOPS is large
            x = x * 1.0
        return [p[0] * u[1], -p[0] * x]

    long_prob = bridge.ODEProblem(rotation, [1.0, 0.0], (0.0, 1e7), [1.0])
    if SCENARIO == "trace":
        LOOPS[0] = 10**7
    else:
        # Trace and import everything first, so that the interrupt lands in the solve.
        bridge.solve(long_prob.remake(tspan=(0.0, 0.1)), ALG, backend="reference")

    def arm():
        def fire():
            time.sleep(DELAY)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=fire, daemon=True).start()
        return time.perf_counter()

    status = "finished"
    try:
        if SCENARIO == "trace":
            start = arm()
            long_prob.model
        elif SCENARIO == "solve":
            start = arm()
            bridge.solve(long_prob, ALG, reltol=1e-12, abstol=1e-14, backend="reference")
        elif SCENARIO == "vjp":
            start = arm()
            sol, pullback = bridge.vjp(
                long_prob, ALG, saveat=[1e7], reltol=1e-12, abstol=1e-14,
                sensealg="ForwardDiffSensitivity", backend="reference",
            )
            pullback(np.ones_like(sol.u))
        elif SCENARIO == "pullback":
            # The forward solve first (not interrupted), then Ctrl-C lands in the backward
            # (adjoint) solve inside the pullback.
            mid = long_prob.remake(tspan=(0.0, float(sys.argv[4])))
            sol, pullback = bridge.vjp(
                mid, ALG, saveat=[mid.tspan[1]], sensealg="InterpolatingAdjoint",
                reltol=1e-8, abstol=1e-10, backend="reference",
            )
            start = arm()
            pullback(np.ones_like(sol.u))
    except KeyboardInterrupt:
        status = "interrupted"
    elapsed = time.perf_counter() - start
    LOOPS[0] = 3

    # The same problem (same function, same model cache entry) works afterwards.
    prob = long_prob.remake(tspan=(0.0, 1.0))
    tight = dict(reltol=1e-10, abstol=1e-12, backend="reference")
    sol = bridge.solve(prob, ALG, saveat=[1.0], **tight)
    sol2, pullback = bridge.vjp(prob, ALG, saveat=[1.0], **tight)
    g = pullback(np.ones_like(sol2.u))
    print(json.dumps({
        "status": status, "elapsed": elapsed, "retcode": sol.retcode,
        "u": sol.u[-1].tolist(), "g_u0": g.u0.tolist(), "g_p": g.p.tolist(),
    }))
    """
)


def run_scenario(scenario: str, alg: str, delay: float = DELAY, span: float = 300.0) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BRIDGE_BACKEND": "reference"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, scenario, alg, str(delay), str(span)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output\n{proc.stderr}"
    return json.loads(lines[-1])


def assert_usable_afterwards(out: dict) -> None:
    assert out["retcode"] == "Success"
    np.testing.assert_allclose(out["u"], [np.cos(1.0), -np.sin(1.0)], rtol=1e-8)
    s, c = np.sin(1.0), np.cos(1.0)
    np.testing.assert_allclose(out["g_u0"], [c - s, s + c], rtol=1e-6)
    np.testing.assert_allclose(out["g_p"], [-s - c], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "alg"),
    [
        ("solve", "Tsit5"),
        ("solve", "auto"),
        ("solve", "Rodas5P"),
        ("vjp", "Tsit5"),
        ("pullback", "Tsit5"),
        ("trace", "Tsit5"),
    ],
)
def test_keyboard_interrupt_leaves_process_usable(scenario, alg):
    out = run_scenario(scenario, alg)
    assert out["status"] == "interrupted", (
        f"the long {scenario} finished in {out['elapsed']:.2f} s before Ctrl-C arrived; "
        "make it longer"
    )
    assert out["elapsed"] < DELAY + PROMPT, f"Ctrl-C took effect after {out['elapsed']:.2f} s"
    assert_usable_afterwards(out)
