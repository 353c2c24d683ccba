"""Every touch of Julia happens with the call lock held (issue 12, Julia path item 5).

Without Julia (always run): a fake juliacall ``Main`` records, for each touch (looking a
function up, calling it, reading a result's array interface, describing an exception,
dropping a juliacall object), whether the touching thread held ``session.CALL_LOCK``. Drops
that happen while another thread holds the lock (a nogil solve in Julia) are queued until
the next call.

With Julia (marked ``julia``): threads solving with the GIL released while other threads
drop solutions and pullbacks, in a fresh process that must exit cleanly.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import numpy as np
import pytest

import bridge
from bridge._algorithms import check_alg
from bridge._julia import session
from bridge._julia.backend import JuliaBackend
from bridge._validate import check_options

TOUCHES: list[tuple[str, bool]] = []


def _touch(what: str) -> None:
    TOUCHES.append((what, session.CALL_LOCK.held()))


class JuliaError(Exception):
    """Stands in for juliacall.JuliaError."""


class AnyValue:
    """Stands in for an opaque juliacall value (a Job, a pullback handle)."""

    def __del__(self) -> None:
        _touch("drop")


class ArrayValue(AnyValue):
    """Stands in for juliacall's ArrayValue over a column-major Julia array."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.asfortranarray(data)

    @property
    def __array_interface__(self) -> dict[str, Any]:
        _touch("array interface")
        return self.data.__array_interface__


for _cls in (JuliaError, AnyValue, ArrayValue):
    _cls.__module__ = "juliacall"
JuliaError.__name__ = "JuliaError"


class FakeFunction(AnyValue):
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _touch(f"call {self.name}")
        if self.name == "prepare":
            return AnyValue()
        if self.name == "error_type_name":
            return "DomainError"
        if self.name == "error_message":
            return "DomainError with -1.0: sqrt was called with a negative argument"
        if self.name == "fail":
            raise JuliaError(AnyValue())
        if self.name == "dense_job":
            return AnyValue()
        if self.name == "dense_eval":
            return ArrayValue(np.ones((1, len(args[1]))))
        events = (ArrayValue(np.ones(1, dtype=np.int64)), ArrayValue(np.ones(1)),
                  ArrayValue(np.ones((1, 1))), 1.0, "")  # fmt: skip
        solution = (ArrayValue(np.ones((1, 3))), ArrayValue(np.arange(3.0)), "Success", (1,) * 5)
        solution = (*solution, events)
        if self.name == "vjp_job":
            return (*solution, AnyValue())
        if self.name == "pullback_job":
            return (ArrayValue(np.ones(1)), ArrayValue(np.zeros(1)))
        return solution

    _jl_call_nogil = __call__


class FakeDiffBridge:
    def __getattr__(self, name: str) -> FakeFunction:
        _touch("getattr")
        return FakeFunction(name)


class FakeMain:
    @property
    def DiffBridge(self) -> FakeDiffBridge:
        _touch("module")
        return FakeDiffBridge()


@pytest.fixture
def fake_main(monkeypatch):
    monkeypatch.setattr(session, "_MAIN", FakeMain())
    TOUCHES.clear()
    yield
    gc.collect()
    session._PENDING.clear()


def _problem() -> bridge.ODEProblem:
    rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)")
    return bridge.ODEProblem(rhs, [1.0], (0.0, 1.0), [0.5])


def _kinds() -> set[str]:
    return {what.split()[0] for what, _ in TOUCHES}


