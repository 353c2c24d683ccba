"""Events, tstops, per-state abstol and dense output on the Julia backend (issue 18).

Without Julia (always run), against a fake ``session.call``: the events module is generated
by ``julia_events_module`` and loaded once per key (a new set of events, a new key);
``prepare`` gets the events' key, the tstops and the per-state abstol as the arrays the
options hold (no copy); DiffBridge's event log becomes ``sol.t_events``/``u_events`` per
event; ``sol(t)`` makes one dense solve (GIL released) on first use and one evaluation per
call, never for a time outside the solved span; tangential crossings reported by
DiffBridge become a ``GradientWarning`` naming the event. With a fake juliacall ``Main``:
every one of these touches happens with the call lock held.

With Julia (marked ``julia``): the same solves against the reference backend and closed
forms, every sensealg through bounces, per-state abstol under gradients, tstops under
gradients, a ``JuliaFunction`` with events, and ``sol(t)`` agreeing with ``sol.u``.
tests/conformance/test_events.py runs on Julia as well.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import warnings
from typing import Any

import numpy as np
import pytest

import bridge
from bridge._algorithms import SENSEALGS, check_alg
from bridge._events import check_events
from bridge._julia import session
from bridge._julia.backend import JuliaBackend, events_source, split_events
from bridge._trace.events_codegen import julia_events_module
from bridge._validate import check_options

from . import test_julia_session as lockcheck

TIGHT = {"reltol": 1e-10, "abstol": 1e-12}
G, E, H = 9.81, 0.9, 1.0


def ball(u, p, t):
    return [u[1], -p[0]]


def ground(terminal: bool = False) -> bridge.Event:
    return bridge.Event(
        lambda u, p, t: u[0],
        direction=-1,
        affect=lambda u, p, t: [u[0], -p[1] * u[1]],
        terminal=terminal,
        name="ground",
    )


def apex() -> bridge.Event:
    return bridge.Event(lambda u, p, t: u[1], direction=-1, name="apex")


def ball_problem(t1: float = 2.0) -> bridge.ODEProblem:
    return bridge.ODEProblem(ball, [H, 0.0], (0.0, t1), [G, E])


def options(prob: bridge.ODEProblem, **kw: Any) -> Any:
    events = check_events(kw.pop("events", None), prob)
    return check_options(
        prob.tspan,
        kw.pop("saveat", None),
        1e-6,
        kw.pop("abstol", 1e-8),
        1000,
        events=events,
        tstops=kw.pop("tstops", None),
        n_states=prob.n_states,
    )


# ------------------------------------------------------------ against a fake session.call


class FakeDiffBridge:
    """Answers DiffBridge calls with a canned bouncing-ball log: entries for event 1 at
    0.45 and 1.26, event 2 at 0.86 (1-based, as DiffBridge numbers them)."""

    def __init__(self, notes: str = "", retcode: str = "Success", t_end: float = 2.0) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any], bool]] = []
        self.notes, self.retcode, self.t_end = notes, retcode, t_end
        self.u = np.asfortranarray(np.arange(6.0).reshape(2, 3))
        self.t = np.array([0.0, 1.0, 2.0])

    def __call__(self, name: str, *args: Any, nogil: bool = False, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs, nogil))
        before = np.asfortranarray([[0.0, 0.1, 0.0], [-3.0, 0.0, -2.7]])
        events = (np.array([1, 2, 1]), np.array([0.45, 0.86, 1.26]), before, self.t_end, self.notes)
        result = (self.u, self.t, self.retcode, (10, 0, 0, 5, 1), events)
        answers = {
            "prepare": "job",
            "solve_job": result,
            "vjp_job": (*result, "handle"),
            "pullback_job": (np.ones(2), np.zeros(2)),
            "dense_job": "dense",
        }
        if name == "dense_eval":
            ts = args[1]
            return np.asfortranarray(np.vstack([ts, 2 * ts]))  # n x k
        return answers.get(name)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def call(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
        return next((args, kw, nogil) for call, args, kw, nogil in self.calls if call == name)


@pytest.fixture
def fake(monkeypatch):
    fake = FakeDiffBridge()
    monkeypatch.setattr(session, "call", fake)
    return fake


def test_the_events_module_is_generated_and_loaded_once_per_key(fake):
    backend, prob = JuliaBackend(), ball_problem()
    events = [ground(), apex()]
    opts = options(prob, events=events)
    backend.solve(prob, check_alg("Tsit5"), opts)
    backend.solve(prob.remake(u0=[2.0, 0.0]), check_alg("Tsit5"), opts)
    backend.vjp(prob, check_alg("Tsit5"), opts, "GaussAdjoint")
    assert fake.names().count("load_events") == 1
    (key, source, modname), _, _ = fake.call("load_events")
    traced = [ev.traced(prob) for ev in events]
    generated = julia_events_module("BridgeEvents", traced, 2, 2)
    assert source == generated.replace("module BridgeEvents\n", f"module {modname}\n", 1)
    assert key.startswith("events:") and modname.isidentifier()
    assert (
        "function conditions!(out, u, p, t)" in source and "const DIRECTIONS = (-1, -1)" in source
    )
    # the key each job is prepared with is the loaded one
    assert all(kw["events"] == key for call, _, kw, _ in fake.calls if call == "prepare")
    # another set of events is another module
    backend.solve(prob, check_alg("Tsit5"), options(prob, events=[ground(terminal=True)]))
    loads = [args for call, args, _, _ in fake.calls if call == "load_events"]
    assert len(loads) == 2 and loads[0][0] != loads[1][0]


def test_prepare_gets_the_options_arrays_without_copies(fake):
    prob = ball_problem()
    opts = options(prob, events=[ground()], tstops=[0.5, 1.5], abstol=[1e-8, 1e-6], saveat=0.5)
    JuliaBackend().solve(prob, check_alg("Tsit5"), opts)
    args, kw, _ = fake.call("prepare")
    saveat, abstol = args[6], args[8]
    assert abstol is opts.abstol_vector and saveat is opts.saveat
    assert kw["tstops"] is opts.tstops and kw["tstops"].tolist() == [0.5, 1.5]
    assert ("solve_job", ("job",), {}, True) in fake.calls  # the solve releases the GIL


def test_without_extras_prepare_keeps_its_arguments(fake):
    prob = ball_problem()
    JuliaBackend().solve(prob, check_alg("Tsit5"), options(prob, abstol=1e-9))
    args, kw, _ = fake.call("prepare")
    assert kw == {} and args[8] == 1e-9
    assert "load_events" not in fake.names()


def test_the_event_log_becomes_times_and_states_per_event(fake):
    prob = ball_problem()
    sol = JuliaBackend().solve(prob, check_alg("Tsit5"), options(prob, events=[ground(), apex()]))
    assert [te.tolist() for te in sol.t_events] == [[0.45, 1.26], [0.86]]
    np.testing.assert_array_equal(sol.u_events[0], [[0.0, -3.0], [0.0, -2.7]])
    np.testing.assert_array_equal(sol.u_events[1], [[0.1, 0.0]])
    assert sol.u_events[0].flags.c_contiguous and sol.u.shape == (3, 2)


def test_split_events_keeps_events_that_never_happened():
    te, ue = split_events(np.zeros(0, np.int64), np.zeros(0), np.zeros((3, 0)), 2)
    assert [t.shape for t in te] == [(0,), (0,)] and [u.shape for u in ue] == [(0, 3), (0, 3)]


def test_dense_output_solves_once_and_evaluates_per_call(fake):
    prob = ball_problem()
    sol = JuliaBackend().solve(prob, check_alg("Tsit5"), options(prob, saveat=[1.0]))
    assert "dense_job" not in fake.names()  # nothing until sol(t) is used
    np.testing.assert_array_equal(sol([0.5, 1.5]), [[0.5, 1.0], [1.5, 3.0]])
    np.testing.assert_array_equal(sol(0.25), [0.25, 0.5])
    assert fake.names().count("dense_job") == 1 and fake.names().count("dense_eval") == 2
    args, _, nogil = fake.call("dense_job")
    assert args == ("job",) and nogil  # the same job, solved again with the GIL released
    (dense, ts), _, _ = fake.call("dense_eval")
    assert dense == "dense" and ts.dtype == np.float64 and ts.tolist() == [0.5, 1.5]
    with pytest.raises(bridge.BridgeValueError, match=r"solved span \[0\.0, 2\.0\].*t = 2\.5"):
        sol(2.5)
    assert fake.names().count("dense_eval") == 2  # refused before Julia


def test_the_span_of_sol_t_ends_where_julia_says_the_solve_stopped(monkeypatch):
    fake = FakeDiffBridge(retcode="Terminated", t_end=0.45)
    monkeypatch.setattr(session, "call", fake)
    prob = ball_problem()
    sol = JuliaBackend().solve(prob, check_alg("Tsit5"), options(prob, events=[ground(True)]))
    assert sol.retcode == "Terminated" and sol.success
    assert sol.interpolant is not None and sol.interpolant.span == (0.0, 0.45)
    with pytest.raises(bridge.BridgeValueError, match=r"outside it \(the solve ended: Terminated"):
        sol(0.5)


def test_tangential_crossings_warn_naming_the_event(monkeypatch):
    fake = FakeDiffBridge(notes="2 0.86")
    monkeypatch.setattr(session, "call", fake)
    prob = ball_problem()
    opts = options(prob, events=[ground(), apex()])
    with pytest.warns(bridge.GradientWarning, match=r"event 'apex' at t=0\.86 .*tangentially"):
        sol, pullback = JuliaBackend().vjp(prob, check_alg("Tsit5"), opts, "GaussAdjoint")
    cot = np.ones(sol.u.shape)
    pullback(cot)
    handle, passed = fake.call("pullback_job")[0]
    assert handle == "handle" and np.shares_memory(passed, cot)


def test_julia_declares_events_tstops_and_abstol_but_not_switches():
    prob = ball_problem()
    opts = options(prob, events=[ground()], tstops=[1.0], abstol=[1e-8, 1e-8])
    assert JuliaBackend().unsupported_options(prob, opts, gradient=True) is None
    # switches in f are not events on Julia: bridge.vjp keeps warning about them
    assert not hasattr(JuliaBackend(), "handles_switches")


def test_events_source_names_a_module_per_source():
    prob = ball_problem()
    k1, s1, m1 = events_source(prob, [ground()])
    k2, s2, m2 = events_source(prob, [ground()])
    k3, _, m3 = events_source(prob, [apex()])
    assert (k1, s1, m1) == (k2, s2, m2) and k1 != k3 and m1 != m3
    assert s1.startswith(f"module {m1}\n") and s1.count("module ") == 1


def test_event_calls_touch_julia_only_with_the_lock_held(monkeypatch):
    """The same calls through ``session.call`` into a fake juliacall ``Main``."""
    monkeypatch.setattr(session, "_MAIN", lockcheck.FakeMain())
    lockcheck.TOUCHES.clear()
    try:
        prob = ball_problem()
        opts = options(prob, events=[ground()], tstops=[1.0], abstol=[1e-8, 1e-8])
        backend = JuliaBackend()
        sol = backend.solve(prob, check_alg("Tsit5"), opts)
        sol2, pullback = backend.vjp(prob, check_alg("Tsit5"), opts, "ForwardDiffSensitivity")
        pullback(np.ones(sol2.u.shape))
        sol([0.25, 0.75])  # the fake's span ends at 1.0
        del sol, sol2, pullback
        gc.collect()
        calls = {what for what, _ in lockcheck.TOUCHES if what.startswith("call")}
        assert {"call load_events", "call prepare", "call dense_job", "call dense_eval"} <= calls
        outside = [what for what, held in lockcheck.TOUCHES if not held]
        assert outside == [], f"Julia touched without the call lock: {outside}"
    finally:
        gc.collect()
        session._PENDING.clear()


@pytest.fixture
def julia_looks_installed(monkeypatch):
    from bridge import _backend

    engines = dict(_backend._BY_NAME)
    engines["julia"] = dataclasses.replace(engines["julia"], availability=lambda: None)
    monkeypatch.setattr(_backend, "_BY_NAME", engines)


def test_backend_julia_is_chosen_by_name_for_events(julia_looks_installed):
    from bridge._backend import choose_backend, unsupported_options

    prob = ball_problem()
    opts = options(prob, events=[ground()], tstops=[1.0], abstol=[1e-8, 1e-8])
    assert unsupported_options("julia", prob, opts, gradient=True) is None
    assert choose_backend("julia", prob, gradient=True, opts=opts).name == "julia"


# ------------------------------------------------------------------------------ with Julia


def bounce_times(k: int) -> np.ndarray:
    v0 = math.sqrt(2 * G * H)
    times = [v0 / G]
    for i in range(1, k):
        times.append(times[-1] + 2 * E**i * v0 / G)
    return np.array(times)


@pytest.mark.julia
@pytest.mark.parametrize("saveat", [None, 0.05], ids=["every-step", "saveat"])
def test_bouncing_ball_agrees_with_the_reference_backend(saveat):
    prob = ball_problem(3.0)
    events = [ground(), apex()]
    kw = {"events": events, "saveat": saveat, **TIGHT}
    sol_j = bridge.solve(prob, "Tsit5", backend="julia", **kw)
    sol_r = bridge.solve(prob, "Tsit5", backend="reference", **kw)
    for te_j, te_r in zip(sol_j.t_events, sol_r.t_events, strict=True):
        np.testing.assert_allclose(te_j, te_r, rtol=1e-8)
    np.testing.assert_allclose(sol_j.t_events[0], bounce_times(len(sol_j.t_events[0])), rtol=1e-8)
    if saveat is not None:
        np.testing.assert_allclose(sol_j.u, sol_r.u, atol=1e-8)
    ts = np.linspace(0.0, 3.0, 61)
    np.testing.assert_allclose(sol_j(ts), sol_r(ts), atol=1e-8)


@pytest.mark.julia
def test_dense_output_equals_the_saved_points_and_is_right_continuous():
    prob = ball_problem(2.0)
    sol = bridge.solve(prob, "Tsit5", events=[ground()], backend="julia", **TIGHT)
    # at an event time the saved points are (before, after); sol(t) gives the after one
    last_of_each = np.r_[sol.t[1:] != sol.t[:-1], True]
    np.testing.assert_allclose(sol(sol.t[last_of_each]), sol.u[last_of_each], atol=1e-12)
    assert not last_of_each.all()  # the bounces saved both sides
    tau = float(sol.t_events[0][0])
    assert sol(tau)[1] > 0 > sol(np.nextafter(tau, 0.0))[1]


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_every_sensealg_differentiates_through_bounces(sensealg):
    # the height at t = 2.1 (after two bounces) against the reference engine's gradients
    prob = ball_problem(2.3)
    kw = {"events": [ground()], "saveat": [1.0, 2.1], **TIGHT}
    sol_j, pb_j = bridge.vjp(prob, "Tsit5", sensealg=sensealg, backend="julia", **kw)
    sol_r, pb_r = bridge.vjp(prob, "Tsit5", backend="reference", **kw)
    np.testing.assert_allclose(sol_j.u, sol_r.u, atol=1e-8)
    cot = np.array([[0.3, -0.2], [1.0, 0.5]])
    g_j, g_r = pb_j(cot), pb_r(cot)
    np.testing.assert_allclose(g_j.u0, g_r.u0, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_j.p, g_r.p, rtol=1e-6, atol=1e-8)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "GaussAdjoint"])
def test_per_state_abstol_and_tstops_under_gradients(sensealg):
    # u' = -k u with doses at t = 1 and 2 (stepped onto), one abstol per state
    prob = bridge.ODEProblem(
        lambda u, p, t: [-p[0] * u[0], -p[1] * u[1]], [1.0, 2.0], (0.0, 3.0), [0.7, 0.2]
    )
    dose = bridge.Event(lambda u, p, t: t - 1.0, 1, lambda u, p, t: [u[0] + 1.0, u[1]])
    kw = {"saveat": [0.5, 1.0, 3.0], "tstops": [1.0, 2.0], "reltol": 1e-10}
    abstol = [1e-12, 1e-10]
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[dose], sensealg=sensealg, abstol=abstol, backend="julia", **kw
    )
    k0, k1 = 0.7, 0.2
    np.testing.assert_allclose(sol.u[:, 1], 2.0 * np.exp(-k1 * sol.t), rtol=1e-8)
    np.testing.assert_allclose(sol.u[2, 0], math.exp(-3 * k0) + math.exp(-2 * k0), rtol=1e-8)
    np.testing.assert_allclose(sol.u[1, 0], math.exp(-k0) + 1.0, rtol=1e-8)  # after the dose
    g = pullback(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(g.u0, [math.exp(-3 * k0), 0.0], atol=1e-9, rtol=1e-7)
    np.testing.assert_allclose(
        g.p, [-3 * math.exp(-3 * k0) - 2 * math.exp(-2 * k0), 0.0], atol=1e-9, rtol=1e-7
    )


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint"])
def test_a_julia_function_with_a_terminal_event(sensealg):
    rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = u[2]; du[2] = -p[1]; nothing)")
    prob = bridge.ODEProblem(rhs, [H, 0.0], (0.0, 5.0), [G])
    stop = bridge.Event(lambda u, p, t: u[0], direction=-1, terminal=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[stop], sensealg=sensealg, backend="julia", **TIGHT
    )
    tau = math.sqrt(2 * H / G)
    assert sol.retcode == "Terminated"
    np.testing.assert_allclose(sol.t_events[0], [tau], rtol=1e-9)
    cot = np.zeros_like(sol.u)
    cot[-1, 1] = 1.0  # v(tau) = -sqrt(2 g h0)
    g = pullback(cot)
    np.testing.assert_allclose(g.u0[0], -math.sqrt(G / (2 * H)), rtol=1e-6)
    np.testing.assert_allclose(g.p, [-math.sqrt(H / (2 * G))], rtol=1e-6)


@pytest.mark.julia
def test_vjp_solution_has_the_solves_events_and_dense_output():
    prob = ball_problem(2.0)
    kw = {"events": [ground()], "saveat": [0.5, 1.5], **TIGHT}
    plain = bridge.solve(prob, "Tsit5", backend="julia", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bridge.GradientWarning)
        sol, _ = bridge.vjp(prob, "Tsit5", backend="julia", **kw)
    np.testing.assert_allclose(sol.t_events[0], plain.t_events[0], rtol=1e-12)
    np.testing.assert_allclose(sol.u, plain.u, atol=1e-8)
    np.testing.assert_allclose(sol([0.25, 1.0]), plain([0.25, 1.0]), atol=1e-12)
