"""No silently wrong answer from a traced model (issue 12, tracing items).

Each test reproduces a way a trace used to give a wrong gradient or solution without a word,
through the public API, and checks the answer against a closed form: switches on the state
(warned), values the trace froze that changed since (re-traced), a traced path that differs
from the run-time path (refused), NaN dropped by generated helpers, foreign SymPy objects.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import bridge
from bridge import GradientWarning, TraceError

REF = "reference"
TIGHT = {"reltol": 1e-10, "abstol": 1e-12, "backend": REF}


def gradient(prob, saveat, alg="Tsit5", **kw):
    sol, pullback = bridge.vjp(prob, alg, saveat=saveat, **{**TIGHT, **kw})
    return sol, pullback(np.ones_like(sol.u))


def no_gradient_warning():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", GradientWarning)
    return ctx


# -- 1. switches ------------------------------------------------------------------------------
# The reference and diffsol engines follow these switches as events (tests/test_events_switches.py
# and tests/conformance/test_events.py check their gradients); an engine that does not (Julia
# today) must warn. Here that engine is diffsol with its ``handles_switches`` answering False:
# the warning is decided in ``bridge._api`` from that answer alone.
@pytest.fixture
def _engine_without_switch_events(monkeypatch) -> str:
    from bridge._diffsol import availability
    from bridge._diffsol.backend import DiffsolBackend

    if availability() is not None:
        pytest.skip(f"needs pydiffsol to stand in for an engine without switches: {availability()}")
    monkeypatch.setattr(DiffsolBackend, "handles_switches", lambda self, model: False)
    return "diffsol"


def test_state_switch_with_a_jump_warns_naming_the_line(_engine_without_switch_events) -> None:
    engine = _engine_without_switch_events

    def leaky(u, p, t):
        x, k = u[0], p[0]
        return [np.where(x > 0.5, -k * x, -0.1 * k * x)]

    prob = bridge.ODEProblem(leaky, [1.0], (0.0, 3.0), [1.0])
    with pytest.warns(GradientWarning) as record:
        _, g = gradient(prob, [3.0], backend=engine)
    message = str(record[0].message)
    assert "test_trace_safety.py, line" in message
    assert "np.where(x > 0.5, -k * x, -0.1 * k * x)" in message
    assert "crosses the switching surface" in message
    assert f"the {engine} engine does not treat switching surfaces as events" in message
    assert record[0].filename == __file__  # points at the caller of vjp
    # (The stand-in's gradient itself is exact: diffsol follows the switch whatever
    # handles_switches says; an engine that does not gets 0.397 for the true 0.0397.)
    assert np.isfinite(g.u0).all()


@pytest.mark.parametrize("engine", ["reference", "diffsol"])
def test_state_switch_with_a_jump_is_exact_and_silent_on_engines_that_follow_it(engine) -> None:
    if engine == "diffsol":
        from bridge._diffsol import availability

        if availability() is not None:
            pytest.skip(f"needs pydiffsol: {availability()}")

    def leaky(u, p, t):
        x, k = u[0], p[0]
        return [np.where(x > 0.5, -k * x, -0.1 * k * x)]

    prob = bridge.ODEProblem(leaky, [1.0], (0.0, 3.0), [1.0])
    ctx = no_gradient_warning()
    try:
        sol, g = gradient(prob, [3.0], backend=engine)
    finally:
        ctx.__exit__(None, None, None)
    assert sol.backend == engine
    # x(3) = 0.5 e^{-0.3 k} (2 x0)^{0.1}: crossing x = 0.5 at ln(2 x0) / k
    np.testing.assert_allclose(g.u0, [0.05 * math.exp(-0.3) * 2**0.1], rtol=1e-6)
    np.testing.assert_allclose(g.p, [-0.3 * 0.5 * math.exp(-0.3) * 2**0.1], rtol=1e-6)


def test_switch_time_on_a_parameter_warns(_engine_without_switch_events) -> None:
    engine = _engine_without_switch_events

    def pulse(u, p, t):
        return [np.where(t < p[0], 1.0, 0.0)]

    prob = bridge.ODEProblem(pulse, [0.0], (0.0, 2.0), [1.0])
    with pytest.warns(GradientWarning, match=r"np\.where\(t < p\[0\], 1\.0, 0\.0\)"):
        gradient(prob, [2.0], backend=engine)
    assert len(prob.model.switches) == 1


def test_switch_on_time_against_a_constant_is_exact_and_silent() -> None:
    def decay_until_one(u, p, t):
        return np.where(t < 1.0, -p[0] * u, 0.0 * u)

    prob = bridge.ODEProblem(decay_until_one, [2.0], (0.0, 2.0), [0.7])
    ctx = no_gradient_warning()
    try:
        sol, g = gradient(prob, [2.0])
    finally:
        ctx.__exit__(None, None, None)
    # u(2) = u0 e^{-k}
    np.testing.assert_allclose(sol.u[-1], [2.0 * math.exp(-0.7)], rtol=1e-7)
    np.testing.assert_allclose(g.u0, [math.exp(-0.7)], rtol=1e-6)
    np.testing.assert_allclose(g.p, [-2.0 * math.exp(-0.7)], rtol=1e-6)
    assert prob.model.switches == ()


def _floor_rate_closed_form(x0: float, k: float, T: float) -> tuple[float, float, float]:
    """x' = -k max(x, 1/2) from x0 > 1/2: x0 e^{-kt} until tau = ln(2 x0)/k, then a line."""
    tau = math.log(2 * x0) / k
    assert tau < T
    return 0.5 - 0.5 * k * T + 0.5 * math.log(2 * x0), 0.5 / x0, -0.5 * T


