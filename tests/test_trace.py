"""Tracing: supported NumPy/math features, error messages, named parameters, the cache."""

from __future__ import annotations

import math
import threading
from math import exp as math_exp

import numpy as np
import pytest

from bridge._errors import BridgeValueError, TraceError
from bridge._model import Model
from bridge._problem import ODEProblem
from bridge._trace import TracedModel, trace_model

from .models import MODELS

U = np.array([0.7, -0.4, 0.3])
P = np.array([1.3, 0.6, -0.8, 0.25])
T = 0.9
A = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [0.0, 1.0, 1.5]])


def _fd_jac(fun, x: np.ndarray) -> np.ndarray:
    cols = []
    for k in range(x.size):
        h = 1e-6
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        cols.append((np.asarray(fun(up), float) - np.asarray(fun(down), float)) / (2 * h))
    return np.stack(cols, axis=-1)


def check(f, n: int = 3, m: int = 4, u=U, p=P, t=T) -> TracedModel:
    """Trace f; generated f, J and ∂f/∂p must agree with f itself on floats."""
    model = trace_model(f, n, m)
    expected = np.asarray(f(u, p, t), dtype=float)
    np.testing.assert_allclose(model.f_generated(u, p, t), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.f(u, p, t), expected, rtol=1e-12, atol=1e-14)
    fd_u = _fd_jac(lambda x: f(x, p, t), u.copy())
    np.testing.assert_allclose(model.jac(u, p, t), fd_u, rtol=1e-5, atol=1e-7)
    fd_p = _fd_jac(lambda x: f(u, x, t), p.copy())
    np.testing.assert_allclose(model.paramjac(u, p, t), fd_p, rtol=1e-5, atol=1e-7)
    return model


UNARY = [
    np.exp, np.log1p, np.expm1, np.sin, np.cos, np.tan, np.tanh, np.sinh, np.cosh,
    np.arctan, np.abs, np.sign, np.square, np.negative, np.arcsinh, np.cbrt, np.exp2,
    np.reciprocal,
]  # fmt: skip


@pytest.mark.parametrize("ufunc", UNARY, ids=lambda u: u.__name__)
def test_unary_ufuncs(ufunc) -> None:
    check(lambda u, p, t: ufunc(p[:3] * u + 0.1))


@pytest.mark.parametrize("ufunc", [np.log, np.sqrt, np.log2, np.log10], ids=lambda u: u.__name__)
def test_ufuncs_of_positive_arguments(ufunc) -> None:
    check(lambda u, p, t: ufunc(u**2 + p[:3] ** 2))


@pytest.mark.parametrize(
    "f",
    [
        lambda u, p, t: u * p[0] + u / p[1] - p[2] ** 2 * u**3 + 2**u + (u**2 + 1) ** p[3],
        lambda u, p, t: np.minimum(u, p[:3]) + np.maximum(u, 0.0) * 2,
        lambda u, p, t: np.clip(u, -0.5, p[3]) + np.clip(u, 0.1, None),
        lambda u, p, t: np.where(u > p[3], u**2, -u) + np.where((u > 0) & (u < 0.5), 1.0, u),
        lambda u, p, t: np.arctan2(u, p[0]) + np.hypot(u, p[1]) + np.power(p[1], 2.5) * u,
        lambda u, p, t: -(+u) + abs(u) * t + np.float64(0.5) * u - 3 // 2 * u,
    ],
)
def test_arithmetic_and_piecewise(f) -> None:
    check(f)


def test_math_functions_on_traced_scalars() -> None:
    def f(u, p, t):
        x, y, z = u
        a = math.exp(x) * math.sin(y) + math.log(x**2 + 1.0) + math.sqrt(z**2 + 1) * math.pi
        return [a, math.tanh(p[0] * y) + math.log(x**2 + 2.0, 2) + math.cos(t), math_exp(-z)]

    model = check(f)
    assert math.exp(1.0) == pytest.approx(2.718281828)  # the real module is untouched
    assert "exp(" in model.julia_source("M")


