"""Concurrency: bridge used from 8 Python threads at once.

* Solves, vjps and pullbacks from 8 threads give results bit-identical to serial runs
  (same t, u, retcode, stats, gradients): no shared mutable state in the solve path.
* The model cache is safe under threads: 8 threads building problems from one function and
  tracing it at the same moment get one consistent model (same key, same object), the
  function is traced no more often than by a single thread, and results are correct.
* Tracing different functions at the same moment does not mix their models (a tracer that
  keeps its tape in a global would).

Threads start their work together on a barrier so that the first-use paths really race.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge
from tests.models import lotka_volterra, robertson

N_THREADS = 8
REF = "reference"
TIGHT = {"reltol": 1e-8, "abstol": 1e-10}


def damped(u, p, t):
    return [u[1], -p[0] * u[0] - p[1] * u[1] + np.sin(t)]


CASES = {
    "lv-Tsit5": (lotka_volterra, [1.0, 1.0], (0.0, 4.0), [1.5, 1.0, 3.0, 1.0], "Tsit5"),
    "rober-Rodas5P": (robertson, [1.0, 0.0, 0.0], (0.0, 10.0), [0.04, 3e7, 1e4], "Rodas5P"),
    "damped-auto": (damped, [1.0, 0.0], (0.0, 4.0), [4.0, 0.3], "auto"),
    "damped-FBDF": (damped, [1.0, 0.0], (0.0, 4.0), [4.0, 0.3], "FBDF"),
}


def run_in_threads(work, n=N_THREADS):
    """Run ``work(i)`` in n threads that start together; return the results in order."""
    barrier = threading.Barrier(n, timeout=60)

    def task(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(task, range(n)))


def solve_case(name):
    f, u0, tspan, p, alg = CASES[name]
    prob = bridge.ODEProblem(f, u0, tspan, p)
    return bridge.solve(prob, alg, saveat=np.linspace(*tspan, 21), backend=REF, **TIGHT)


def assert_same_solution(a, b):
    np.testing.assert_array_equal(a.t, b.t)
    assert np.array_equal(a.u, b.u), f"max diff {np.abs(a.u - b.u).max()}"
    assert a.retcode == b.retcode == "Success"
    assert a.stats == b.stats and a.alg == b.alg


@pytest.mark.parametrize("name", list(CASES))
def test_threaded_solves_identical_to_serial(name):
    serial = [solve_case(name) for _ in range(2)]
    assert_same_solution(serial[0], serial[1])
    threaded = run_in_threads(lambda i: solve_case(name))
    for sol in threaded:
        assert_same_solution(sol, serial[0])


def test_mixed_problems_in_threads_identical_to_serial():
    # Different problems (and SciPy methods: DOP853, Radau, LSODA, BDF) interleaved.
    names = list(CASES) * 2
    serial = {name: solve_case(name) for name in CASES}
    threaded = run_in_threads(lambda i: (names[i], solve_case(names[i])))
    for name, sol in threaded:
        assert_same_solution(sol, serial[name])


@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint"])
def test_threaded_vjp_and_pullback_identical_to_serial(sensealg):
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 5.0), [1.5, 1.0, 3.0, 1.0])
    saveat = np.linspace(0.0, 5.0, 11)
    rng = np.random.default_rng(0)
    cotangents = [rng.standard_normal((11, 2)) for _ in range(N_THREADS)]

    def work(i):
        sol, pullback = bridge.vjp(
            prob, "Tsit5", saveat=saveat, sensealg=sensealg, backend=REF, **TIGHT
        )
        return sol, pullback(cotangents[i])

    serial = [work(i) for i in range(N_THREADS)]
    threaded = run_in_threads(work)
    for (s_sol, s_g), (t_sol, t_g) in zip(serial, threaded, strict=True):
        assert_same_solution(t_sol, s_sol)
        assert np.array_equal(t_g.u0, s_g.u0) and np.array_equal(t_g.p, s_g.p)
    # The cotangents differ, so the gradients must too (the test would catch mix-ups).
    assert not np.array_equal(serial[0][1].p, serial[1][1].p)


def test_one_pullback_called_from_threads():
    # A single pullback closure shared by threads (e.g. a torch/jax backward on a worker
    # pool) must give each caller the gradient of its own cotangent.
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 5.0), [1.5, 1.0, 3.0, 1.0])
    sol, pullback = bridge.vjp(
        prob,
        "Tsit5",
        saveat=np.linspace(0, 5, 11),
        sensealg="InterpolatingAdjoint",
        backend=REF,
        **TIGHT,
    )
    rng = np.random.default_rng(1)
    cotangents = [rng.standard_normal(sol.u.shape) for _ in range(N_THREADS)]
    serial = [pullback(c) for c in cotangents]
    threaded = run_in_threads(lambda i: pullback(cotangents[i]))
    for s, t in zip(serial, threaded, strict=True):
        assert np.array_equal(s.u0, t.u0) and np.array_equal(s.p, t.p)


def _counted(body):
    """Wrap a right-hand side so that calls (tracing included) are counted."""
    calls = []

    def rhs(u, p, t):
        calls.append(1)
        return body(u, p, t)

    return rhs, calls


def test_model_cache_is_safe_under_threads():
    # A baseline: how often one trace calls the function (normally once).
    single, single_calls = _counted(lambda u, p, t: [p[0] * u[1], -p[1] * u[0]])
    bridge.ODEProblem(single, [1.0, 0.0], (0.0, 1.0), [1.0, 1.0]).model  # noqa: B018
    assert len(single_calls) >= 1

    # A function nobody has traced yet, traced by 8 threads at the same moment, each
    # through its own ODEProblem (so only the shared model cache can serialise them).
    rhs, calls = _counted(lambda u, p, t: [p[0] * u[1] * np.cos(t), -p[1] * u[0]])

    def work(i):
        prob = bridge.ODEProblem(rhs, [1.0, 0.5 * i], (0.0, 2.0), [1.0, 2.0])
        model = prob.model
        sol = bridge.solve(prob, "Tsit5", saveat=[2.0], backend=REF, **TIGHT)
        return model, sol

    results = run_in_threads(work)
    models = [m for m, _ in results]
    assert len({m.key for m in models}) == 1, "threads got different models"
    assert len({id(m) for m in models}) == 1, "the cache handed out several model objects"
    assert len(calls) == len(single_calls), (
        f"traced {len(calls)} times by 8 racing threads, {len(single_calls)} by one"
    )
    # Correct results for every thread's own u0 (checked against a serial solve).
    for i, (_, sol) in enumerate(results):
        prob = bridge.ODEProblem(rhs, [1.0, 0.5 * i], (0.0, 2.0), [1.0, 2.0])
        ref = bridge.solve(prob, "Tsit5", saveat=[2.0], backend=REF, **TIGHT)
        assert np.array_equal(sol.u, ref.u)


def test_shared_problem_first_used_from_threads_traces_once():
    rhs, calls = _counted(lambda u, p, t: [-p[0] * u[0] + np.tanh(u[1]), u[0] - u[1]])
    prob = bridge.ODEProblem(rhs, [1.0, 0.0], (0.0, 3.0), [0.7])
    sols = run_in_threads(
        lambda i: bridge.solve(prob, "Rodas5P", saveat=np.linspace(0, 3, 7), backend=REF)
    )
    n_calls = len(calls)
    assert n_calls >= 1
    for sol in sols[1:]:
        assert_same_solution(sol, sols[0])
    bridge.solve(prob, "Rodas5P", backend=REF)
    assert len(calls) == n_calls, "a traced problem called its Python function again"


def test_concurrent_tracing_of_different_functions_does_not_mix():
    # Eight structurally different functions traced at the same moment; each model must
    # evaluate to its own function (a global tracing tape would cross them).
    def make(k):
        def rhs(u, p, t):
            out = [u[1] * (k + 1) - p[0] * u[0], np.sin(u[0]) * k]
            for _ in range(k):  # a different number of operations per function
                out[1] = out[1] * 0.5 + u[0]
            return out

        rhs.__name__ = f"rhs_{k}"
        return rhs

    funcs = [make(k) for k in range(N_THREADS)]

    def work(i):
        prob = bridge.ODEProblem(funcs[i], [0.3, -0.2], (0.0, 1.0), [1.3])
        return prob.model

    models = run_in_threads(work)
    assert len({m.key for m in models}) == N_THREADS
    rng = np.random.default_rng(2)
    for f, model in zip(funcs, models, strict=True):
        for _ in range(3):
            u, p, t = rng.standard_normal(2), rng.standard_normal(1), float(rng.random())
            np.testing.assert_allclose(model.f(u, p, t), f(u, p, t), rtol=1e-12, atol=1e-14)


def test_auto_backend_warning_is_emitted_once_under_threads(monkeypatch):
    # The fallback warning's once-per-process flag is guarded by a lock.
    from bridge import _backend, _julia

    if _julia.status().usable:
        pytest.skip("Julia is available, so auto does not fall back")
    monkeypatch.setattr(_backend, "_warned", set())
    monkeypatch.delenv("BRIDGE_BACKEND", raising=False)
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 1.0), [1.5, 1.0, 3.0, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_in_threads(lambda i: bridge.solve(prob, "Tsit5", saveat=[1.0]))
    fallback = [w for w in caught if issubclass(w.category, bridge.BridgeBackendWarning)]
    assert len(fallback) == 1
