"""Property tests of traced models over the catalogue (tests/models.py).

For random states, parameters and times: the model's f equals the user's function on floats;
J and ∂f/∂p equal central finite differences; the VJPs equal vᵀJ and vᵀ∂f/∂p.
Random points come from a hypothesis-drawn seed, so they never land exactly on the kinks
of the piecewise feature models.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge._model import unflatten_params
from bridge._problem import _flatten_params
from bridge._trace import trace_model

from .models import FEATURE_MODELS, MODELS

ALL = {**MODELS, **FEATURE_MODELS}
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FEW = settings(max_examples=8, deadline=None)


def _setup(name: str):
    f, u0, p, _ = ALL[name]
    flat, spec = _flatten_params(p)
    model = trace_model(f, len(u0), len(flat), spec, name=name)
    return f, np.asarray(u0, dtype=float), flat, spec, model


def _point(seed: int, u0: np.ndarray, p: np.ndarray):
    rng = np.random.default_rng(seed)
    u = u0 + rng.uniform(-0.5, 0.5, size=u0.shape)
    p = p * (1.0 + rng.uniform(-0.2, 0.2, size=p.shape))
    t = float(rng.uniform(0.0, 2.0))
    v = rng.normal(size=u0.shape)
    return u, p, t, v


def _central_difference(fun, x: np.ndarray) -> np.ndarray:
    cols = []
    for k in range(x.size):
        h = 1e-6 * max(1.0, abs(x[k]))
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        cols.append((fun(up) - fun(down)) / (2 * h))
    return np.stack(cols, axis=-1) if cols else np.zeros((0, 0))


def _close(
    actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5, noise: float = 0.0
) -> None:
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale + noise)


def _fd_noise(f_value: np.ndarray) -> float:
    """Round-off of a central difference with h ~ 1e-6 (large for Robertson's 3e7 rates)."""
    return 1e-7 * float(np.max(np.abs(f_value), initial=0.0))


@pytest.mark.parametrize("name", sorted(ALL))
@FEW
@given(seed=SEEDS)
def test_f_matches_user_function(name: str, seed: int) -> None:
    f, u0, p0, spec, model = _setup(name)
    u, p, t, _ = _point(seed, u0, p0)
    expected = np.asarray(f(u, unflatten_params(p, spec), t), dtype=np.float64)
    for version in (model.f, model.f_generated, model.f_user):
        out = version(u, p, t)
        assert out.dtype == np.float64 and out.shape == (len(u0),)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
@FEW
@given(seed=SEEDS)
def test_jacobians_match_finite_differences(name: str, seed: int) -> None:
    _, u0, p0, _, model = _setup(name)
    u, p, t, _ = _point(seed, u0, p0)
    jac = model.jac(u, p, t)
    pjac = model.paramjac(u, p, t)
    assert jac.shape == (len(u), len(u)) and pjac.shape == (len(u), len(p))
    noise = _fd_noise(model.f_user(u, p, t))
    _close(jac, _central_difference(lambda x: model.f_user(x, p, t), u), noise=noise)
    if len(p):
        _close(pjac, _central_difference(lambda x: model.f_user(u, x, t), p), noise=noise)


@pytest.mark.parametrize("name", sorted(ALL))
@FEW
@given(seed=SEEDS)
def test_vjps_are_transposed_jacobians(name: str, seed: int) -> None:
    _, u0, p0, _, model = _setup(name)
    u, p, t, v = _point(seed, u0, p0)
    _close(model.vjp_u(v, u, p, t), v @ model.jac(u, p, t), rtol=1e-10)
    _close(model.vjp_p(v, u, p, t), v @ model.paramjac(u, p, t), rtol=1e-10)


def test_outputs_are_fresh_float64_arrays() -> None:
    _, u0, p0, _, model = _setup("lotka_volterra")
    a, b = model.jac(u0, p0, 0.0), model.jac(u0, p0, 0.0)
    assert a.dtype == np.float64 and a is not b and not np.shares_memory(a, b)
    f1 = model.f(u0, p0, 0.0)
    f1[:] = 0.0
    assert np.any(model.f(u0, p0, 0.0) != 0.0)