def test_matmul_with_numeric_and_symbolic_matrices() -> None:
    check(lambda u, p, t: A @ u + np.dot(A, u) + u @ A + u.dot(A))
    w = lambda p: np.concatenate([p, p, p[:1]]).reshape(3, 3)  # noqa: E731
    check(lambda u, p, t: np.tanh(w(p) @ u + p[:3]) + (u @ w(p)) * (u @ u))


def test_indexing_slicing_reshape_and_reductions() -> None:
    def f(u, p, t):
        x, y, z = u
        m = np.outer(u, p[:3]).reshape(9)[::2]
        return np.stack([x * y, u[1:].sum() + m.sum(), np.sum(u.reshape(1, 3), axis=1)[0] + z])

    check(f)
    check(lambda u, p, t: np.concatenate([u[:1] * t, np.array([u[1] * p[0], u[2]])]))
    check(lambda u, p, t: np.array([u[2], u.mean(), u.prod() + np.cumsum(u)[2]]))


def test_object_arrays_of_traced_scalars() -> None:
    """np.array([...]) of traced scalars is an object array; NumPy still works on it."""

    def f(u, p, t):
        x, y, z = u
        v = np.array([x * y, y + z, np.exp(z)])
        return np.tanh(v) + A @ v + np.dot(A, v) * p[0] + np.sum(v**2)

    check(f)


def test_python_builtins_on_traced_values() -> None:
    check(lambda u, p, t: [sum(u), abs(u[1]) + len(u) * u[0] + u.size, u.shape[0] * u[2]])
    check(lambda u, p, t: u[::-1] * u[[0, 2, 1]] + u.T)


def test_output_forms() -> None:
    check(lambda u, p, t: [u[0], 1.0, t * u[2]])  # list with a constant
    check(lambda u, p, t: (u[0], u[1], np.float64(2.0)))  # tuple
    check(lambda u, p, t: np.zeros(3) + u * t)  # array
    check(lambda u, p, t: np.stack([u[0], u[1], u[2]]))  # stacked scalars

    def writes(u, p, t):
        du = np.zeros_like(u)
        du[0] = -u[0]
        du[1:] = u[:2] * p[1]
        return du

    check(writes)


def test_explicit_time_dependence() -> None:
    model = check(lambda u, p, t: u * np.sin(t) + t**2)
    assert "sin(t)" in model.julia_source("M")
    # ∂f/∂t is not a Jacobian: t stays a constant in J
    assert model.jac(U, P, 0.0).tolist() == np.zeros((3, 3)).tolist()


def test_named_parameters_through_odeproblem() -> None:
    def f(u, p, t):
        return p["W"] @ u * p["k"] + p["b"]

    p = {"W": np.arange(6.0).reshape(2, 3) / 10, "k": 2.0, "b": np.array([0.1, 0.2])}
    prob = ODEProblem(f, u0=[1.0, 2.0, 0.0], tspan=(0.0, 1.0), p=p)
    with pytest.raises(TraceError, match="returned 2 values, but u0 has 3 states"):
        prob.model  # noqa: B018
    prob = ODEProblem(
        lambda u, p, t: np.tanh(p["W"] @ u) * p["k"],
        [1.0, 2.0, 3.0],
        (0.0, 1.0),
        p={"W": np.eye(3) * 0.5, "k": 2.0},
    )
    model = prob.model
    assert isinstance(model, TracedModel) and isinstance(model, Model)
    assert model.n_params == 10
    expected = np.tanh(0.5 * prob.u0) * 2.0
    np.testing.assert_allclose(model.f(prob.u0, prob.p, 0.0), expected)
    assert model.paramjac(prob.u0, prob.p, 0.0).shape == (3, 10)


# -- errors -----------------------------------------------------------------------------------
def branchy(u, p, t):
    x, y = u
    if x > 0:
        return [x, y]
    return [-x, y]


def test_branching_names_function_line_and_fix() -> None:
    with pytest.raises(TraceError) as info:
        trace_model(branchy, 2, 0)
    message = str(info.value)
    assert "'branchy'" in message
    assert "test_trace.py, line" in message and "`if x > 0:`" in message
    assert "np.where" in message


