"""Events, tstops, dense output and per-state tolerances on every engine (issue 18).

Event times against analytic ones (a falling ball, a bouncing ball over 10 bounces, a dosing
schedule stepped onto with tstops), terminal events, dense output, gradients through events
against closed forms and central differences of tight solves, bad input. Engines that do
not declare these options yet (``Backend.unsupported_options``) are skipped, saying so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp

import bridge
from bridge._backend import unsupported_options
from bridge._validate import check_options

TIGHT = {"reltol": 1e-10, "abstol": 1e-12}
SENSEALGS = ["ForwardDiffSensitivity", "InterpolatingAdjoint"]
G, E, H = 9.81, 0.9, 1.0


def need(backend, prob, *, gradient=False, **options):
    """Skip unless ``backend`` runs these options (events, tstops, a per-state abstol)."""
    opts = check_options(
        prob.tspan,
        None,
        1e-3,
        options.pop("abstol", 1e-6),
        100,
        events=tuple(options.pop("events", ())),
        tstops=options.pop("tstops", None),
        n_states=prob.n_states,
    )
    reason = unsupported_options(backend, prob, opts, gradient=gradient)
    if reason is not None:
        pytest.skip(f"events not yet on {backend}: {reason}")


def ball(u, p, t):
    return [u[1], -p[0]]


def ground(terminal=False, bounce=True):
    return bridge.Event(
        lambda u, p, t: u[0],
        direction=-1,
        affect=(lambda u, p, t: [u[0], -p[1] * u[1]]) if bounce else None,
        terminal=terminal,
        name="ground",
    )


def bounce_times(h0, g, e, k):
    """The times of the first k impacts of a ball dropped from h0 (restitution e)."""
    v0 = math.sqrt(2 * g * h0)
    times = [v0 / g]
    for i in range(1, k):
        times.append(times[-1] + 2 * e**i * v0 / g)
    return np.array(times)


def _height_expr(k):
    """h(T) after exactly k impacts, and its symbols (H, g, e, T), as SymPy."""
    h0, g, e, t = sp.symbols("H g e T", positive=True)
    v0 = sp.sqrt(2 * g * h0)
    if k == 0:
        return h0 - g * t**2 / 2, (h0, g, e, t)
    tk = v0 / g + 2 * v0 / g * sum(e**i for i in range(1, k))
    s = t - tk
    return e**k * v0 * s - g * s**2 / 2, (h0, g, e, t)


def height_closed_form(h0, g, e, t):
    """h(t) and d h(t) / d(h0, g, e) of the bouncing ball, from the closed form."""
    k = int(np.sum(bounce_times(h0, g, e, 40) < t))
    expr, syms = _height_expr(k)
    values = dict(zip(syms, (h0, g, e, t), strict=True))
    grad = [float(sp.diff(expr, s).subs(values)) for s in syms[:3]]
    return float(expr.subs(values)), np.array(grad)


# -- event times -------------------------------------------------------------------------------
def test_falling_ball_terminal_event_time_and_state(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 5.0), [G, E])
    event = ground(terminal=True, bounce=False)
    need(backend, prob, events=[event])
    sol = bridge.solve(prob, "Tsit5", events=[event], backend=backend, **TIGHT)
    tau = math.sqrt(2 * H / G)
    assert sol.retcode == "Terminated" and sol.success
    assert len(sol.t_events) == 1 and sol.t_events[0].shape == (1,)
    np.testing.assert_allclose(sol.t_events[0], [tau], rtol=1e-9)
    np.testing.assert_allclose(sol.u_events[0], [[0.0, -G * tau]], atol=1e-8)
    # Saving every step, the solve ends with the state at the event.
    assert sol.t[-1] == sol.t_events[0][0]
    np.testing.assert_allclose(sol.u[-1], [0.0, -G * tau], atol=1e-8)
    assert np.all(np.diff(sol.t) > 0)


def test_terminal_event_with_saveat_keeps_the_times_before_it(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 5.0), [G, E])
    event = ground(terminal=True, bounce=False)
    need(backend, prob, events=[event])
    sol = bridge.solve(prob, "Tsit5", events=[event], saveat=0.1, backend=backend, **TIGHT)
    tau = math.sqrt(2 * H / G)
    np.testing.assert_allclose(sol.t, [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-12)
    np.testing.assert_allclose(sol.u[:, 0], H - G * sol.t**2 / 2, rtol=1e-9)
    assert sol.retcode == "Terminated"
    np.testing.assert_allclose(sol.t_events[0], [tau], rtol=1e-9)


@pytest.mark.parametrize("alg", ["Tsit5", "Vern9", "Rodas5P", "auto"])
def test_bouncing_ball_ten_bounces(backend, alg):
    times = bounce_times(H, G, E, 11)
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, float(times[9] + times[10]) / 2), [G, E])
    need(backend, prob, events=[ground()])
    saveat = np.linspace(0.0, prob.tspan[1], 41)
    sol = bridge.solve(prob, alg, events=[ground()], saveat=saveat, backend=backend, **TIGHT)
    assert sol.retcode == "Success"
    np.testing.assert_allclose(sol.t_events[0], times[:10], rtol=1e-7)
    v0 = math.sqrt(2 * G * H)
    speeds = -v0 * E ** np.arange(10)  # just before impact k: e^(k-1) v0 downwards
    np.testing.assert_allclose(sol.u_events[0][:, 1], speeds, rtol=1e-6)
    np.testing.assert_allclose(sol.u_events[0][:, 0], 0.0, atol=1e-8)
    want = [height_closed_form(H, G, E, t)[0] for t in saveat]
    np.testing.assert_allclose(sol.u[:, 0], want, atol=1e-7)


def test_every_step_saving_keeps_both_sides_of_an_event(backend):
    times = bounce_times(H, G, E, 3)
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, float(times[2]) - 0.05), [G, E])
    need(backend, prob, events=[ground()])
    sol = bridge.solve(prob, "Tsit5", events=[ground()], backend=backend, **TIGHT)
    for tau in times[:2]:
        i = int(np.flatnonzero(np.isclose(sol.t, tau, rtol=1e-9, atol=0))[0])
        assert sol.t[i] == sol.t[i + 1]  # the time twice: before and after the affect
        assert sol.u[i, 1] < 0 < sol.u[i + 1, 1]
        np.testing.assert_allclose(sol.u[i + 1, 1], -E * sol.u[i, 1], rtol=1e-12)


def test_dosing_schedule_with_tstops(backend):
    """u' = -k u with a dose D at t = 1, 2, 3 (one Event each, stepped onto with tstops)."""
    doses = [1.0, 2.0, 3.0]

    def dose_at(when):
        return bridge.Event(
            lambda u, p, t: t - when, direction=1, affect=lambda u, p, t: [u[0] + p[1]]
        )

    events = [dose_at(d) for d in doses]
    prob = bridge.ODEProblem(lambda u, p, t: [-p[0] * u[0]], [0.0], (0.0, 5.0), [0.7, 2.0])
    need(backend, prob, events=events, tstops=doses)
    saveat = np.linspace(0.0, 5.0, 26)
    sol = bridge.solve(
        prob, "Tsit5", events=events, tstops=doses, saveat=saveat, backend=backend, **TIGHT
    )

    def exact(t):
        return sum(2.0 * np.exp(-0.7 * (t - d)) * (t >= d) for d in doses)

    np.testing.assert_allclose(sol.u[:, 0], exact(saveat), atol=1e-9)
    for i, d in enumerate(doses):
        np.testing.assert_allclose(sol.t_events[i], [d], rtol=1e-13)
    # A save time at a dose holds the state after it (the solution is right-continuous).
    np.testing.assert_allclose(sol.u[saveat == 2.0, 0], exact(2.0), rtol=1e-9)


