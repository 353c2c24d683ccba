"""Right-hand sides for the array-tracing tests, written as users write array code.

``mlp(sizes, activation)`` builds ``f(u, p, t)`` for a tanh (or other) MLP whose weights are
slices of a flat ``p`` (the layout of ``bridge.torch.mlp_rhs``); ``ARRAY_MODELS`` holds
models that exercise the other array operations. Every one takes the array path when built
with ``ArrayModel`` directly (tests do that for the small ones, which ``trace_model`` would
give to the scalar tracer).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from .models import Example

ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "identity": lambda x: x,
    "sin": np.sin,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "relu": lambda x: np.maximum(x, 0.0),
}


def mlp(sizes: list[int], activation: str = "tanh", cube: bool = False) -> tuple[Any, int]:
    """``(f, n_params)`` for an MLP on ``u`` (or on ``u**3``, as the spiral example)."""
    act = ACTIVATIONS[activation]
    layers = []
    start = 0
    for n_in, n_out in itertools.pairwise(sizes):
        layers.append((start, n_out, n_in))
        start += n_out * n_in + n_out

    def f(u: Any, p: Any, t: Any) -> Any:
        h = u**3 if cube else u
        for k, (w0, n_out, n_in) in enumerate(layers):
            w = p[w0 : w0 + n_out * n_in].reshape(n_out, n_in)
            b = p[w0 + n_out * n_in : w0 + n_out * n_in + n_out]
            h = w @ h + b
            if k < len(layers) - 1:
                h = act(h)
        return h

    f.__name__ = f"mlp_{'_'.join(map(str, sizes))}_{activation}"
    return f, start


def mlp_params(sizes: list[int], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = []
    for n_in, n_out in itertools.pairwise(sizes):
        parts.append(rng.normal(0.0, scale / np.sqrt(n_in), size=(n_out, n_in)).ravel())
        parts.append(rng.normal(0.0, 0.1, size=n_out))
    return np.concatenate(parts)


# -- models that use the other array operations ---------------------------------------------
A_CONST = np.array([[-0.5, 1.0, 0.2], [-1.0, -0.3, 0.1], [0.4, 0.0, -0.8]])


def second_order(u, p, t):
    """q'' = -W tanh(q) - c q': a state split in halves, setitem, where, sum, broadcasting."""
    q, v = u[:3], u[3:]
    w = p[:9].reshape(3, 3)
    force = -w @ np.tanh(q) - p[9] * v + np.sin(t) * p[10:13]
    damp = np.where(q > 0.0, 0.1 * q, 0.0)
    du = np.zeros_like(u)
    du[:3] = v
    du[3:] = force - damp + np.sum(q**2) * 0.01
    return du


def matrices(u, p, t):
    """2-d products, transposes, outer, dot, mean over an axis, a captured constant."""
    m = u.reshape(2, 3)
    b = p[:6].reshape(3, 2)
    mixed = (m @ b) @ m  # (2, 3)
    rows = mixed.mean(axis=0)  # (3,)
    cross = np.outer(u[:2], p[6:9]).T @ u[:2]  # (3,)
    scale = np.dot(u, u)
    first = A_CONST @ rows + 0.1 * cross * np.exp(-scale)
    second = np.concatenate([[np.clip(u[3], -1.0, 1.0)], np.abs(u[4:]) - m.T[1:, 0] * u[0]])
    return np.concatenate([first, second])


def stacked_layers(u, p, t):
    """np.stack, hstack, negative strides, in-place update, keepdims, named views."""
    h = np.tanh(p[:8].reshape(4, 2) @ u + p[8:12])
    pair = np.stack([h[:2], h[2:][::-1]])  # (2, 2)
    total = pair.sum(axis=1, keepdims=True)  # (2, 1)
    out = (pair * total).sum(axis=0)
    out += np.hstack([u[1], u[0]]) * p[12]
    return out / (1.0 + u**2)


def tensor3(u, p, t):
    """A 3-d reshape and transpose, sums over axes, a sum to a scalar."""
    x = u.reshape(1, 2, 3).transpose(2, 0, 1)  # (3, 1, 2)
    y = (x * p[:6].reshape(3, 1, 2)).sum(axis=2).sum(axis=1)  # (3,)
    return np.concatenate([y * np.exp(-t), u[3:] * np.sum(p[:6] ** 2)])


def named_mlp(u, p, t):
    """Named parameters (param_spec): a dict of arrays."""
    h = np.tanh(p["W1"] @ u + p["b1"])
    return p["W2"] @ h + p["b2"] * p["scale"]


def _named_params() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return {
        "W1": rng.normal(size=(6, 2)) / 2,
        "b1": rng.normal(size=6) * 0.1,
        "W2": rng.normal(size=(2, 6)) / 3,
        "b2": rng.normal(size=2) * 0.1,
        "scale": 1.5,
    }


def constant_net(u, p, t):
    """No parameters at all: captured weights (the adjoint of p is empty)."""
    return A_CONST[:2, :2] @ np.tanh(A_CONST[:2, :2].T @ u) - 0.1 * u


ARRAY_MODELS: dict[str, Example] = {
    "second_order": Example(
        second_order,
        np.array([0.3, -0.2, 0.5, 0.1, 0.0, -0.1]),
        np.concatenate([np.random.default_rng(1).normal(size=9) / 3, [0.2, 0.3, -0.1, 0.2]]),
        (0.0, 2.0),
    ),
    "matrices": Example(
        matrices,
        np.array([0.3, -0.2, 0.5, 0.1, 0.4, -0.6]),
        np.random.default_rng(2).normal(size=9) / 2,
        (0.0, 1.0),
    ),
    "stacked_layers": Example(
        stacked_layers,
        np.array([0.4, -0.3]),
        np.random.default_rng(4).normal(size=13) / 2,
        (0.0, 1.0),
    ),
    "tensor3": Example(
        tensor3,
        np.array([0.3, -0.2, 0.5, 0.1, 0.4, -0.6]),
        np.random.default_rng(5).normal(size=6),
        (0.0, 1.0),
    ),
    "named_mlp": Example(named_mlp, np.array([0.5, -0.5]), _named_params(), (0.0, 1.0)),
    "constant_net": Example(constant_net, np.array([0.5, -0.5]), np.zeros(0), (0.0, 1.0)),
}
