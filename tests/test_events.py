"""Events on the reference engine and the API around them: what the conformance suite
(tests/conformance/test_events.py) does not reach, through the public API where possible.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import bridge
from bridge._backend import choose_backend, unsupported_options
from bridge._validate import check_options

REF = {"backend": "reference"}
TIGHT = {"reltol": 1e-10, "abstol": 1e-12, "backend": "reference"}
G, E = 9.81, 0.9


def ball(u, p, t):
    return [u[1], -p[0]]


def bounce():
    return bridge.Event(
        lambda u, p, t: u[0], direction=-1, affect=lambda u, p, t: [u[0], -p[1] * u[1]]
    )


# -- the Event object ---------------------------------------------------------------------------
def test_event_repr_name_and_read_only_attributes():
    def ground(u, p, t):
        return u[0]

    ev = bridge.Event(ground, direction=-1, affect=lambda u, p, t: u, terminal=True)
    assert repr(ev) == "Event('ground', direction=-1, affect, terminal=True)"
    assert bridge.Event(lambda u, p, t: u[0]).name == "event"
    assert bridge.Event(lambda u, p, t: u[0], name="mine").name == "mine"
    with pytest.raises(AttributeError):
        ev.direction = 1  # type: ignore[misc]
    assert bridge.Event(ground, direction=np.int64(1), terminal=np.bool_(True)).direction == 1


def test_a_single_event_needs_no_list():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    sol = bridge.solve(prob, "Tsit5", events=bounce(), saveat=[1.0], **TIGHT)
    assert len(sol.t_events) == 1 and len(sol.t_events[0]) == 1


def test_no_events_and_events_that_never_happen():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 0.2), [G, E])
    sol = bridge.solve(prob, "Tsit5", saveat=[0.2], **REF)
    assert sol.t_events == [] and sol.u_events == []
    sol = bridge.solve(prob, "Tsit5", events=[bounce()], saveat=[0.2], **REF)
    assert sol.t_events[0].shape == (0,) and sol.u_events[0].shape == (0, 2)


def test_events_with_named_parameters():
    def fall(u, p, t):
        return [u[1], -p["g"][0]]

    ground = bridge.Event(
        lambda u, p, t: u[0] - p["floor"][0],
        direction=-1,
        affect=lambda u, p, t: [u[0], -p["e"][0] * u[1]],
    )
    prob = bridge.ODEProblem(fall, [1.0, 0.0], (0.0, 1.0), {"g": [G], "e": [E], "floor": [0.5]})
    sol, pullback = bridge.vjp(prob, "Tsit5", events=[ground], saveat=[1.0], **TIGHT)
    np.testing.assert_allclose(sol.t_events[0][0], math.sqrt(2 * 0.5 / G), rtol=1e-9)
    g = pullback(np.array([[1.0, 0.0]]))
    assert set(g.p_dict) == {"g", "e", "floor"}


def test_an_event_is_traced_again_when_a_value_it_froze_changes():
    floor = 0.5
    ground = bridge.Event(lambda u, p, t: u[0] - floor, direction=-1, terminal=True)
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 2.0), [G, E])
    first = bridge.solve(prob, "Tsit5", events=[ground], **TIGHT).t_events[0][0]
    floor = 0.0
    second = bridge.solve(prob, "Tsit5", events=[ground], **TIGHT).t_events[0][0]
    np.testing.assert_allclose([first, second], [math.sqrt(1 / G), math.sqrt(2 / G)], rtol=1e-9)


def test_the_users_own_raise_passes_unchanged():
    def picky(u, p, t):
        raise KeyError("my own check")

    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    with pytest.raises(KeyError, match="my own check"):
        bridge.solve(prob, events=[bridge.Event(picky)], **REF)


def test_a_condition_reading_a_state_that_does_not_exist_says_the_sizes():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    with pytest.raises(bridge.TraceError, match="u0 has 2 states"):
        bridge.solve(prob, events=[bridge.Event(lambda u, p, t: u[2])], **REF)


def test_events_run_with_an_opaque_right_hand_side_but_gradients_are_refused():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E], trace=False)
    sol = bridge.solve(prob, "Tsit5", events=[bounce()], saveat=[1.0], **TIGHT)
    np.testing.assert_allclose(sol.t_events[0][0], math.sqrt(2 / G), rtol=1e-9)
    with pytest.raises(bridge.GradientUnavailableError, match="trace=False"):
        bridge.vjp(prob, "Tsit5", events=[bounce()], saveat=[1.0], **TIGHT)


def test_ensembles_refuse_events_by_name():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    eprob = bridge.EnsembleProblem(prob, p=np.array([[G, E], [G, 0.5]]))
    with pytest.raises(
        bridge.BridgeValueError, match="events cannot be used with an EnsembleProblem"
    ):
        bridge.solve(eprob, "Tsit5", saveat=[1.0], events=[bounce()], **REF)


@pytest.mark.parametrize("engine", ["reference", "diffsol"])
@pytest.mark.parametrize("ensemble", ["serial", "processes"])
def test_ensembles_take_tstops_and_a_per_state_abstol(engine, ensemble):
    from bridge._diffsol import availability

    if engine == "diffsol" and availability() is not None:
        pytest.skip(f"needs pydiffsol: {availability()}")

    def decay(u, p, t):
        return [-p[0] * u[0], p[0] * u[0] - p[1] * u[1]]

    prob = bridge.ODEProblem(decay, [1.0, 0.0], (0.0, 2.0), [1.0, 0.5])
    P = np.array([[1.0, 0.5], [2.0, 0.3], [0.7, 1.1]])
    eprob = bridge.EnsembleProblem(prob, p=P)
    kw = {"saveat": [0.5, 1.0, 2.0], "tstops": [0.75, 1.25], "abstol": [1e-12, 1e-10],
          "reltol": 1e-10, "backend": engine}  # fmt: skip
    esol, pullback = bridge.vjp(eprob, "Tsit5", ensemble=ensemble, **kw)
    g = pullback(np.ones(esol.u.shape))
    assert esol.backend == engine and esol.ensemble == ensemble
    for i, p in enumerate(P):
        # each member is the single solve with the same options, to the last bit
        sol, member_pullback = bridge.vjp(prob.remake(p=p), "Tsit5", **kw)
        np.testing.assert_array_equal(esol.u[i], sol.u)
        want = member_pullback(np.ones(sol.u.shape))
        np.testing.assert_allclose(g.p[i], want.p, rtol=1e-12)
        # and right: u0 = 1 decays as e^(-a t)
        np.testing.assert_allclose(esol.u[i, :, 0], np.exp(-p[0] * np.array([0.5, 1.0, 2.0])),
                                   rtol=1e-8)  # fmt: skip


# -- the reference engine's event location ------------------------------------------------------
def test_two_crossings_inside_one_step_are_both_found():
    # u' = 0: the solver steps over the whole span at once; g = (t - 0.4)(t - 0.6) crosses
    # zero twice inside that step, between the sample points.
    for t1 in (1.0, 3.0):
        prob = bridge.ODEProblem(lambda u, p, t: [0.0 * u[0]], [1.0], (0.0, t1))
        event = bridge.Event(lambda u, p, t: (t - 0.4) * (t - 0.6))
        sol = bridge.solve(prob, "Tsit5", events=[event], **REF)
        assert not np.any((sol.t > 0.3) & (sol.t < 0.7))  # the steps are the saved points
        np.testing.assert_allclose(sol.t_events[0], [0.4, 0.6], rtol=1e-12)


def test_a_ball_coming_to_rest_ends_with_a_zeno_retcode_not_below_the_floor():
    # With e < 1 the bounces accumulate at T = tau (1 + e) / (1 - e); past it the solution
    # would fall through the floor. The solve must stop there and say why.
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 10.0), [G, E])
    with pytest.warns(bridge.SolverWarning, match="events accumulate"):
        sol = bridge.solve(prob, "Tsit5", events=[bounce()], saveat=[10.0], **TIGHT)
    assert not sol.success
    rest = math.sqrt(2 / G) * (1 + E) / (1 - E)
    np.testing.assert_allclose(sol.t_events[0][-1], rest, rtol=1e-6)
    assert len(sol.t) == 0  # t = 10 was never reached: no value is made up for it


def test_stats_add_up_over_the_restarts():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 2.0), [G, E])
    sol = bridge.solve(prob, "Tsit5", events=[bounce()], **REF)
    assert sol.stats.naccept == len(np.unique(sol.t)) - 1 + 0 * len(sol.t_events[0])
    assert sol.stats.nf > 12 * sol.stats.naccept


def test_a_terminal_event_with_an_affect_saves_both_states():
    stop = bridge.Event(
        lambda u, p, t: u[0], direction=-1, affect=lambda u, p, t: [u[0], 0.0 * u[1]], terminal=True
    )
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 2.0), [G, E])
    sol = bridge.solve(prob, "Tsit5", events=[stop], **TIGHT)
    tau = math.sqrt(2 / G)
    assert sol.retcode == "Terminated" and sol.t[-1] == sol.t[-2] == sol.t_events[0][0]
    np.testing.assert_allclose(sol.u[-2:], [[0.0, -G * tau], [0.0, 0.0]], atol=1e-8)
    np.testing.assert_allclose(sol.u_events[0], [[0.0, -G * tau]], atol=1e-8)
    assert "terminated by event" in sol.message


def test_sol_of_t_on_vjp_solutions_and_after_failure():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.5), [G, E])
    ts = np.linspace(0.0, 1.5, 7)
    for sensealg in ("ForwardDiffSensitivity", "InterpolatingAdjoint"):
        sol, _ = bridge.vjp(prob, "Tsit5", events=[bounce()], saveat=ts, sensealg=sensealg, **TIGHT)
        np.testing.assert_allclose(sol(ts), sol.u, atol=1e-12)
        assert sol(0.7).shape == (2,)
    stuck = bridge.ODEProblem(lambda u, p, t: [u[0] ** 2], [1.0], (0.0, 2.0))
    with pytest.warns(bridge.SolverWarning):
        failed = bridge.solve(stuck, "Tsit5", **REF)
    end = float(failed.interpolant.span[1])
    assert 0.9 < end < 1.01  # it blows up at t = 1
    with pytest.raises(bridge.BridgeValueError, match=r"outside it \(the solve ended: "):
        failed(1.5)


def test_sol_of_t_refuses_bad_times_by_name():
    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [1.0], (0.0, 1.0))
    sol = bridge.solve(prob, "Tsit5", **REF)
    with pytest.raises(bridge.BridgeTypeError, match="sol\\(t\\) takes a time"):
        sol("0.5")
    with pytest.raises(bridge.BridgeValueError, match="1-D array of times, got shape \\(2, 2\\)"):
        sol(np.zeros((2, 2)))
    with pytest.raises(bridge.BridgeValueError, match="must be finite"):
        sol(float("nan"))


def test_reverse_time_dense_output():
    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [math.exp(-2.0)], (2.0, 0.0))
    sol = bridge.solve(prob, "Tsit5", saveat=[0.0], **TIGHT)
    np.testing.assert_allclose(sol([1.5, 0.5])[:, 0], np.exp(-np.array([1.5, 0.5])), rtol=1e-9)


def test_a_per_state_abstol_reaches_forward_sensitivities():
    # Two decays of very different size: the gradient of the small one is right only if its
    # own tight tolerance is used (the large one's would leave it uncontrolled).
    def two(u, p, t):
        return [-p[0] * u[0], -p[1] * u[1]]

    prob = bridge.ODEProblem(two, [1e-9, 1.0], (0.0, 3.0), [0.5, 0.8])
    _, pullback = bridge.vjp(
        prob, "Tsit5", saveat=[3.0], reltol=1e-10, abstol=[1e-20, 1e-10],
        sensealg="ForwardDiffSensitivity", backend="reference",
    )  # fmt: skip
    g = pullback(np.array([[1e9, 0.0]]))
    np.testing.assert_allclose(g.u0, [1e9 * math.exp(-1.5), 0.0], rtol=1e-7)
    np.testing.assert_allclose(g.p, [-3.0 * math.exp(-1.5), 0.0], rtol=1e-7, atol=1e-12)


def test_tstops_in_reverse_time_and_duplicates():
    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [1.0], (2.0, 0.0))
    sol = bridge.solve(prob, "Tsit5", tstops=[0.5, 1.5, 1.5, 2.0], **REF)
    assert {0.5, 1.5} <= set(sol.t.tolist())
    assert np.all(np.diff(sol.t) < 0)


# -- switches on u or p become events in gradients ------------------------------------------------
@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint"])
def test_a_sign_switch_on_the_state_is_differentiated_exactly(sensealg):
    # x' = -sign(x - 1) c: from x0 = 2, x = 2 - c t until x = 1 at tau = 1/c; then the sign
    # flips, and x oscillates... make it a one-way switch: below 1 the rate is 0.25 c.
    def rate(u, p, t):
        s = np.sign(u[0] - 1.0)
        return [-p[0] * (0.625 + 0.375 * s)]

    prob = bridge.ODEProblem(rate, [2.0], (0.0, 3.0), [1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", bridge.GradientWarning)
        sol, pullback = bridge.vjp(prob, "Tsit5", saveat=[3.0], sensealg=sensealg, **TIGHT)
    g = pullback(np.ones((1, 1)))
    # x(3) = 1 - 0.25 c (3 - (x0 - 1)/c) = 1 - 0.75 c + 0.25 (x0 - 1)
    np.testing.assert_allclose(sol.u[0, 0], 1 - 0.75 + 0.25, rtol=1e-9)
    np.testing.assert_allclose(g.u0, [0.25], rtol=1e-7)
    np.testing.assert_allclose(g.p, [-0.75], rtol=1e-7)


@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint"])
def test_a_switch_on_a_parameter_and_t_is_differentiated_exactly(sensealg):
    def pulse(u, p, t):
        return [np.where(t < p[0], 1.0, 0.0) - 0.0 * u[0]]

    prob = bridge.ODEProblem(pulse, [0.0], (0.0, 2.0), [1.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error", bridge.GradientWarning)
        sol, pullback = bridge.vjp(prob, "Tsit5", saveat=[2.0], sensealg=sensealg, **TIGHT)
    np.testing.assert_allclose(sol.u[0, 0], 1.3, rtol=1e-9)
    np.testing.assert_allclose(pullback(np.ones((1, 1))).p, [1.0], rtol=1e-8)


def test_a_switch_matches_central_differences_alongside_an_event():
    def f(u, p, t):
        x, v = u
        return [v, np.where(x > p[0], -4.0 * x, -1.0 * x) - 0.2 * v]

    kick = bridge.Event(lambda u, p, t: t - 1.7, affect=lambda u, p, t: [u[0], u[1] + p[1]])
    p0 = np.array([0.3, 0.4])
    prob = bridge.ODEProblem(f, [1.0, 0.0], (0.0, 4.0), p0)
    saveat, cot = np.array([2.0, 4.0]), np.array([[1.0, -0.5], [0.3, 0.8]])
    grads = []
    for sensealg in ("ForwardDiffSensitivity", "InterpolatingAdjoint"):
        _, pullback = bridge.vjp(
            prob, "Vern9", events=[kick], saveat=saveat, sensealg=sensealg, **TIGHT
        )
        g = pullback(cot)
        grads.append(np.concatenate([g.u0, g.p]))

    def loss(x):
        s = bridge.solve(
            prob.remake(u0=x[:2], p=x[2:]), "Vern9", events=[kick], saveat=saveat,
            backend="reference", reltol=1e-13, abstol=1e-13,
        )  # fmt: skip
        return float(np.sum(cot * s.u))

    x0, h = np.concatenate([prob.u0, p0]), 1e-6
    fd = [(loss(x0 + h * e) - loss(x0 - h * e)) / (2 * h) for e in np.eye(4)]
    for got in grads:
        np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)


def test_a_trajectory_sliding_along_a_switch_warns():
    # x' = -1 above 0, +1 below: the solution reaches 0 at t = 1 and chatters on it.
    prob = bridge.ODEProblem(
        lambda u, p, t: [np.where(u[0] > 0, -p[0], p[0])], [1.0], (0.0, 1.02), [1.0]
    )
    with pytest.warns(bridge.GradientWarning, match="slides along a switching surface"):
        bridge.vjp(prob, "Tsit5", saveat=[1.02], **REF)


def test_array_traced_models_still_warn_on_the_reference_engine():
    # Array-traced models record a switch without its condition: no surface to follow.
    w = np.linspace(-0.5, 0.5, 128).reshape(64, 2)

    def switching(u, p, t):
        return np.where(u > 0.5, -1.0, -0.1) * u + 0.01 * (w.T @ np.tanh(w @ u))

    prob = bridge.ODEProblem(switching, [1.0, 0.2], (0.0, 1.0))
    assert not bridge._reference.BACKEND.handles_switches(prob.model)
    with pytest.warns(bridge.GradientWarning, match="the reference engine does not treat"):
        bridge.vjp(prob, "Tsit5", saveat=[1.0], **REF)


# -- engines declare what they run -----------------------------------------------------------------
class _Plain:
    name = "plain"


class _Picky:
    name = "picky"

    def unsupported_options(self, prob, opts, *, gradient):
        return "it runs tstops only" if opts.events else None


def test_engines_without_the_hook_refuse_every_extra_option(monkeypatch):
    import bridge._backend as backend_module

    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    monkeypatch.setattr(backend_module, "get_backend", lambda name: _Plain())
    plain = check_options(prob.tspan, None, 1e-3, 1e-6, 10, events=(bounce(),), n_states=2)
    assert "does not run events yet" in unsupported_options("plain", prob, plain)
    both = check_options(prob.tspan, None, 1e-3, [1e-6, 1e-6], 10, tstops=[0.5], n_states=2)
    assert "tstops or a per-state abstol" in unsupported_options("plain", prob, both)
    assert (
        unsupported_options("plain", prob, check_options(prob.tspan, None, 1e-3, 1e-6, 10)) is None
    )
    monkeypatch.setattr(backend_module, "get_backend", lambda name: _Picky())
    assert unsupported_options("picky", prob, plain) == "it runs tstops only"
    assert unsupported_options("picky", prob, both) is None


def test_auto_runs_events_on_diffsol_and_passes_over_it_for_a_condition_diffsl_lacks(
    monkeypatch,
):
    from bridge import _backend
    from bridge._diffsol import availability

    monkeypatch.setattr(_backend, "_warned", set())  # the warning is once per process

    if availability() is not None:
        pytest.skip(f"needs pydiffsol: {availability()}")
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    opts = check_options(prob.tspan, None, 1e-3, 1e-6, 10, events=(bounce(),), n_states=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bridge.BridgeBackendWarning)
        assert choose_backend("auto", prob, opts=opts).name == "diffsol"
    # np.arctan has no DiffSL spelling: the condition cannot go into diffsol's stop tensor
    odd = bridge.Event(lambda u, p, t: np.arctan(u[0]), direction=-1,
                       affect=lambda u, p, t: [u[0], -p[1] * u[1]])  # fmt: skip
    opts = check_options(prob.tspan, None, 1e-3, 1e-6, 10, events=(odd,), n_states=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bridge.BridgeBackendWarning)
        choice = choose_backend("auto", prob, opts=opts)
        sol = bridge.solve(prob, "Tsit5", events=[odd], reltol=1e-10, abstol=1e-12)
    assert choice.name == "reference" and sol.backend == "reference"
    assert any(n == "diffsol" and "np.arctan" in r for n, r in choice.skipped)
    np.testing.assert_allclose(sol.t_events[0], [math.sqrt(2 / G)], rtol=1e-9)
    # the warning gives no install hint for diffsol: it is installed
    text = " ".join(str(w.message) for w in caught)
    assert "diffsol is not used because DiffSL cannot express the condition" in text
    assert "pip install 'pydiffsol" not in text
    with pytest.raises(bridge.BackendUnsupportedError, match="DiffSL cannot express the condition"):
        bridge.solve(prob, "Tsit5", events=[odd], backend="diffsol")


# -- events through value_and_grad and the autograd adapters ------------------------------------
def test_value_and_grad_and_torch_odeint_go_through_events():
    torch = pytest.importorskip("torch")
    from bridge.torch import odeint

    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 2.0), [G, E])
    ts = np.array([0.0, 1.0, 2.0])
    _, pullback = bridge.vjp(prob, "Tsit5", events=[bounce()], saveat=ts, **TIGHT)
    want = pullback(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))
    value, g = bridge.value_and_grad(
        lambda u: u[-1, 0], prob, "Tsit5", saveat=ts, events=[bounce()], **TIGHT
    )
    np.testing.assert_allclose(np.concatenate([g.u0, g.p]), np.concatenate([want.u0, want.p]))
    p = torch.tensor([G, E], dtype=torch.float64, requires_grad=True)
    u = odeint(prob, torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor(ts), p,
               events=[bounce()], **TIGHT)  # fmt: skip
    u[-1, 0].backward()
    np.testing.assert_allclose(u[-1, 0].item(), value)
    np.testing.assert_allclose(p.grad.numpy(), want.p, rtol=1e-12)


def test_odeint_refuses_a_terminal_event_that_leaves_times_out():
    torch = pytest.importorskip("torch")
    from bridge.torch import odeint

    stop = bridge.Event(lambda u, p, t: u[0], direction=-1, terminal=True)
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 2.0), [G, E])
    with pytest.raises(bridge.BridgeValueError, match="u at 1 of the times t is missing"):
        odeint(prob, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.2, 1.0]),
               torch.tensor([G, E]), events=[stop], backend="reference")  # fmt: skip


def test_maxiters_counts_the_steps_of_every_restart():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 5.0), [G, E])
    with pytest.warns(bridge.SolverWarning, match=r"reached maxiters=6 steps over \d+ solver runs"):
        sol = bridge.solve(prob, "Tsit5", events=[bounce()], maxiters=6, **TIGHT)
    assert sol.retcode == "MaxIters" and sol.stats.naccept <= 6 and len(sol.t_events[0]) >= 2


@pytest.mark.parametrize("saveat", [None, "grid"])
def test_forward_and_adjoint_agree_on_values_saved_at_events(saveat):
    # Every step saved: the points before and after each bounce move with the bounce time.
    prob = bridge.ODEProblem(ball, [1.0, 0.3], (0.0, 2.5), [G, E])
    kw = {"saveat": None if saveat is None else np.linspace(0.0, 2.5, 11), **TIGHT}
    sol_f, pb_f = bridge.vjp(
        prob, "Tsit5", events=[bounce()], sensealg="ForwardDiffSensitivity", **kw
    )
    sol_a, pb_a = bridge.vjp(
        prob, "Tsit5", events=[bounce()], sensealg="InterpolatingAdjoint", **kw
    )
    if saveat is None:
        assert len(sol_f.t) != len(np.unique(sol_f.t))  # the bounce times appear twice
    cot_f = np.random.default_rng(1).standard_normal(sol_f.u.shape)
    cot_a = np.random.default_rng(1).standard_normal(sol_a.u.shape)
    if sol_f.t.shape == sol_a.t.shape and np.array_equal(sol_f.t, sol_a.t):
        g_f, g_a = pb_f(cot_f), pb_a(cot_f)
        np.testing.assert_allclose(g_f.u0, g_a.u0, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(g_f.p, g_a.p, rtol=1e-6, atol=1e-8)
    else:  # the augmented system takes other steps: compare at the events only
        pre_f = [i for i in range(len(sol_f.t) - 1) if sol_f.t[i] == sol_f.t[i + 1]]
        pre_a = [i for i in range(len(sol_a.t) - 1) if sol_a.t[i] == sol_a.t[i + 1]]
        assert len(pre_f) == len(pre_a) >= 2
        for rows_f, rows_a in ((pre_f, pre_a), ([i + 1 for i in pre_f], [i + 1 for i in pre_a])):
            c_f, c_a = np.zeros_like(sol_f.u), np.zeros_like(sol_a.u)
            c_f[rows_f] = cot_a[: len(rows_f)]
            c_a[rows_a] = cot_a[: len(rows_a)]
            g_f, g_a = pb_f(c_f), pb_a(c_a)
            np.testing.assert_allclose(g_f.u0, g_a.u0, rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(g_f.p, g_a.p, rtol=1e-6, atol=1e-8)


def test_a_solution_still_pickles_and_says_where_its_dense_output_is():
    import pickle

    prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [1.0], (0.0, 1.0))
    sol = bridge.solve(prob, "Tsit5", saveat=[0.5, 1.0], **REF)
    back = pickle.loads(pickle.dumps(sol))
    np.testing.assert_array_equal(back.u, sol.u)
    with pytest.raises(bridge.BridgeValueError, match="pickled or copied to another process"):
        back(0.5)
    np.testing.assert_allclose(sol(0.5), sol.u[0], rtol=1e-12)


def test_jax_grad_jit_and_vmap_go_through_events():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from bridge.jax import odeint

    jax.config.update("jax_enable_x64", True)
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    ts = jnp.array([0.0, 1.0])
    tol = {"reltol": 1e-10, "abstol": 1e-12}  # auto: diffsol where installed

    def height(p):
        return odeint(prob, jnp.array([1.0, 0.0]), ts, p, events=[bounce()], **tol)[-1, 0]

    P = np.array([[G, E], [G, 0.8], [9.0, 0.9]])
    # h(1) after one bounce, and its gradient from bridge.vjp (checked against closed forms
    # in tests/conformance/test_events.py)
    want_h, want_g = [], []
    for p in P:
        sol, pullback = bridge.vjp(prob.remake(p=p), "Tsit5", events=[bounce()], saveat=[1.0],
                                   **tol)  # fmt: skip
        want_h.append(sol.u[-1, 0])
        want_g.append(pullback(np.array([[1.0, 0.0]])).p)
    tau = math.sqrt(2 / G)
    closed = E * G * tau * (1 - tau) - G * (1 - tau) ** 2 / 2
    np.testing.assert_allclose(float(height(jnp.asarray(P[0]))), closed, rtol=1e-8)
    np.testing.assert_allclose(jax.grad(height)(jnp.asarray(P[0])), want_g[0], rtol=1e-10)
    np.testing.assert_allclose(jax.jit(jax.grad(height))(jnp.asarray(P[0])), want_g[0], rtol=1e-10)
    # vmap: a batch with events runs member by member (ensembles take no events yet)
    np.testing.assert_allclose(jax.vmap(height)(jnp.asarray(P)), want_h, rtol=1e-10)
    np.testing.assert_allclose(jax.vmap(jax.grad(height))(jnp.asarray(P)), want_g, rtol=1e-10)


def test_torch_batch_goes_through_events_member_by_member():
    torch = pytest.importorskip("torch")
    from bridge.torch import odeint

    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [G, E])
    P = torch.tensor([[G, E], [G, 0.8]], dtype=torch.float64, requires_grad=True)
    U0 = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    u = odeint(prob, U0, torch.tensor([0.0, 1.0], dtype=torch.float64), P, events=[bounce()],
               reltol=1e-10, abstol=1e-12)  # fmt: skip
    u[:, -1, 0].sum().backward()
    for i in range(2):
        sol, pullback = bridge.vjp(prob.remake(p=P[i].detach().numpy()), "Tsit5",
                                   events=[bounce()], saveat=[1.0], reltol=1e-10,
                                   abstol=1e-12)  # fmt: skip
        np.testing.assert_allclose(u[i, -1, 0].item(), sol.u[-1, 0], rtol=1e-10)
        np.testing.assert_allclose(P.grad[i].numpy(), pullback(np.array([[1.0, 0.0]])).p,
                                   rtol=1e-10)  # fmt: skip
