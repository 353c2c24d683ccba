"""Generated code for events: NumPy derivatives against central differences, Julia and DiffSL
golden files, the Julia rules of USAGE.md §4, and the DiffSL compiled by pydiffsol.

``pytest --update-golden tests/test_events_codegen.py`` rewrites tests/golden/events_*.
The Julia goldens are also linted by tests/test_julia_static.py (fatou, three passes, and
the pinned-names check), which lints every tests/golden/*.jl.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge._errors import TraceError
from bridge._model import unflatten_params
from bridge._trace import trace_model
from bridge._trace.events import switch_events
from bridge._trace.events_codegen import (
    diffsl_events_source,
    diffsl_stop_source,
    julia_events_module,
)

GOLDEN_DIR = Path(__file__).parent / "golden"


def ball(u, p, t):
    return [u[1], -p[0]]


def dosing(u, p, t):
    return [-p["k"][0] * u[0] + 0.0 * t]


def nan_functions(u, p, t):
    return [u[1], -p[0] * np.sin(u[0])]


#: name -> (rhs, u0, p, events)
MODELS = {
    "bouncing_ball": (
        ball,
        [1.0, 0.0],
        [9.81, 0.9, 4.0],
        [
            bridge.Event(
                lambda u, p, t: u[0], -1, lambda u, p, t: [u[0], -p[1] * u[1]], name="ground"
            ),
            bridge.Event(lambda u, p, t: u[1], -1, name="apex"),
            bridge.Event(lambda u, p, t: t - p[2], 1, terminal=True, name="deadline"),
        ],
    ),
    "dosing": (
        dosing,
        [0.0],
        {"k": [0.7], "dose": [2.0], "at": [1.0, 2.5]},
        [
            bridge.Event(
                lambda u, p, t, i=i: t - p["at"][i],  # i=i: each its own dose
                1,
                lambda u, p, t: [u[0] + p["dose"][0] * np.exp(-0.1 * t)],
                name=f"dose{i}",
            )
            for i in range(2)
        ],
    ),
    "pendulum_guard": (
        nan_functions,
        [0.5, 0.0],
        [9.81],
        [
            bridge.Event(
                lambda u, p, t: np.sqrt(u[0] + 1.0) - np.log(1.0 + t) - 0.5,
                0,
                lambda u, p, t: [np.maximum(u[0], 0.1), np.tanh(u[1]) * p[0]],
                name="guard",
            )
        ],
    ),
}


def problem(name):
    f, u0, p, events = MODELS[name]
    return bridge.ODEProblem(f, u0, (0.0, 5.0), p, name=name), events


def traced(name):
    prob, events = problem(name)
    return prob, [ev.traced(prob) for ev in events]


def module_name(name):
    return "".join(part.capitalize() for part in name.split("_")) + "Events"


def _golden(path: Path, text: str, update: bool) -> None:
    if update:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert text == path.read_text(), f"{path.name} differs: review, then --update-golden"


@pytest.mark.parametrize("name", MODELS)
def test_julia_matches_golden(name, update_golden):
    prob, events = traced(name)
    text = julia_events_module(module_name(name), events, prob.n_states, prob.n_params)
    _golden(GOLDEN_DIR / f"events_{name}.jl", text, update_golden)


@pytest.mark.parametrize("name", ["bouncing_ball", "dosing"])
def test_diffsl_matches_golden(name, update_golden):
    prob, events = traced(name)
    _golden(
        GOLDEN_DIR / f"events_{name}_stop.ds", diffsl_stop_source(prob.model, events), update_golden
    )
    text = diffsl_events_source(events, prob.n_states, prob.n_params)
    _golden(GOLDEN_DIR / f"events_{name}_eval.ds", text, update_golden)


@pytest.mark.parametrize("name", MODELS)
def test_generated_julia_follows_usage_rules(name):
    prob, events = traced(name)
    text = julia_events_module(module_name(name), events, prob.n_states, prob.n_params)
    for banned in ("Float64", "::", "**", "convert(", "similar(", "zeros(", "Vector"):
        assert banned not in text, f"{banned!r} in generated event code"
    for k, event in enumerate(events, start=1):
        assert f"function condition_{k}(u, p, t)" in text
        assert (f"function affect_{k}!(unew, u, p, t)" in text) == event.has_affect
    assert "function conditions!(out, u, p, t)" in text
    assert "function affect!(unew, u, p, t, k)" in text


def test_julia_uses_nan_helpers_where_numpy_gives_nan():
    prob, events = traced("pendulum_guard")
    text = julia_events_module("Guard", events, prob.n_states, prob.n_params)
    assert "nan_sqrt(x) =" in text and "nan_log(x) =" in text
    assert "nan_sqrt(1.0 + u[1])" in text


def _central(fn, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for i in range(len(x)):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        cols.append((np.asarray(fn(xp)) - np.asarray(fn(xm))) / (2 * h))
    return np.array(cols).T


def _check_derivatives(ev, u, p, t):
    n, m = len(u), len(p)
    np.testing.assert_allclose(ev.g_u(u, p, t), _central(lambda x: ev.g(x, p, t), u), atol=1e-7)
    np.testing.assert_allclose(ev.g_p(u, p, t), _central(lambda x: ev.g(u, x, t), p), atol=1e-7)
    g_t = _central(lambda x: ev.g(u, p, x[0]), [t])[0]
    np.testing.assert_allclose(ev.g_t(u, p, t), g_t, atol=1e-7)
    np.testing.assert_allclose(ev.h_u(u, p, t), _central(lambda x: ev.h(x, p, t), u), atol=1e-7)
    h_p = _central(lambda x: ev.h(u, x, t), p).reshape(n, m)
    np.testing.assert_allclose(ev.h_p(u, p, t), h_p, atol=1e-7)
    h_t = _central(lambda x: ev.h(u, p, x[0]), [t])[:, 0]
    np.testing.assert_allclose(ev.h_t(u, p, t), h_t, atol=1e-7)


@pytest.mark.parametrize("name", MODELS)
def test_numpy_derivatives_match_central_differences(name):
    prob, events = traced(name)
    rng = np.random.default_rng(7)
    u = prob.u0 + 0.3 + 0.1 * rng.standard_normal(prob.n_states)
    p, t = prob.p * (1 + 0.05 * rng.standard_normal(prob.n_params)), 0.8
    for ev, user in zip(events, MODELS[name][3], strict=True):
        _check_derivatives(ev, u, p, t)
        if ev.has_affect:  # the generated affect computes the user's function
            params = p if prob.param_spec is None else unflatten_params(p, prob.param_spec)
            np.testing.assert_allclose(ev.h(u, p, t), np.asarray(user.affect(u, params, t), float))


def test_an_event_without_affect_is_the_identity():
    prob, events = traced("bouncing_ball")
    apex = events[1]
    u, p = np.array([0.3, 0.0]), prob.p
    assert not apex.has_affect and "affect" not in apex.programs
    np.testing.assert_array_equal(apex.h(u, p, 0.0), u)
    np.testing.assert_array_equal(apex.h_u(u, p, 0.0), np.eye(2))
    np.testing.assert_array_equal(apex.h_p(u, p, 0.0), np.zeros((2, 3)))


def test_diffsl_refuses_a_condition_it_cannot_express():
    prob = bridge.ODEProblem(ball, [1.0, 0.0], (0.0, 1.0), [9.81])
    ev = bridge.Event(lambda u, p, t: np.arctan(u[0]), name="angle").traced(prob)
    with pytest.raises(TraceError, match=r"DiffSL code for np\.arctan"):
        diffsl_stop_source(prob.model, [ev])
    assert "atan(u[1])" in julia_events_module("Angle", [ev], 2, 1)


def test_switch_events_print_like_events():
    def leaky(u, p, t):
        return [np.where(u[0] > 0.5, -p[0] * u[0], -0.1 * p[0] * u[0])]

    model = trace_model(leaky, 1, 1, name="leaky")
    (switch,) = switch_events(model)
    text = julia_events_module("LeakySwitches", [switch], 1, 1)
    assert "function condition_1(u, p, t)\n    return -0.5 + u[1]\nend" in text
    assert "stop_i { -0.5 + x0 }" in diffsl_stop_source(model, [switch])


# -- DiffSL compiled by diffsol (needs pydiffsol) -------------------------------------------------
def _pydiffsol():
    return pytest.importorskip("pydiffsol", reason="needs pydiffsol to compile DiffSL")


def test_compiled_stop_model_stops_at_the_first_event():
    ds = _pydiffsol()
    prob, events = traced("bouncing_ball")
    ode = ds.Ode(diffsl_stop_source(prob.model, events), matrix_type=ds.nalgebra_dense)
    ode.ode_solver = ds.tsit45
    ode.rtol = ode.atol = 1e-10
    sol = ode.solve(np.concatenate([prob.p, prob.u0]), 5.0)
    np.testing.assert_allclose(sol.ts[-1], np.sqrt(2 / 9.81), rtol=1e-8)
    np.testing.assert_allclose(sol.ys[0, -1], 0.0, atol=1e-8)


@pytest.mark.parametrize("name", ["bouncing_ball", "dosing"])
def test_compiled_event_model_computes_what_numpy_computes(name):
    ds = _pydiffsol()
    prob, events = traced(name)
    ode = ds.Ode(diffsl_events_source(events, prob.n_states, prob.n_params))
    ode.ode_solver = ds.tsit45
    rng = np.random.default_rng(3)
    for _ in range(3):
        u = prob.u0 + rng.standard_normal(prob.n_states)
        p, t = prob.p + 0.1 * rng.standard_normal(prob.n_params), float(rng.uniform(0, 3))
        ode.t0 = t
        out = ode.solve_dense(np.concatenate([p, u]), np.array([t, t + 1.0])).ys[:, 0]
        want: list[float] = []
        for ev in events:
            want += [ev.g(u, p, t), *ev.g_u(u, p, t), *ev.g_p(u, p, t), ev.g_t(u, p, t)]
            if ev.has_affect:
                want += [*ev.h(u, p, t), *ev.h_u(u, p, t).ravel(), *ev.h_p(u, p, t).ravel()]
                want += [*ev.h_t(u, p, t)]
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