def test_tstops_step_exactly_onto_their_times(backend):
    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [1.0], (0.0, 2.0))
    tstops = [0.3, 1.1, 1.7]
    need(backend, prob, tstops=tstops)
    sol = bridge.solve(prob, "Tsit5", tstops=tstops, backend=backend)
    for ts in tstops:
        assert ts in sol.t.tolist()
    np.testing.assert_allclose(sol.u[:, 0], np.exp(-sol.t), rtol=1e-4)


@pytest.mark.parametrize(("direction", "kinds"), [(1, "up"), (-1, "down"), (0, "both")])
def test_direction_keeps_the_crossings_asked_for(backend, direction, kinds):
    # u = (sin t, cos t): sin t - 0.5 crosses upwards at pi/6 + 2 pi k, downwards at 5 pi/6 + ...
    prob = bridge.ODEProblem(lambda u, p, t: [u[1], -u[0]], [0.0, 1.0], (0.0, 13.5))
    event = bridge.Event(lambda u, p, t: u[0] - 0.5, direction=direction)
    need(backend, prob, events=[event])
    sol = bridge.solve(prob, "Vern9", events=[event], saveat=[13.5], backend=backend, **TIGHT)
    up = [math.pi / 6 + 2 * math.pi * k for k in range(3)]
    down = [5 * math.pi / 6 + 2 * math.pi * k for k in range(2)]
    want = {"up": up, "down": down, "both": sorted(up + down)}[kinds]
    np.testing.assert_allclose(sol.t_events[0], want, rtol=1e-9)
    assert sol.retcode == "Success"  # an event without affect only records