@pytest.mark.parametrize(
    "rhs",
    [
        lambda u, p, t: -p[0] * np.maximum(u, 0.5),
        lambda u, p, t: np.where(u > 0.5, -p[0] * u, -0.5 * p[0]),  # the same kink
    ],
    ids=["maximum", "where-kink"],
)
def test_continuous_switch_on_the_state_is_exact_and_silent(rhs) -> None:
    prob = bridge.ODEProblem(rhs, [1.0], (0.0, 3.0), [1.0])
    ctx = no_gradient_warning()
    try:
        for sensealg in ("ForwardDiffSensitivity", "InterpolatingAdjoint"):
            sol, g = gradient(prob, [3.0], sensealg=sensealg)
            x, dx0, dk = _floor_rate_closed_form(1.0, 1.0, 3.0)
            np.testing.assert_allclose(sol.u[-1], [x], rtol=1e-6)
            np.testing.assert_allclose(g.u0, [dx0], rtol=1e-4)
            np.testing.assert_allclose(g.p, [dk], rtol=1e-4)
    finally:
        ctx.__exit__(None, None, None)
    (switch,) = prob.model.switches
    assert not switch.jumps


def test_branching_message_says_when_where_is_not_differentiable() -> None:
    def branchy(u, p, t):
        if u[0] > 0:
            return [-u[0]]
        return [u[0]]

    with pytest.raises(TraceError) as info:
        bridge.ODEProblem(branchy, [1.0], (0.0, 1.0)).model  # noqa: B018
    message = str(info.value)
    assert "np.where" in message and "np.maximum" in message
    assert "docs/events.md" in message


# -- 2. what the trace froze --------------------------------------------------------------------
def test_changed_closure_is_traced_again() -> None:
    k = 1.0

    def f(u, p, t):
        return -k * p[0] * u

    first = bridge.ODEProblem(f, [1.0], (0.0, 1.0), [1.0])
    first.model  # noqa: B018  (traced with k = 1)
    k = 2.0
    second = bridge.ODEProblem(f, [1.0], (0.0, 1.0), [1.0])
    for prob in (second, first):  # the first problem notices too
        sol, g = gradient(prob, [1.0])
        # u(1) = e^{-k p}: d/du0 = e^{-2}, d/dp = -2 e^{-2}
        np.testing.assert_allclose(sol.u[-1], [math.exp(-2.0)], rtol=1e-7)
        np.testing.assert_allclose(g.u0, [math.exp(-2.0)], rtol=1e-6)
        np.testing.assert_allclose(g.p, [-2.0 * math.exp(-2.0)], rtol=1e-6)


_RATE = 1.0


def _global_rate(u, p, t):
    return [-_RATE * p[0] * u[0]]


def test_changed_global_is_traced_again() -> None:
    global _RATE
    prob = bridge.ODEProblem(_global_rate, [1.0], (0.0, 1.0), [1.0])
    prob.model  # noqa: B018
    try:
        _RATE = 3.0
        _, g = gradient(prob, [1.0])
    finally:
        _RATE = 1.0
    np.testing.assert_allclose(g.p, [-3.0 * math.exp(-3.0)], rtol=1e-6)


