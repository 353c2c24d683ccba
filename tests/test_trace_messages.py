"""Tracing messages that lead the user to the fix (issue 13 section 3), and trace_loss.

Each message is tested by its text: what was wrong (with the sizes and the user's line) and
what to do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

import bridge
from bridge import TraceError
from bridge._trace import trace_loss

TIGHT = {"reltol": 1e-10, "abstol": 1e-12, "backend": "reference"}


def model_of(f, u0, p=None):
    return bridge.ODEProblem(f, u0, (0.0, 1.0), p).model


# -- sizes ------------------------------------------------------------------------------------
def test_u0_shorter_than_what_the_function_unpacks() -> None:
    def lotka(u, p, t):
        x, y = u
        return [x - x * y, x * y - y]

    with pytest.raises(TraceError) as info:
        model_of(lotka, [1.0])
    message = str(info.value)
    assert "`x, y = u`" in message
    assert "it unpacks 2 values from u, but u0 has 1 state and p has 0 entries" in message
    assert "Pass a u0 of the length the function expects" in message
    assert "trace=False" not in message


def test_p_of_the_wrong_length_for_unpacking() -> None:
    def decay(u, p, t):
        a, b = p
        return -a * u + b

    with pytest.raises(TraceError, match="it unpacks 2 values from p, but u0 has 1 state and p "
                       "has 3 entries"):  # fmt: skip
        model_of(decay, [1.0], [1.0, 2.0, 3.0])


def test_p_missing_when_the_function_indexes_it() -> None:
    with pytest.raises(TraceError) as info:
        model_of(lambda u, p, t: -p[0] * u, [1.0])
    message = str(info.value)
    assert "it reads p[0], but u0 has 1 state and p has 0 entries" in message
    assert "Pass p=[...] to ODEProblem" in message


def test_state_index_beyond_u0() -> None:
    with pytest.raises(TraceError, match=r"it reads u\[2\], but u0 has 2 states and p has 1 entry"):
        model_of(lambda u, p, t: [u[0], p[0] * u[2]], [1.0, 2.0], [1.0])


def test_missing_named_parameter() -> None:
    with pytest.raises(TraceError, match=r"it reads the parameter 'k', but u0 has 1 state and p "
                       r"has the names \['a', 'b'\]"):  # fmt: skip
        model_of(lambda u, p, t: -p["k"] * u, [1.0], {"a": 1.0, "b": 2.0})


# -- argument order ----------------------------------------------------------------------------
def _scipy_order(t, y):
    return -y


def _scipy_order_with_p(t, u, p):
    return -p[0] * u


@pytest.mark.parametrize("rhs", [_scipy_order, _scipy_order_with_p])
def test_scipy_argument_order_is_detected(rhs) -> None:
    with pytest.raises(TraceError) as info:
        model_of(rhs, [1.0], [1.0])
    message = str(info.value)
    assert "that is SciPy's order" in message
    assert "bridge calls f(u, p, t) (state, parameters, time)" in message
    assert f"def {rhs.__name__}(u, p, t)" in message


def test_two_argument_function_is_told_about_three() -> None:
    def odeint_style(u, t):
        return -u

    with pytest.raises(TraceError, match=r"takes \(u, t\), but bridge calls f\(u, p, t\) with "
                       "three arguments"):  # fmt: skip
        model_of(odeint_style, [1.0])


# -- functions ----------------------------------------------------------------------------------
def test_scipy_expit_is_traced() -> None:
    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * scipy.special.expit(u), [0.5], (0.0, 1.0),
                             [2.0])  # fmt: skip
    u, p = np.array([0.3]), np.array([2.0])
    np.testing.assert_allclose(prob.model.f(u, p, 0.0), -2.0 / (1 + math.exp(-0.3)))
    s = 1 / (1 + math.exp(-0.3))
    np.testing.assert_allclose(prob.model.jac(u, p, 0.0), [[-2.0 * s * (1 - s)]])


def test_unsupported_scipy_ufunc_is_named_as_scipy() -> None:
    with pytest.raises(TraceError, match=r"scipy\.special\.gammaln is not supported"):
        model_of(lambda u, p, t: scipy.special.gammaln(u), [1.5])


def test_negative_base_to_a_traced_power_is_refused_with_the_math() -> None:
    with pytest.raises(TraceError) as info:
        model_of(lambda u, p, t: (-2.0) ** u, [1.0])
    message = str(info.value)
    assert "(-2.0) ** (u_0) raises a negative number to a power" in message
    assert "not real unless the power is an integer" in message
    assert "code generator" not in message


def test_zero_base_to_a_traced_power_is_refused_with_the_math() -> None:
    with pytest.raises(
        TraceError, match=r"0\.0 \*\* \(u_0 \+ 1\) raises zero to a power .*\(log 0\)"
    ):
        model_of(lambda u, p, t: 0.0 ** (u + 1), [1.0])


@pytest.mark.parametrize(
    "rhs",
    [
        lambda u, p, t: np.concatenate([[-u[0]], -u[1:]]),
        lambda u, p, t: np.concatenate([[-u[0]], -u[1:] * p[0]]),
        lambda u, p, t: np.hstack([-u[0], -u[1:] * p[0]]),
    ],
    ids=["concatenate", "concatenate-p", "hstack"],
)
def test_concatenate_of_lists_and_traced_arrays(rhs) -> None:
    prob = bridge.ODEProblem(rhs, [1.0, 2.0], (0.0, 1.0), [1.0])
    sol, pullback = bridge.vjp(prob, "Tsit5", saveat=[1.0], **TIGHT)
    np.testing.assert_allclose(sol.u[-1], [math.exp(-1.0), 2.0 * math.exp(-1.0)], rtol=1e-7)
    g = pullback(np.ones_like(sol.u))
    np.testing.assert_allclose(g.u0, [math.exp(-1.0)] * 2, rtol=1e-6)


# -- trace_loss ---------------------------------------------------------------------------------
def test_trace_loss_value_and_gradient() -> None:
    traced = trace_loss(lambda u: np.sum(np.sin(u[:, 0]) * u[:, 1]), (2, 2))
    u = np.array([[0.1, 2.0], [0.7, -1.0]])
    value, dl_du = traced(u)
    assert value == pytest.approx(math.sin(0.1) * 2.0 - math.sin(0.7))
    expected = [[math.cos(0.1) * 2.0, math.sin(0.1)], [-math.cos(0.7), math.sin(0.7)]]
    np.testing.assert_allclose(dl_du, expected, rtol=1e-12)


def test_trace_loss_messages_say_loss() -> None:
    def branchy(u):
        if u[0, 0] > 0:
            return u[0, 0]
        return -u[0, 0]

    with pytest.raises(TraceError) as info:
        trace_loss(branchy, (1, 1))
    message = str(info.value)
    assert message.startswith("cannot trace loss 'branchy'") and "right-hand side" not in message


def test_the_losss_own_raise_passes_unchanged() -> None:
    class MyLossError(Exception):
        pass

    def strict(u):
        raise MyLossError("my own check")

    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    with pytest.raises(MyLossError, match="my own check"):
        bridge.value_and_grad(strict, prob, saveat=[1.0], backend="reference")


def test_value_and_grad_retraces_a_loss_whose_data_changed() -> None:
    target = np.array([0.0])

    def loss(u):
        return np.sum((u[-1] - target) ** 2)

    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    bridge.value_and_grad(loss, prob, saveat=[1.0], **TIGHT)
    target[0] = 0.5  # the same value of the loss at some u, another gradient
    value, g = bridge.value_and_grad(loss, prob, saveat=[1.0], **TIGHT)
    e = math.exp(-1.0)
    assert value == pytest.approx((e - 0.5) ** 2, rel=1e-8)
    np.testing.assert_allclose(g.u0, [2 * (e - 0.5) * e], rtol=1e-6)
