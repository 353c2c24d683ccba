"""Long sessions: memory stays flat over many solves, and tracing is served from the cache.

How the memory bound is chosen: after a warm-up of 50 iterations (which fills every
one-off cache in bridge, NumPy, SciPy and SymPy), 1,000 more iterations must grow Python's
traced memory (tracemalloc) by less than ``LEAK_BOUND`` = 128 KiB. An iteration allocates
two Solutions (t and u arrays, Stats), a pullback closure with its trajectory and a
Gradients, several KiB in all; the smallest thing a leak could keep per iteration is one
NumPy array (a 112-byte header plus its data) or a dict entry, so anything kept per
iteration shows up as >= ~130 bytes x 1,000 = 128 KiB. What does not depend on the number
of iterations (NumPy's small-array caches, free lists, interned strings) measured 40-60 KiB
here, flat between 200 and 1,000 iterations, so the bound sits about twice above it.
The shorter loops below use the same bound: they still catch anything that keeps a
Solution, a model or a closure per call (each >= 1 KiB).
"""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import numpy as np
import pytest

import bridge
from tests.models import lotka_volterra

REF = "reference"
LEAK_BOUND = 128 * 1024
WARMUP, ITERATIONS = 50, 1_000
REDEFINITIONS = 40


LV_ARGS = ([1.0, 1.0], (0.0, 0.5), [1.5, 1.0, 3.0, 1.0])
SENSEALGS = ("ForwardDiffSensitivity", "InterpolatingAdjoint")


def _growth_report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> str:
    top = after.compare_to(before, "lineno")[:8]
    return "\n".join(str(stat) for stat in top)


def measure_growth(step, warmup=WARMUP, iterations=ITERATIONS):
    """Run ``step(i)`` warmup times, then iterations times; return (bytes grown, report)."""
    for i in range(warmup):
        step(i)
    gc.collect()
    tracemalloc.start(1)
    try:
        before_snap = tracemalloc.take_snapshot()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(iterations):
            step(warmup + i)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        report = ""
        if after - before >= LEAK_BOUND:
            report = _growth_report(before_snap, tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    return after - before, report


@pytest.mark.slow
def test_repeated_solves_and_pullbacks_do_not_grow_memory():
    # Each iteration: a solve, a vjp and a pullback, alternating forward sensitivities and
    # the interpolating adjoint (the two code paths of the reference backend).
    prob = bridge.ODEProblem(lotka_volterra, *LV_ARGS)
    saveat = np.array([0.25, 0.5])
    results = {}

    def step(i):
        sensealg = SENSEALGS[i % 2]
        sol = bridge.solve(prob, "DP5", saveat=saveat, backend=REF)
        sol2, pullback = bridge.vjp(prob, "DP5", saveat=saveat, sensealg=sensealg, backend=REF)
        g = pullback(np.ones_like(sol2.u))
        results[sensealg] = (sol.u[-1].copy(), g.u0.copy(), g.p.copy())
        if i < 2:
            results["first", sensealg] = results[sensealg]

    growth, report = measure_growth(step)
    print(f"solves and pullbacks: grew {growth} bytes")
    assert growth < LEAK_BOUND, f"grew {growth / 1024:.0f} KiB over {ITERATIONS} runs:\n{report}"
    # The loop really ran the same computation every time (a test that did nothing would
    # pass the memory check trivially), and both gradients are right and agree.
    for sensealg in SENSEALGS:
        for a, b in zip(results["first", sensealg], results[sensealg], strict=True):
            assert np.array_equal(a, b)
    fwd, adj = (results[s] for s in SENSEALGS)
    for a, b in zip(fwd, adj, strict=True):  # u(0.5), dL/du0, dL/dp: two methods agree
        np.testing.assert_allclose(a, b, rtol=1e-2)
    assert np.all(np.abs(fwd[2]) > 1e-3)


@pytest.mark.slow
def test_failed_solves_do_not_grow_memory():
    # Failures build warnings and messages: those must not pile up either.
    prob = bridge.ODEProblem(lambda u, p, t: p[0] * u * u, [1.0], (0.0, 2.0), [1.0])
    seen = []

    def step(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bridge.SolverWarning)
            sol = bridge.solve(prob, "Tsit5", saveat=[0.5, 1.5], maxiters=3, backend=REF)
        if i == 0:
            seen.append(sol.retcode)

    growth, report = measure_growth(step, warmup=20, iterations=150)
    assert seen == ["MaxIters"]
    print(f"failed solves: grew {growth} bytes")
    assert growth < LEAK_BOUND, f"grew {growth / 1024:.0f} KiB:\n{report}"


def _counted(body):
    calls = []

    def rhs(u, p, t):
        calls.append(1)
        return body(u, p, t)

    return rhs, calls


def test_new_problem_from_same_function_is_served_from_the_cache():
    rhs, calls = _counted(lambda u, p, t: [-p[0] * u[0] + u[1], -u[1] * p[1]])
    first = bridge.ODEProblem(rhs, [1.0, 2.0], (0.0, 1.0), [0.5, 2.0])
    first_model = first.model
    traced = len(calls)
    assert traced >= 1
    # A new problem with other u0, p and tspan but the same function and sizes.
    second = bridge.ODEProblem(rhs, [3.0, -1.0], (0.0, 2.0), [1.5, 0.25])
    assert second.model.key == first_model.key
    assert second.model is first_model
    assert len(calls) == traced, "the function was traced again"
    # And the cached model solves the new problem correctly (u2 = -1 e^{-t/4}, ...).
    sol = bridge.solve(second, "Tsit5", saveat=[2.0], reltol=1e-10, abstol=1e-12, backend=REF)
    np.testing.assert_allclose(sol.u[0, 1], -np.exp(-0.5), rtol=1e-8)
    assert len(calls) == traced


@pytest.mark.slow
def test_many_problems_from_one_function_trace_once_and_stay_flat():
    rhs, calls = _counted(lotka_volterra)
    bridge.ODEProblem(rhs, *LV_ARGS).model  # noqa: B018
    traced = len(calls)
    sols = []

    def step(i):
        prob = bridge.ODEProblem(rhs, [1.0 + 1e-3 * (i % 7), 1.0], (0.0, 0.5), LV_ARGS[2])
        sol = bridge.solve(prob, "DP5", saveat=[0.5], backend=REF)
        if i % 100 == 0:
            sols.append(sol.retcode)

    growth, report = measure_growth(step, iterations=300)
    print(f"many problems: grew {growth} bytes")
    assert len(calls) == traced, f"{len(calls) - traced} re-traces of the same function"
    assert set(sols) == {"Success"}
    assert growth < LEAK_BOUND, f"grew {growth / 1024:.0f} KiB:\n{report}"


def test_cache_distinguishes_sizes_closures_and_parameter_layouts():
    # Served from the cache must never mean served the wrong model.
    def scale(u, p, t):
        return -p[0] * u

    one = bridge.ODEProblem(scale, [1.0], (0.0, 1.0), [1.0])
    two = bridge.ODEProblem(scale, [1.0, 2.0], (0.0, 1.0), [1.0])
    assert one.model.n_states == 1 and two.model.n_states == 2
    sol = bridge.solve(two, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12, backend=REF)
    np.testing.assert_allclose(sol.u[0], [np.exp(-1), 2 * np.exp(-1)], rtol=1e-8)

    # Closures share their code object but not the values they capture.
    def make_decay(k):
        def decay(u, p, t):
            return -k * u

        return decay

    slow, fast = make_decay(1.0), make_decay(3.0)
    ends = []
    for f in (slow, fast):
        prob = bridge.ODEProblem(f, [1.0], (0.0, 1.0))
        ends.append(
            bridge.solve(prob, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12, backend=REF).u[
                0, 0
            ]
        )
    np.testing.assert_allclose(ends, [np.exp(-1.0), np.exp(-3.0)], rtol=1e-8)

    # Same function, parameters as a flat vector vs named arrays of other shapes.
    def named(u, p, t):
        return [-p["a"][0] * u[0] - p["b"][1] * u[1], -p["b"][0] * u[1]]

    def flat(u, p, t):
        return [-p[0] * u[0] - p[2] * u[1], -p[1] * u[1]]

    pn = bridge.ODEProblem(named, [1.0, 1.0], (0.0, 1.0), {"a": [2.0], "b": [0.5, 1.0]})
    pf = bridge.ODEProblem(flat, [1.0, 1.0], (0.0, 1.0), [2.0, 0.5, 1.0])
    a = bridge.solve(pn, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12, backend=REF)
    b = bridge.solve(pf, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12, backend=REF)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-9)