def test_captured_array_edited_in_place_is_traced_again() -> None:
    W = np.array([[-1.0, 0.0], [0.0, -1.0]])

    def linear(u, p, t):
        return p[0] * (W @ u)

    prob = bridge.ODEProblem(linear, [1.0, 1.0], (0.0, 1.0), [1.0])
    prob.model  # noqa: B018
    W[1, 1] = -2.0
    sol, g = gradient(prob, [1.0])
    np.testing.assert_allclose(sol.u[-1], [math.exp(-1.0), math.exp(-2.0)], rtol=1e-7)
    np.testing.assert_allclose(g.u0, [math.exp(-1.0), math.exp(-2.0)], rtol=1e-6)
    np.testing.assert_allclose(g.p, [-math.exp(-1.0) - 2.0 * math.exp(-2.0)], rtol=1e-6)


def test_a_counter_the_function_keeps_does_not_retrace() -> None:
    calls = []

    def counted(u, p, t):
        calls.append(1)
        return -p[0] * u  # array style: the solve calls the function itself

    prob = bridge.ODEProblem(counted, [1.0], (0.0, 1.0), [1.0])
    model = prob.model
    bridge.solve(prob, "Tsit5", backend=REF)
    assert prob.model is model, "the counter is the function's output, not frozen input"


# -- 3. the traced path is not the run-time path -------------------------------------------------
def _swallows(u, p, t):
    try:
        return -p[0] * np.asarray(u, dtype=float)  # the tracer refuses this...
    except Exception:
        return -u  # ...and the trace records this branch


def _checks_type(u, p, t):
    if isinstance(u, np.ndarray):
        return -p[0] * u
    return -0.5 * u


@pytest.mark.parametrize("rhs", [_swallows, _checks_type], ids=["try-except", "isinstance"])
def test_traced_path_differing_from_the_function_is_refused(rhs) -> None:
    prob = bridge.ODEProblem(rhs, [1.0], (0.0, 1.0), [2.0])
    with pytest.raises(TraceError, match="does not compute what the function computes") as info:
        bridge.vjp(prob, "Tsit5", saveat=[1.0], backend=REF)
    message = str(info.value)
    assert "try/except" in message and "isinstance" in message and "trace=False" in message
    assert "u=[1.]" in message and "p=[2.]" in message


def test_random_numbers_drawn_while_tracing_are_refused() -> None:
    rng = np.random.default_rng(0)

    def noisy(u, p, t):
        return -p[0] * u + rng.normal()

    prob = bridge.ODEProblem(noisy, [1.0], (0.0, 1.0), [1.0])
    with pytest.raises(TraceError, match="random numbers"):
        bridge.solve(prob, "Tsit5", backend=REF)


# -- 5. NaN through the generated helpers -------------------------------------------------------
@pytest.mark.parametrize(
    "second",
    [
        lambda x: np.maximum(np.sqrt(x), 0.0),
        lambda x: np.minimum(np.sqrt(x), 10.0),
        lambda x: np.clip(np.sqrt(x), 0.0, 10.0),
        lambda x: np.sign(np.sqrt(x)),
        lambda x: np.abs(np.log(x)),
        lambda x: np.sign(np.log(x)),  # the NumPy fallback used to raise a TypeError here
    ],
    ids=["maximum", "minimum", "clip", "sign", "abs-log", "sign-log"],
)
@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P"])
def test_nan_is_not_swallowed_by_generated_code(second, alg) -> None:
    def rhs(u, p, t):
        return [-1.0, second(u[0])]

    results = {}
    for trace in (True, False):
        prob = bridge.ODEProblem(rhs, [1.0, 0.0], (0.0, 2.0), trace=trace)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", bridge.SolverWarning)
            results[trace] = bridge.solve(prob, alg, backend=REF)
    for sol in results.values():
        assert not sol.success, sol.retcode
        assert 0.5 < sol.t[-1] <= 1.0 + 1e-6, sol.t[-1]  # u[0] = 1 - t leaves the domain


def test_sign_of_an_overflow_solves_like_numpy() -> None:
    # exp(1000 u) overflows for u > 0.71: the fast path raises and the NumPy fallback gives
    # inf, whose sign the fallback's helper once took by subtracting NumPy booleans.
    def rhs(u, p, t):
        return [1.0, np.sign(np.exp(1000.0 * u[0]) - 1.0)]

    sols = []
    for trace in (True, False):
        prob = bridge.ODEProblem(rhs, [0.6, 0.0], (0.0, 0.5), trace=trace)
        with np.errstate(all="ignore"):
            sols.append(bridge.solve(prob, "Tsit5", saveat=[0.5], **TIGHT))
    assert all(s.success for s in sols), [s.retcode for s in sols]
    np.testing.assert_allclose(sols[0].u, [[1.1, 0.5]], rtol=1e-8)
    np.testing.assert_allclose(sols[1].u, sols[0].u, rtol=1e-8)


