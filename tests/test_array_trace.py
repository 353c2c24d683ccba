"""Array-level tracing: which models take the array path, what the tracer keeps whole.

The decision is made per function from its trace (``bridge._trace.array.decide``):
scalar-style models and small ones keep the scalar path (their golden files must not
change); MLP-sized matrix products take the array path, whose program does not grow with
the number of parameters.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import bridge
import bridge.torch as bt
from bridge._model import unflatten_params
from bridge._problem import _flatten_params
from bridge._trace import trace_model
from bridge._trace.array import ARRAY_MIN_WORK, ArrayModel, decide
from bridge._trace.array.graph import Unsupported
from bridge._trace.array.tracer import trace_arrays
from bridge._trace.model import TracedModel

from .array_models import ARRAY_MODELS, mlp, mlp_params
from .models import FEATURE_MODELS, MODELS

GOLDEN_MODELS = {**MODELS, **FEATURE_MODELS}


def _sizes(example):
    flat, spec = _flatten_params(example.p)
    return len(example.u0), len(flat), spec, flat


@pytest.mark.parametrize("name", GOLDEN_MODELS)
def test_models_with_golden_files_keep_the_scalar_path(name: str) -> None:
    example = GOLDEN_MODELS[name]
    n, m, spec, _ = _sizes(example)
    model, reason = decide(example.f, n, m, spec, name)
    assert model is None
    assert reason.startswith("scalar path") and "internal error" not in reason, reason
    assert isinstance(trace_model(example.f, n, m, spec, name=name), TracedModel)


@pytest.mark.parametrize(
    ("sizes", "activation"),
    [([2, 50, 2], "tanh"), ([2, 16, 16, 2], "sigmoid"), ([3, 24, 3], "relu")],
)
def test_mlps_take_the_array_path(sizes: list[int], activation: str) -> None:
    f, m = mlp(sizes, activation)
    model = trace_model(f, sizes[0], m)
    assert isinstance(model, ArrayModel), decide(f, sizes[0], m, None, "f")[1]
    p = mlp_params(sizes)
    u = np.linspace(-0.5, 0.5, sizes[0])
    np.testing.assert_allclose(model.f(u, p, 0.0), f(u, p, 0.0), rtol=1e-13, atol=1e-15)


def test_bridge_torch_mlp_rhs_and_neural_ode_take_the_array_path() -> None:
    f, m = bt.mlp_rhs([2, 32, 32, 2])
    assert isinstance(trace_model(f, 2, m), ArrayModel)
    node = bt.NeuralODE([2, 32, 32, 2], backend="reference")
    prob = bridge.ODEProblem(node.rhs, [1.0, 0.0], (0.0, 1.0), node.p.detach().numpy())
    assert isinstance(prob.model, ArrayModel)


def test_the_threshold_is_the_multiply_adds_of_the_matrix_products() -> None:
    below, m_below = mlp([2, ARRAY_MIN_WORK // 4 - 1, 2])  # 4 h multiply-adds
    at, m_at = mlp([2, ARRAY_MIN_WORK // 4, 2])
    assert decide(below, 2, m_below, None, "f")[0] is None
    model, reason = decide(at, 2, m_at, None, "f")
    assert isinstance(model, ArrayModel), reason
    assert reason == f"array path: {ARRAY_MIN_WORK} multiply-adds in matrix products"


def test_the_program_grows_with_operations_not_parameters() -> None:
    small, m_small = mlp([2, 8, 8, 2])
    large, m_large = mlp([2, 256, 256, 2])
    a = ArrayModel(small, trace_arrays(small, 2, m_small, None, "f"), None, "f")
    b = ArrayModel(large, trace_arrays(large, 2, m_large, None, "f"), None, "f")
    assert len(a.trace.graph.nodes) == len(b.trace.graph.nodes)
    for target in ("julia", "numpy"):
        assert len(a.source(target).splitlines()) == len(b.source(target).splitlines())
    assert len(b.source("julia")) < 6_000  # characters, for 67k parameters


def test_a_67k_parameter_mlp_traces_in_well_under_a_second_of_cpu() -> None:
    f, m = mlp([2, 256, 256, 2])
    start = time.process_time()
    model, _ = decide(f, 2, m, None, "f")
    model.julia_source("M")  # type: ignore[union-attr]
    # The target is 1 s on a busy machine (bench/bench_trace.py); a per-parameter cost
    # anywhere (67k) would show up as seconds.
    assert time.process_time() - start < 1.0
    assert isinstance(model, ArrayModel) and model.n_params == m == 67_074


def _branching(u, p, t):
    w = p[:128].reshape(64, 2)
    if u[0] > 0:  # a branch on a traced value
        return w.T @ np.tanh(w @ u)
    return -u


def _uses_math(u, p, t):
    return p[:128].reshape(64, 2).T @ np.tanh(p[:128].reshape(64, 2) @ u) * math.exp(-t)


def _fancy_index(u, p, t):
    w = p[:128].reshape(64, 2)
    return (w.T @ np.tanh(w @ u))[[1, 0]]


def _writes_into_its_input(u, p, t):
    u[0] = 0.0
    w = p[:128].reshape(64, 2)
    return w.T @ np.tanh(w @ u)


@pytest.mark.parametrize(
    ("func", "why"),
    [
        (_branching, "a branch on a traced value"),
        (_uses_math, "float() of a traced value"),
        (_fancy_index, "indexing with an array"),
        (_writes_into_its_input, "writing into an input"),
    ],
)
def test_code_the_array_tracer_does_not_keep_goes_to_the_scalar_tracer(func, why) -> None:
    model, reason = decide(func, 2, 128, None, "f")
    assert model is None and why in reason, reason


def test_scalar_fallback_still_traces_what_it_can() -> None:
    model = trace_model(_uses_math, 2, 128)
    assert isinstance(model, TracedModel)
    p = mlp_params([2, 64, 2])[:128]
    u = np.array([0.3, -0.2])
    np.testing.assert_allclose(model.f(u, p, 0.5), _uses_math(u, p, 0.5), rtol=1e-12)


@pytest.mark.parametrize("name", ARRAY_MODELS)
def test_array_operations_compute_what_the_function_computes(name: str) -> None:
    example = ARRAY_MODELS[name]
    n, m, spec, flat = _sizes(example)
    model = ArrayModel(example.f, trace_arrays(example.f, n, m, spec, name), spec, name)
    rng = np.random.default_rng(7)
    for _ in range(3):
        u = example.u0 + 0.3 * rng.normal(size=n)
        p = flat * (1.0 + 0.2 * rng.normal(size=m))
        expected = np.asarray(example.f(u, unflatten_params(p, spec), 0.7), dtype=float)
        got = model.f(u, p, 0.7)
        assert got.dtype == np.float64 and got.shape == (n,)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)


def test_outputs_are_fresh_arrays_not_views_of_the_inputs() -> None:
    f, m = mlp([2, 40, 2], "identity")
    model = trace_model(lambda u, p, t: u, 2, 0)  # scalar path; the array one below
    array = ArrayModel(f, trace_arrays(f, 2, m, None, "f"), None, "f")
    u, p, v = np.array([1.0, 2.0]), mlp_params([2, 40, 2]), np.ones(2)
    for out in (array.f(u, p, 0.0), array.vjp_u(v, u, p, 0.0), array.vjp_p(v, u, p, 0.0)):
        assert out.base is None and not np.shares_memory(out, p) and not np.shares_memory(out, u)
    assert isinstance(model, TracedModel)


def test_switches_on_the_state_are_recorded_with_the_users_line() -> None:
    example = ARRAY_MODELS["second_order"]
    n, m, spec, _ = _sizes(example)
    model = ArrayModel(example.f, trace_arrays(example.f, n, m, spec, "so"), spec, "so")
    (switch,) = model.switches
    assert switch.kind == "np.where" and not switch.jumps  # 0.1 q and 0 agree at q = 0
    assert "array_models.py" in switch.location and "np.where(q > 0.0" in switch.location

    def jumping(u, p, t):
        w = p[:128].reshape(64, 2)
        return np.where(u > 0.5, -1.0, 1.0) * (w.T @ np.tanh(w @ u))

    model = trace_model(jumping, 2, 128)
    assert isinstance(model, ArrayModel)
    assert [s.jumps for s in model.switches] == [True]


def test_unsupported_is_internal_and_names_the_construct() -> None:
    with pytest.raises(Unsupported, match="returned shape"):
        trace_arrays(lambda u, p, t: u.sum(), 2, 0, None, "f")