@pytest.mark.slow
def test_redefined_functions_do_not_accumulate_models():
    # A notebook cell re-run redefines f each time; once the old function and its
    # problem are gone, the model cache must not keep their models alive forever.
    source = "def rhs(u, p, t):\n    return [-p[0] * u[0] * np.cos(t) + u[1], -u[0]]\n"

    def define():
        scope = {"np": np}
        exec(source, scope)
        return scope["rhs"]

    def build_and_solve():
        prob = bridge.ODEProblem(define(), [1.0, 0.0], (0.0, 1.0), [0.3])
        return bridge.solve(prob, "Tsit5", saveat=[1.0], backend=REF).retcode

    for _ in range(5):
        build_and_solve()
    gc.collect()
    tracemalloc.start()
    try:
        # What one model costs when it is kept (calibrates the bound below).
        base = tracemalloc.get_traced_memory()[0]
        kept = bridge.ODEProblem(define(), [1.0, 0.0], (0.0, 1.0), [0.3])
        kept.model  # noqa: B018
        gc.collect()
        one_model = tracemalloc.get_traced_memory()[0] - base
        before = tracemalloc.get_traced_memory()[0]
        retcodes = {build_and_solve() for _ in range(REDEFINITIONS)}
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retcodes == {"Success"}
    print(f"redefinitions: grew {growth} bytes, one model {one_model} bytes")
    # A cache holding each redefinition would grow by REDEFINITIONS models; allow 8 (or the
    # general leak bound, if the cache shares one model between identical sources).
    assert growth < max(8 * one_model, LEAK_BOUND), (
        f"grew {growth / 1024:.0f} KiB after {REDEFINITIONS} redefinitions; one model is "
        f"{one_model / 1024:.1f} KiB"
    )
