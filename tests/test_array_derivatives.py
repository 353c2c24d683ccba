"""Derivatives of array programs (reverse and forward mode) against independent answers.

The generated NumPy functions are the twins of the Julia ones (same statements, see
test_array_codegen.py); here each is checked against central differences of the user's
own function and against the scalar path (``TracedModel``, SymPy's exact derivatives) on
random MLPs (layer sizes, activations) and on models that use the other array operations.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge._model import unflatten_params
from bridge._problem import _flatten_params
from bridge._trace.array.model import ArrayModel
from bridge._trace.array.tracer import trace_arrays
from bridge._trace.model import TracedModel
from bridge._trace.tracer import trace

from .array_models import ACTIVATIONS, ARRAY_MODELS, mlp, mlp_params


def central_differences(fun, x: np.ndarray) -> np.ndarray:
    """The Jacobian of ``fun`` at ``x`` (one column per entry of x), 4th-order stencil."""
    if x.size == 0:
        return np.zeros((np.asarray(fun(x)).size, 0))
    cols = []
    for i in range(x.size):
        h = 1e-3 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        f2, f1 = np.asarray(fun(x + 2 * e)), np.asarray(fun(x + e))
        b1, b2 = np.asarray(fun(x - e)), np.asarray(fun(x - 2 * e))
        cols.append((-f2 + 8 * f1 - 8 * b1 + b2) / (12 * h))
    return np.array(cols, dtype=float).T.reshape(-1, x.size)


def _array_model(f, n, m, spec=None):
    return ArrayModel(f, trace_arrays(f, n, m, spec, "f"), spec, "f")


def _scalar_model(f, n, m, spec=None):
    return TracedModel(f, trace(f, n, m, spec, "f"), spec, "f")


def _check_against(model, reference, u, p, t, v, rtol, atol) -> None:
    jac, pjac = reference
    np.testing.assert_allclose(model.jac(u, p, t), jac, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.paramjac(u, p, t), pjac, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.vjp_u(v, u, p, t), v @ jac, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.vjp_p(v, u, p, t), v @ pjac, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.jvp_u(v, u, p, t), jac @ v, rtol=rtol, atol=atol)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    n=st.integers(1, 3),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=2),
    activation=st.sampled_from(sorted(set(ACTIVATIONS) - {"relu"})),
    cube=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_mlps_match_central_differences_and_the_scalar_path(
    n, hidden, activation, cube, seed
) -> None:
    sizes = [n, *hidden, n]
    f, m = mlp(sizes, activation, cube=cube)
    rng = np.random.default_rng(seed)
    p = mlp_params(sizes, seed=seed)
    u = rng.uniform(-0.8, 0.8, size=n)
    v = rng.normal(size=n)
    t = 0.3
    array = _array_model(f, n, m)
    scalar = _scalar_model(f, n, m)
    np.testing.assert_allclose(array.f(u, p, t), f(u, p, t), rtol=1e-13, atol=1e-14)
    exact = (scalar.jac(u, p, t), scalar.paramjac(u, p, t))
    _check_against(array, exact, u, p, t, v, rtol=1e-10, atol=1e-12)
    fd = (
        central_differences(lambda x: f(x, p, t), u),
        central_differences(lambda x: f(u, x, t), p),
    )
    _check_against(array, fd, u, p, t, v, rtol=1e-5, atol=1e-7)


def test_relu_kinks_take_the_scalar_paths_convention() -> None:
    # np.maximum(x, 0): away from the kink both paths agree; the derivative at the kink
    # goes to the first argument where x >= 0 (functions.Maximum), on both paths.
    sizes = [2, 5, 2]
    f, m = mlp(sizes, "relu")
    p = mlp_params(sizes, seed=5)
    u, v = np.array([0.4, -0.7]), np.array([1.0, -2.0])
    array, scalar = _array_model(f, 2, m), _scalar_model(f, 2, m)
    exact = (scalar.jac(u, p, 0.0), scalar.paramjac(u, p, 0.0))
    _check_against(array, exact, u, p, 0.0, v, rtol=1e-12, atol=1e-14)
    at_kink = np.zeros(2)
    b = p[10:15]  # first-layer bias: h = b at u = 0; a zero bias puts units at the kink
    q = p.copy()
    q[10:12] = 0.0
    assert np.any(b != q[10:15])
    exact = (scalar.jac(at_kink, q, 0.0), scalar.paramjac(at_kink, q, 0.0))
    _check_against(array, exact, at_kink, q, 0.0, v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ARRAY_MODELS)
def test_array_operations_differentiate_like_the_scalar_path(name: str) -> None:
    example = ARRAY_MODELS[name]
    flat, spec = _flatten_params(example.p)
    n, m = len(example.u0), len(flat)
    array = _array_model(example.f, n, m, spec)
    scalar = _scalar_model(example.f, n, m, spec)
    rng = np.random.default_rng(11)
    u = example.u0 + 0.2 * rng.normal(size=n)
    p = flat * (1.0 + 0.1 * rng.normal(size=m))
    v = rng.normal(size=n)
    t = 0.4
    exact = (scalar.jac(u, p, t), scalar.paramjac(u, p, t))
    _check_against(array, exact, u, p, t, v, rtol=1e-10, atol=1e-12)

    def user(x, q):
        return example.f(x, unflatten_params(q, spec), t)

    fd = (
        central_differences(lambda x: user(x, p), u),
        central_differences(lambda x: user(u, x), p),
    )
    _check_against(array, fd, u, p, t, v, rtol=1e-5, atol=1e-7)


def test_vjp_p_reuses_the_sweep_of_vjp_u_only_at_the_same_point() -> None:
    sizes = [2, 6, 2]
    f, m = mlp(sizes)
    model = _array_model(f, 2, m)
    p = mlp_params(sizes)
    u, v = np.array([0.2, -0.1]), np.array([1.0, 0.5])
    direct = model._vjp_p(v, u, p, 0.0)
    model.vjp_u(v, u, p, 0.0)
    np.testing.assert_array_equal(model.vjp_p(v, u, p, 0.0), direct)
    model.vjp_u(v, u, p, 0.0)
    v[0] = -3.0  # the same array, changed in place: computed again
    np.testing.assert_array_equal(model.vjp_p(v, u, p, 0.0), model._vjp_p(v, u, p, 0.0))
    model.vjp_u(v, u, p, 0.0)
    q = p.copy()  # equal values, another array: computed again (and equal)
    np.testing.assert_allclose(model.vjp_p(v, u, q, 0.0), model._vjp_p(v, u, q, 0.0))
    model.jac(u, p, 0.0)
    u2 = u + 0.1
    expected = np.array([model._vjp_p(e, u2, p, 0.0) for e in np.eye(2)])
    np.testing.assert_array_equal(model.paramjac(u2, p, 0.0), expected)


def test_no_parameters_gives_empty_parameter_derivatives() -> None:
    example = ARRAY_MODELS["constant_net"]
    model = _array_model(example.f, 2, 0)
    u, v = example.u0, np.array([1.0, 2.0])
    assert model.vjp_p(v, u, np.zeros(0), 0.0).shape == (0,)
    assert model.paramjac(u, np.zeros(0), 0.0).shape == (2, 0)
    jac = central_differences(lambda x: example.f(x, np.zeros(0), 0.0), u)
    np.testing.assert_allclose(model.jac(u, np.zeros(0), 0.0), jac, rtol=1e-7, atol=1e-9)


def test_sums_over_several_axes_match_central_differences() -> None:
    def f(u, p, t):
        x = np.tanh(u.reshape(2, 1, 3) * p[:6].reshape(1, 2, 3))  # (2, 2, 3)
        return np.concatenate([x.sum(axis=(0, 2)), x.mean(axis=(1, 2)), x.sum(axis=(0, 1))[:2]])

    model = _array_model(f, 6, 6)
    rng = np.random.default_rng(8)
    u, p, v = rng.normal(size=6), rng.normal(size=6), rng.normal(size=6)
    jac = central_differences(lambda x: f(x, p, 0.0), u)
    pjac = central_differences(lambda x: f(u, x, 0.0), p)
    _check_against(model, (jac, pjac), u, p, 0.0, v, rtol=1e-6, atol=1e-8)