def test_several_events_and_simultaneous_affects_in_order(backend):
    # Two events at t = 2 (applied in the order given: x 2, then + 1), one at t = 1.
    twice = bridge.Event(lambda u, p, t: t - 2.0, affect=lambda u, p, t: [2 * u[0]])
    plus = bridge.Event(lambda u, p, t: t - 2.0, affect=lambda u, p, t: [u[0] + 1.0])
    early = bridge.Event(lambda u, p, t: t - 1.0, affect=lambda u, p, t: [u[0] + 10.0])
    prob = bridge.ODEProblem(lambda u, p, t: [0.0 * u[0]], [1.0], (0.0, 3.0))
    events = [twice, plus, early]
    need(backend, prob, events=events)
    sol = bridge.solve(prob, "Tsit5", events=events, saveat=[0.5, 1.5, 2.5], backend=backend)
    np.testing.assert_allclose(sol.u[:, 0], [1.0, 11.0, 23.0])
    np.testing.assert_allclose([te[0] for te in sol.t_events], [2.0, 2.0, 1.0], rtol=1e-12)


def test_an_event_at_t0_is_not_triggered(backend):
    # Thrown up from the ground: the condition is zero at t0 but the ball is leaving it.
    prob = bridge.ODEProblem(ball, [0.0, 5.0], (0.0, 1.5), [G, E])
    event = ground(bounce=False)
    need(backend, prob, events=[event])
    sol = bridge.solve(prob, "Tsit5", events=[event], saveat=[1.5], backend=backend, **TIGHT)
    np.testing.assert_allclose(sol.t_events[0], [2 * 5.0 / G], rtol=1e-9)


def test_an_affect_does_not_retrigger_its_own_event(backend):
    # direction=0 and the state left exactly on the surface: one event per crossing.
    event = bridge.Event(lambda u, p, t: u[0], affect=lambda u, p, t: [u[0], -p[1] * u[1]])
    times = bounce_times(H, G, E, 3)
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, float(times[2]) + 0.01), [G, E])
    need(backend, prob, events=[event])
    sol = bridge.solve(
        prob, "Tsit5", events=[event], saveat=[prob.tspan[1]], backend=backend, **TIGHT
    )
    np.testing.assert_allclose(sol.t_events[0], times, rtol=1e-8)


def test_reverse_time_event_direction_is_along_the_integration(backend):
    # u' = -u from t = 1 back to 0: u grows as t decreases, crossing 0.5 upwards at ln 2.
    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [math.exp(-1.0)], (1.0, 0.0))
    up = bridge.Event(lambda u, p, t: u[0] - 0.5, direction=1)
    down = bridge.Event(lambda u, p, t: u[0] - 0.5, direction=-1)
    need(backend, prob, events=[up, down])
    sol = bridge.solve(prob, "Tsit5", events=[up, down], saveat=[0.0], backend=backend, **TIGHT)
    np.testing.assert_allclose(sol.t_events[0], [math.log(2.0)], rtol=1e-9)
    assert sol.t_events[1].shape == (0,)


