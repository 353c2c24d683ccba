"""A shared catalogue of example right-hand sides, written as users write them.

``MODELS`` maps a name to ``Example(f, u0, p, tspan)`` (a named tuple, so
``f, u0, p, tspan = MODELS["lorenz"]`` works). Every ``f(u, p, t)`` is plain NumPy code that
bridge can trace; ``p`` is a flat float array. ``FEATURE_MODELS`` holds extra examples that
exercise tracing features (piecewise functions, ``math.*``, named parameters); they are not
all smooth, so solver tests may prefer ``MODELS``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Example(NamedTuple):
    f: Callable[..., Any]
    u0: np.ndarray
    p: Any
    tspan: tuple[float, float]


def lotka_volterra(u, p, t):
    x, y = u
    a, b, c, d = p
    return [a * x - b * x * y, -c * y + d * x * y]


def robertson(u, p, t):
    y1, y2, y3 = u
    k1, k2, k3 = p
    return [
        -k1 * y1 + k3 * y2 * y3,
        k1 * y1 - k2 * y2**2 - k3 * y2 * y3,
        k2 * y2**2,
    ]


def lorenz(u, p, t):
    x, y, z = u
    sigma, rho, beta = p
    return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def van_der_pol(u, p, t):
    x, y = u
    (mu,) = p
    return [y, mu * (1 - x**2) * y - x]


def pendulum(u, p, t):
    theta, omega = u
    g, length, damping = p
    return [omega, -(g / length) * np.sin(theta) - damping * omega]


def sir(u, p, t):
    s, i, _ = u
    beta, gamma = p
    n = u.sum()
    infection = beta * s * i / n
    return (-infection, infection - gamma * i, gamma * i)


def mlp_2_16_2(u, p, t):
    w1 = p[:32].reshape(16, 2)
    b1 = p[32:48]
    w2 = p[48:80].reshape(2, 16)
    b2 = p[80:82]
    return w2 @ np.tanh(w1 @ u + b1) + b2


def reaction_chain_50(u, p, t):
    flux = p * u[:-1]  # A_i -> A_{i+1} at rate p_i
    return np.concatenate([[0.0], flux]) - np.concatenate([flux, [0.0]])


#: The benchmarks' cascade: S1 -> S2 -> ... -> S50 -> nothing, Michaelis–Menten steps.
CHAIN_N = 50


def michaelis_menten_chain(u, p, t):
    """v_i = k_i u_i / (K + u_i); p = (k_1, ..., k_50, K): n + m = 101, so SciMLSensitivity's
    (and the reference backend's) automatic choice is an adjoint rather than forward mode."""
    n = CHAIN_N
    km = p[n]
    v = [p[i] * u[i] / (km + u[i]) for i in range(n)]
    return [-v[0]] + [v[i - 1] - v[i] for i in range(1, n)]


def mlp_named(u, p, t):
    """A tanh MLP as the vector field, with named weights p = {"W1", "b1", "W2", "b2"}."""
    return p["W2"] @ np.tanh(p["W1"] @ u + p["b1"]) + p["b2"]


def forced_oscillator(u, p, t):
    x, v = u
    omega, zeta, amplitude = p
    return [v, -(omega**2) * x - 2 * zeta * omega * v + amplitude * math.cos(t)]


def _mlp_params(sizes: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = []
    for n_in, n_out in itertools.pairwise(sizes):
        parts.append(rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_out, n_in)).ravel())
        parts.append(rng.normal(0.0, 0.1, size=n_out))
    return np.concatenate(parts)


MODELS: dict[str, Example] = {
    "lotka_volterra": Example(
        lotka_volterra, np.array([1.0, 1.0]), np.array([1.5, 1.0, 3.0, 1.0]), (0.0, 10.0)
    ),
    "robertson": Example(
        robertson, np.array([1.0, 0.0, 0.0]), np.array([0.04, 3.0e7, 1.0e4]), (0.0, 100.0)
    ),
    "lorenz": Example(
        lorenz, np.array([1.0, 0.0, 0.0]), np.array([10.0, 28.0, 8.0 / 3.0]), (0.0, 1.0)
    ),
    "van_der_pol": Example(van_der_pol, np.array([2.0, 0.0]), np.array([1.0]), (0.0, 6.3)),
    "pendulum": Example(pendulum, np.array([1.0, 0.0]), np.array([9.81, 1.0, 0.1]), (0.0, 5.0)),
    "sir": Example(sir, np.array([0.99, 0.01, 0.0]), np.array([0.5, 0.1]), (0.0, 50.0)),
    "mlp_2_16_2": Example(
        mlp_2_16_2, np.array([2.0, 0.0]), _mlp_params([2, 16, 2], seed=0), (0.0, 1.5)
    ),
    "reaction_chain_50": Example(
        reaction_chain_50,
        np.concatenate([[1.0], np.zeros(49)]),
        np.linspace(0.5, 1.5, 49),
        (0.0, 10.0),
    ),
    "forced_oscillator": Example(
        forced_oscillator, np.array([1.0, 0.0]), np.array([2.0, 0.1, 0.5]), (0.0, 10.0)
    ),
}


# -- feature examples -------------------------------------------------------------------------
def saturating(u, p, t):
    """np.where, np.clip, np.maximum, abs and math.exp: piecewise but traceable."""
    x, y = u
    k, lo, hi = p
    drive = np.where(x > 0.0, k * x, 0.1 * k * x)
    return [np.clip(y, lo, hi) - drive, np.maximum(x, 0.0) - abs(y) * math.exp(-t)]


def named_params(u, p, t):
    """Named parameters: p is a dict of arrays."""
    return p["A"] @ u + p["b"] * np.tanh(u) * p["scale"]


def stacked(u, p, t):
    """np.stack, np.sum with an axis, reshape, more transcendental functions, explicit time."""
    m = u.reshape(2, 2)
    rows = np.sum(m * p[:4].reshape(2, 2), axis=1)
    first = np.stack(
        [np.log1p(u[0] ** 2), np.expm1(-rows[0]), np.sqrt(1.0 + u[2] ** 2) * np.cos(t), rows[1]]
    )
    second = np.array(
        [np.arctan(u[3]), np.sinh(u[1]) * 0.1, np.cosh(u[0]) * 0.1, np.tan(0.1 * u[2])]
    )
    return first + second  # p[4] is unused on purpose: its derivatives are zero


FEATURE_MODELS: dict[str, Example] = {
    "saturating": Example(
        saturating, np.array([0.5, -0.3]), np.array([2.0, -0.5, 0.5]), (0.0, 5.0)
    ),
    "named_params": Example(
        named_params,
        np.array([0.3, -0.2]),
        {"A": np.array([[-1.0, 0.5], [-0.5, -1.0]]), "b": np.array([0.2, 0.1]), "scale": 2.0},
        (0.0, 5.0),
    ),
    "stacked": Example(
        stacked, np.array([0.3, -0.2, 0.5, 0.1]), np.array([0.5, -1.0, 0.3, 0.8, 9.0]), (0.0, 1.0)
    ),
}