def test_solve_vjp_and_pullback_touch_julia_only_with_the_lock_held(fake_main):
    prob = _problem()
    opts = check_options(prob.tspan, [0.5, 1.0], 1e-6, 1e-8, 100)
    backend = JuliaBackend()
    sol = backend.solve(prob, check_alg("Tsit5"), opts)
    sol2, pullback = backend.vjp(prob, check_alg("Tsit5"), opts, "GaussAdjoint")
    grads = pullback(np.ones((3, 1)))
    assert sol.u.shape == (3, 1) and grads.u0.shape == (1,)
    assert sol([0.25, 0.75]).shape == (2, 1) and sol2(0.5).shape == (1,)  # dense output
    del sol, sol2, pullback, grads
    gc.collect()
    assert {"module", "getattr", "call", "array", "drop"} <= _kinds(), TOUCHES
    assert ("call dense_job", True) in TOUCHES and ("call dense_eval", True) in TOUCHES
    outside = [what for what, held in TOUCHES if not held]
    assert outside == [], f"Julia touched without the call lock: {outside}"


def test_a_drop_while_another_thread_is_in_julia_waits_for_the_lock(fake_main):
    prob = _problem()
    opts = check_options(prob.tspan, None, 1e-6, 1e-8, 100)
    sol = JuliaBackend().solve(prob, check_alg("Tsit5"), opts)
    in_julia, done = threading.Event(), threading.Event()

    def nogil_solve() -> None:  # holds the lock as a nogil call into Julia does
        with session.CALL_LOCK:
            in_julia.set()
            done.wait(10)

    worker = threading.Thread(target=nogil_solve)
    worker.start()
    in_julia.wait(10)
    TOUCHES.clear()
    del sol
    gc.collect()
    # the matrix, the times and the job (kept for sol(t)), queued
    assert TOUCHES == [] and len(session._PENDING) == 3
    done.set()
    worker.join()
    session.call("solve_job", None)  # the next call drops them, with the lock held
    gc.collect()
    drops = [held for what, held in TOUCHES if what == "drop"]
    assert len(drops) >= 3 and all(drops) and session._PENDING == []
    assert all(held for _, held in TOUCHES)


def test_julia_errors_are_described_under_the_lock_and_keep_no_juliacall_reference(fake_main):
    with pytest.raises(bridge.JuliaError) as info:
        session.call("fail")
    err = info.value
    assert err.julia_type == "DomainError" and "negative argument" in err.message
    assert err.__context__ is None and err.__cause__ is None
    gc.collect()
    assert all(held for _, held in TOUCHES), TOUCHES


def test_python_values_pass_and_handles_go_back_unwrapped(fake_main, monkeypatch):
    job = session.call("prepare")
    assert isinstance(job, session.JuliaHandle)
    seen = []
    monkeypatch.setattr(FakeFunction, "__call__", lambda self, *a: seen.extend(a) or ("ok", 3))
    monkeypatch.setattr(FakeFunction, "_jl_call_nogil", FakeFunction.__call__)
    assert session.call("solve_job", job, 2.5, nogil=True) == ("ok", 3)
    assert isinstance(seen[0], AnyValue) and seen[1] == 2.5


def test_started_does_not_start_julia(monkeypatch):
    monkeypatch.setattr(session, "_MAIN", None)
    assert session.started() is False and bridge._julia.started() is False


# ------------------------------------------------------------------------- with Julia


@pytest.mark.julia
def test_threads_solving_nogil_while_others_drop_results_do_not_crash(tmp_path):
    code = textwrap.dedent(
        """
        import gc, threading
        import numpy as np
        import bridge

        rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)")
        prob = bridge.ODEProblem(rhs, [1.0], (0.0, 50.0), [0.1])
        bridge.vjp(prob, "Tsit5", saveat=[50.0], backend="julia")  # compile first
        saveat = np.linspace(0.0, 50.0, 400)
        errors = []

        def work():
            try:
                for _ in range(25):
                    sol, pullback = bridge.vjp(prob, "Tsit5", saveat=saveat, backend="julia")
                    g = pullback(np.ones_like(sol.u))
                    assert np.isfinite(g.p).all()
                    del sol, pullback, g
                    gc.collect()
            except Exception as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("errors:", errors)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "errors: []" in proc.stdout, proc.stdout + proc.stderr[-3000:]