# -- dense output ---------------------------------------------------------------------------------
def test_dense_output_matches_the_closed_form_and_sol_u(backend):
    times = bounce_times(H, G, E, 4)
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, float(times[3])), [G, E])
    need(backend, prob, events=[ground()])
    saveat = np.linspace(0.0, prob.tspan[1], 9)
    sol = bridge.solve(prob, "Tsit5", events=[ground()], saveat=saveat, backend=backend, **TIGHT)
    ts = np.linspace(0.0, prob.tspan[1], 97)
    dense = sol(ts)
    assert dense.shape == (97, 2)
    want = [height_closed_form(H, G, E, t)[0] for t in ts]
    np.testing.assert_allclose(dense[:, 0], want, atol=1e-8)
    np.testing.assert_allclose(sol(saveat), sol.u, atol=1e-12)  # agrees with the saved points
    assert sol(0.3).shape == (2,)
    np.testing.assert_allclose(sol(0.3), [H - G * 0.09 / 2, -G * 0.3], rtol=1e-9)
    # At an event time, the value after the affect (right-continuous): moving up.
    assert sol(float(sol.t_events[0][1]))[1] > 0


def test_dense_output_without_events_and_outside_the_span(backend):
    prob = bridge.ODEProblem(lambda u, p, t: [-p[0] * u[0]], [2.0], (0.0, 3.0), [0.7])
    sol = bridge.solve(prob, "Tsit5", saveat=[3.0], backend=backend, **TIGHT)
    assert sol.interpolant is not None, f"{backend} gives no dense output"
    ts = np.array([0.1, 1.3, 2.9])
    np.testing.assert_allclose(sol(ts)[:, 0], 2.0 * np.exp(-0.7 * ts), rtol=1e-8)
    with pytest.raises(bridge.BridgeValueError, match=r"solved span \[0\.0, 3\.0\].*t = 3\.5"):
        sol(3.5)
    with pytest.raises(bridge.BridgeValueError, match=r"t = -1\.0"):
        sol([0.5, -1.0])


def test_dense_output_stops_at_a_terminal_event(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 5.0), [G, E])
    event = ground(terminal=True, bounce=False)
    need(backend, prob, events=[event])
    sol = bridge.solve(prob, "Tsit5", events=[event], saveat=[0.1], backend=backend, **TIGHT)
    tau = float(sol.t_events[0][0])
    np.testing.assert_allclose(sol(tau), [0.0, -G * tau], atol=1e-8)
    with pytest.raises(bridge.BridgeValueError, match="outside it"):
        sol(tau + 0.1)


def test_vector_abstol_applies_per_state(backend):
    # State 0 oscillates fast with a tiny amplitude; state 1 decays. A loose tolerance on
    # state 0 alone lets the solver take far fewer steps, and state 1 stays accurate.
    def f(u, p, t):
        return [1e-8 * 50.0 * np.cos(50.0 * t), -u[1]]

    prob = bridge.ODEProblem(f, [0.0, 1.0], (0.0, 4.0))
    need(backend, prob, abstol=[1e-3, 1e-12])
    tight = bridge.solve(prob, "Tsit5", reltol=1e-10, abstol=1e-12, backend=backend)
    mixed = bridge.solve(prob, "Tsit5", reltol=1e-10, abstol=[1e-3, 1e-12], backend=backend)
    np.testing.assert_allclose(mixed.u[:, 1], np.exp(-mixed.t), rtol=1e-8)
    assert len(mixed.t) < len(tight.t)