def test_builtin_min_is_refused_with_a_hint() -> None:
    with pytest.raises(TraceError, match=r"np\.minimum"):
        trace_model(lambda u, p, t: [min(u[0], u[1]), u[1]], 2, 0)


@pytest.mark.parametrize(
    ("f", "name"),
    [
        (lambda u, p, t: np.sort(u), "np.sort"),
        (lambda u, p, t: np.linalg.solve(np.eye(2), u), "np.linalg.solve"),
        (lambda u, p, t: np.floor(u), "np.floor"),
    ],
)
def test_unsupported_numpy_function_names_itself(f, name: str) -> None:
    with pytest.raises(TraceError, match=f"{name} is not supported"):
        trace_model(f, 2, 0)


def test_wrong_output_length_names_both_sizes() -> None:
    with pytest.raises(TraceError, match="returned 3 values, but u0 has 2 states"):
        trace_model(lambda u, p, t: [u[0], u[1], u[0]], 2, 0)
    with pytest.raises(TraceError, match=r"shape \(2, 1\)"):
        trace_model(lambda u, p, t: u.reshape(2, 1), 2, 0)
    with pytest.raises(TraceError, match="returned None"):
        trace_model(lambda u, p, t: None, 2, 0)


@pytest.mark.parametrize(
    "f",
    [
        lambda u, p, t: u + np.nan,
        lambda u, p, t: u * np.inf,
        lambda u, p, t: np.clip(u, 0.0, np.inf),
        lambda u, p, t: u + np.array([1.0, float("nan")]),
    ],
)
def test_nan_and_inf_constants_are_refused(f) -> None:
    with pytest.raises(TraceError, match="not finite"):
        trace_model(f, 2, 0)


def test_constant_division_by_zero_is_refused() -> None:
    with pytest.raises(TraceError, match="NaN or infinite"):
        trace_model(lambda u, p, t: u / 0.0, 2, 0)


def test_float_conversion_explains_itself() -> None:
    def writes_into_float_array(u, p, t):
        du = np.empty(2)
        du[0] = u[0]
        return du

    with pytest.raises(TraceError, match=r"np\.zeros_like"):
        trace_model(writes_into_float_array, 2, 0)


def test_other_exceptions_are_wrapped_with_location() -> None:
    def broken(u, p, t):
        return [u[0], u[5]]

    with pytest.raises(TraceError, match=r"broken.*it reads u\[5\], but u0 has 2 states"):
        trace_model(broken, 2, 0)


def test_bad_sizes() -> None:
    with pytest.raises(BridgeValueError, match="n_states"):
        trace_model(lambda u, p, t: u, -1, 0)
    with pytest.raises(BridgeValueError, match="param_spec"):
        trace_model(lambda u, p, t: u, 2, 3, {"a": (2,)})


# -- cache ------------------------------------------------------------------------------------
def test_cache_serves_same_function_and_sizes() -> None:
    f = MODELS["lotka_volterra"].f
    first = trace_model(f, 2, 4)
    assert trace_model(f, 2, 4) is first
    assert trace_model(f, 2, 4, name="other") is not first


def test_cache_is_thread_safe() -> None:
    def fresh(u, p, t):
        return -p[0] * u

    results: list[TracedModel] = []
    threads = [
        threading.Thread(target=lambda: results.append(trace_model(fresh, 2, 1))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(r is results[0] for r in results)


def test_cache_does_not_keep_functions_alive() -> None:
    import gc
    import weakref

    def temporary(u, p, t):
        return -u

    trace_model(temporary, 2, 0)
    ref = weakref.ref(temporary)
    del temporary
    gc.collect()
    assert ref() is None


def test_f_runs_generated_code_only_for_scalar_style_functions() -> None:
    def model_of(name: str) -> TracedModel:
        f, u0, p, _ = MODELS[name]
        return trace_model(f, len(u0), len(p), name=name)

    assert model_of("lotka_volterra").f_source == "generated"
    assert model_of("pendulum").f_source == "generated"
    assert model_of("mlp_2_16_2").f_source == "user"
    assert model_of("reaction_chain_50").f_source == "user"