@pytest.mark.parametrize("kind", [np.sign, np.abs])
def test_sign_and_abs_where_the_fast_path_fails_give_numpy_values(kind) -> None:
    model = bridge.ODEProblem(lambda u, p, t: [kind(np.log(u[0]))], [1.0], (0.0, 1.0)).model
    u, none = np.array([0.0]), np.zeros(0)  # math.log(0) raises: the NumPy fallback runs
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(model.f_generated(u, none, 0.0), [kind(-np.inf)])
        expected = np.sign(-np.inf) / 0.0 if kind is np.abs else 0.0  # d|log u|/du = sign/u
        np.testing.assert_array_equal(model.jac(u, none, 0.0), [[expected]])


def test_generated_min_max_propagate_nan_like_numpy() -> None:
    def rhs(u, p, t):
        return [np.maximum(u[0], u[1]), np.minimum(u[0], u[1]), np.clip(u[0], -1.0, 1.0)]

    model = bridge.ODEProblem(rhs, [0.0, 0.0, 0.0], (0.0, 1.0)).model
    for u in ([np.nan, 1.0, 0.0], [1.0, np.nan, 0.0], [np.nan, np.nan, 0.0]):
        x = np.array(u)
        expected = [np.maximum(x[0], x[1]), np.minimum(x[0], x[1]), np.clip(x[0], -1.0, 1.0)]
        np.testing.assert_array_equal(model.f_generated(x, np.zeros(0), 0.0), expected)


# -- 6. foreign SymPy objects --------------------------------------------------------------------
def test_a_sympy_symbol_named_like_a_state_is_refused() -> None:
    def aliased(u, p, t):
        return [-4 * u[0] + 2 * sp.Symbol("u_0", real=True)]

    with pytest.raises(TraceError, match=r"SymPy object '2\*u_0' \(Mul\)"):
        bridge.ODEProblem(aliased, [1.0], (0.0, 1.0)).model  # noqa: B018


def test_a_crafted_sympy_name_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    crafted = sp.Symbol(f"__import__('os').system('touch {marker}')")

    def hostile(u, p, t):
        return [u[0] * crafted]

    with pytest.raises(TraceError, match="SymPy object"):
        bridge.ODEProblem(hostile, [1.0], (0.0, 1.0)).model  # noqa: B018
    with pytest.raises(TraceError, match="SymPy object"):
        bridge.ODEProblem(lambda u, p, t: [crafted * u[0]], [1.0], (0.0, 1.0)).model  # noqa: B018
    assert not marker.exists()


def test_sympy_numbers_are_plain_numbers() -> None:
    prob = bridge.ODEProblem(lambda u, p, t: [sp.Rational(1, 2) * -u[0]], [1.0], (0.0, 1.0))
    sol = bridge.solve(prob, "Tsit5", saveat=[1.0], **TIGHT)
    np.testing.assert_allclose(sol.u[-1], [math.exp(-0.5)], rtol=1e-7)


def test_booleans_used_as_numbers_trace_as_numpy_reads_them():
    # u * True is u; a comparison used as a number is an indicator, recorded as a switch.
    prob = bridge.ODEProblem(lambda u, p, t: -u * True, [1.0], (0.0, 1.0))
    sol = bridge.solve(prob, "Tsit5", saveat=[1.0], backend="reference", reltol=1e-10, abstol=1e-12)
    np.testing.assert_allclose(sol.u[-1], [np.exp(-1.0)], rtol=1e-8)
    assert prob.model.switches == ()

    def gated(u, p, t):
        return [(u[0] > 0.5) * (-p[0] * u[0]) - 0.1 * u[0]]

    prob = bridge.ODEProblem(gated, [1.0], (0.0, 1.0), [1.0])
    (switch,) = prob.model.switches
    assert switch.jumps and "comparison used as a number" in switch.kind
    for u in (0.2, 0.9):
        np.testing.assert_allclose(
            prob.model.f(np.array([u]), np.array([1.0]), 0.0), gated([u], [1.0], 0.0)
        )