# -- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_gradient_of_the_time_to_reach_the_ground(backend, sensealg):
    """A clock state records the impact time: c(T) = tau = sqrt(2 h0 / g) (v0 = 0)."""

    def falling(u, p, t):
        return [u[1], -p[0], 0.0 * u[2]]

    record = bridge.Event(
        lambda u, p, t: u[0], direction=-1, affect=lambda u, p, t: [u[0], u[1], t]
    )
    prob = bridge.ODEProblem(falling, [H, 0.0, 0.0], (0.0, 1.0), [G])
    need(backend, prob, events=[record], gradient=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[record], saveat=[1.0], sensealg=sensealg, backend=backend, **TIGHT
    )
    tau = math.sqrt(2 * H / G)
    np.testing.assert_allclose(sol.u[-1, 2], tau, rtol=1e-9)
    g = pullback(np.array([[0.0, 0.0, 1.0]]))
    # h0 + v0 tau - g tau^2 / 2 = 0: d tau / d v0 = tau / (g tau - v0) = 1 / g at v0 = 0
    np.testing.assert_allclose(g.u0, [1 / math.sqrt(2 * G * H), 1 / G, 0.0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g.p, [-tau / (2 * G)], rtol=1e-6)


@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_gradient_of_the_state_at_a_terminal_event(backend, sensealg):
    # v(tau) = -g tau = -sqrt(2 g h0): the last saved point is the state at the event.
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 5.0), [G, E])
    event = ground(terminal=True, bounce=False)
    need(backend, prob, events=[event], gradient=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[event], sensealg=sensealg, backend=backend, **TIGHT
    )
    cot = np.zeros_like(sol.u)
    cot[-1, 1] = 1.0
    g = pullback(cot)
    v_h, v_g = -math.sqrt(G / (2 * H)), -math.sqrt(H / (2 * G))
    np.testing.assert_allclose(g.u0[0], v_h, rtol=1e-6)
    np.testing.assert_allclose(g.p, [v_g, 0.0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("when", [0.3, 1.0, 2.1, 3.4])
def test_gradient_of_the_height_after_k_bounces(backend, sensealg, when):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, when + 0.2), [G, E])
    need(backend, prob, events=[ground()], gradient=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[ground()], saveat=[when], sensealg=sensealg, backend=backend,
        **TIGHT,
    )  # fmt: skip
    value, (d_h0, d_g, d_e) = height_closed_form(H, G, E, when)
    np.testing.assert_allclose(sol.u[0, 0], value, atol=1e-8)
    g = pullback(np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(g.u0[0], d_h0, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.p, [d_g, d_e], rtol=1e-6, atol=1e-8)


def _central_differences(loss, x, rel=1e-6):
    out = np.zeros_like(x)
    for i in range(len(x)):
        h = rel * max(abs(x[i]), 1e-3)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        out[i] = (loss(xp) - loss(xm)) / (2 * h)
    return out


@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_gradient_through_state_and_time_events_matches_central_differences(backend, sensealg):
    """A damped oscillator kicked when x crosses p2 downwards, and dosed at t = p3."""

    def f(u, p, t):
        return [u[1], -p[0] * u[0] - p[1] * u[1]]

    kick = bridge.Event(
        lambda u, p, t: u[0] - p[2], direction=-1, affect=lambda u, p, t: [u[0], u[1] + 0.3 * u[0]]
    )
    dose = bridge.Event(lambda u, p, t: t - p[3], affect=lambda u, p, t: [u[0] + 0.5, u[1]])
    events = [kick, dose]
    p0 = np.array([4.0, 0.3, 0.2, 1.3])
    prob = bridge.ODEProblem(f, [1.0, 0.0], (0.0, 4.0), p0)
    need(backend, prob, events=events, gradient=True)
    saveat = np.array([1.0, 2.5, 4.0])
    cot = np.array([[0.3, -1.0], [1.2, 0.4], [-0.7, 0.9]])
    sol, pullback = bridge.vjp(
        prob, "Vern9", events=events, saveat=saveat, sensealg=sensealg, backend=backend, **TIGHT
    )
    assert len(sol.t_events[0]) >= 2  # the kick happens, more than once
    g = pullback(cot)

    def loss(x):
        s = bridge.solve(
            prob.remake(u0=x[:2], p=x[2:]), "Vern9", events=events, saveat=saveat,
            backend="reference", reltol=1e-13, abstol=1e-13,
        )  # fmt: skip
        return float(np.sum(cot * s.u))

    want = _central_differences(loss, np.concatenate([prob.u0, p0]))
    np.testing.assert_allclose(np.concatenate([g.u0, g.p]), want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_gradient_of_a_dose_against_the_closed_form(backend, sensealg):
    # One dose D at t = p2 into u' = -k u: u(T) = u0 e^{-kT} + D e^{-k (T - p2)}.
    dose = bridge.Event(lambda u, p, t: t - p[2], direction=1, affect=lambda u, p, t: [u[0] + p[1]])
    k, d, td, t_end = 0.7, 2.0, 1.5, 4.0
    prob = bridge.ODEProblem(lambda u, p, t: [-p[0] * u[0]], [1.0], (0.0, t_end), [k, d, td])
    need(backend, prob, events=[dose], gradient=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[dose], saveat=[t_end], sensealg=sensealg, backend=backend,
        **TIGHT,
    )  # fmt: skip
    g = pullback(np.ones((1, 1)))
    a, b = math.exp(-k * t_end), math.exp(-k * (t_end - td))
    np.testing.assert_allclose(sol.u[0, 0], a + d * b, rtol=1e-9)
    np.testing.assert_allclose(g.u0, [a], rtol=1e-7)
    np.testing.assert_allclose(g.p, [-t_end * a - d * (t_end - td) * b, b, k * d * b], rtol=1e-6)


@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_state_switch_is_differentiated_through_its_surface(backend, sensealg):
    """Issue 12's reproducer: x' = where(x > 0.5, -k x, -0.1 k x), d x(3)/d x0 = 0.0397."""

    def leaky(u, p, t):
        x, k = u[0], p[0]
        return [np.where(x > 0.5, -k * x, -0.1 * k * x)]

    prob = bridge.ODEProblem(leaky, [1.0], (0.0, 3.0), [1.0])
    be = bridge._backend.get_backend(backend)
    handles = getattr(be, "handles_switches", None)
    if handles is None or not handles(prob.model):
        pytest.skip(f"switches as events not yet on {backend}")
    sol, pullback = bridge.vjp(
        prob, "Tsit5", saveat=[3.0], sensealg=sensealg, backend=backend, **TIGHT
    )
    g = pullback(np.ones((1, 1)))
    x3 = 0.5 * math.exp(-0.3) * 2**0.1
    np.testing.assert_allclose(sol.u[0, 0], x3, rtol=1e-8)
    np.testing.assert_allclose(g.u0, [0.05 * math.exp(-0.3) * 2**0.1], rtol=1e-6)
    np.testing.assert_allclose(g.p, [-0.3 * x3], rtol=1e-6)


@pytest.mark.parametrize("sensealg", SENSEALGS)
def test_gradient_through_an_event_in_reverse_time(backend, sensealg):
    # u' = -k u from u(2) = u2 back to t = 0, a dose D at t = 1 (crossed downwards in t):
    # u(0) = u2 e^{2k} + D e^{k}.
    dose = bridge.Event(lambda u, p, t: t - 1.0, direction=-1, affect=lambda u, p, t: [u[0] + p[1]])
    k, d = 0.4, 0.5
    prob = bridge.ODEProblem(lambda u, p, t: [-p[0] * u[0]], [1.0], (2.0, 0.0), [k, d])
    need(backend, prob, events=[dose], gradient=True)
    sol, pullback = bridge.vjp(
        prob, "Tsit5", events=[dose], saveat=[0.0], sensealg=sensealg, backend=backend, **TIGHT
    )
    np.testing.assert_allclose(sol.t_events[0], [1.0], rtol=1e-12)
    np.testing.assert_allclose(sol.u[0, 0], math.exp(2 * k) + d * math.exp(k), rtol=1e-9)
    g = pullback(np.ones((1, 1)))
    np.testing.assert_allclose(g.u0, [math.exp(2 * k)], rtol=1e-7)
    want_p = [2 * math.exp(2 * k) + d * math.exp(k), math.exp(k)]
    np.testing.assert_allclose(g.p, want_p, rtol=1e-7)


# -- bad input ----------------------------------------------------------------------------------
def test_bad_event_arguments_are_refused_by_name():
    with pytest.raises(bridge.BridgeTypeError, match=r"Event condition must be a callable.*int 3"):
        bridge.Event(3)
    with pytest.raises(bridge.BridgeValueError, match=r"Event direction must be -1.*got 2"):
        bridge.Event(lambda u, p, t: u[0], direction=2)
    with pytest.raises(bridge.BridgeValueError, match=r"Event direction.*got True"):
        bridge.Event(lambda u, p, t: u[0], direction=True)
    with pytest.raises(bridge.BridgeTypeError, match="Event affect must be None or a callable"):
        bridge.Event(lambda u, p, t: u[0], affect=[1.0])
    with pytest.raises(bridge.BridgeTypeError, match="Event terminal must be True or False"):
        bridge.Event(lambda u, p, t: u[0], terminal="yes")


def test_bad_solve_options_for_events_are_refused_by_name(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 2.0), [G, E])
    with pytest.raises(bridge.BridgeTypeError, match=r"events\[0\] is a function.*bridge\.Event"):
        bridge.solve(prob, events=[lambda t, y: y[0]], backend=backend)
    with pytest.raises(bridge.BridgeTypeError, match=r"events must be a bridge.Event or a list"):
        bridge.solve(prob, events="ground", backend=backend)
    with pytest.raises(
        bridge.BridgeValueError, match=r"tstops must lie inside tspan.*tstops\[1\] = 3\.0"
    ):
        bridge.solve(prob, tstops=[1.0, 3.0], backend=backend)
    with pytest.raises(bridge.BridgeValueError, match="abstol has 3 entries, but u0 has 2 states"):
        bridge.solve(prob, abstol=[1e-6, 1e-6, 1e-6], backend=backend)
    with pytest.raises(bridge.BridgeValueError, match=r"abstol\[1\] = -1e-06"):
        bridge.solve(prob, abstol=[1e-6, -1e-6], backend=backend)


def test_untraceable_events_name_the_function_and_the_fix(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 2.0), [G, E])

    def above(u, p, t):
        return u[0] > 0.5

    with pytest.raises(
        bridge.TraceError, match=r"event condition 'above'.*comparison.*u\[0\] - 0\.5"
    ):
        bridge.solve(prob, events=[bridge.Event(above)], backend=backend)

    def bounce(u, p, t):
        return -u[1]

    bad = bridge.Event(lambda u, p, t: u[0], affect=bounce)
    with pytest.raises(bridge.TraceError, match=r"event affect 'bounce'.*u0 has 2 states"):
        bridge.solve(prob, events=[bad], backend=backend)

    def scipy_style(t, y):
        return y[0]

    with pytest.raises(bridge.TraceError, match=r"takes \(t, y\): that is SciPy's order"):
        bridge.solve(prob, events=[bridge.Event(scipy_style)], backend=backend)


def test_an_engine_without_events_is_refused_by_name_and_passed_over_by_auto(backend):
    prob = bridge.ODEProblem(ball, [H, 0.0], (0.0, 2.0), [G, E])
    opts = check_options(prob.tspan, None, 1e-3, 1e-6, 100, events=(ground(),), n_states=2)
    reason = unsupported_options(backend, prob, opts)
    if reason is None:
        pytest.skip(f"{backend} runs events")
    assert "events" in reason and backend in reason
    with pytest.raises(bridge.BackendUnsupportedError, match=f"backend='{backend}' cannot run"):
        bridge.solve(prob, "Tsit5", events=[ground()], backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bridge.BridgeBackendWarning)  # once per process
        sol = bridge.solve(prob, "Tsit5", events=[ground()], backend="auto")
    assert sol.backend != backend and len(sol.t_events[0]) >= 1
