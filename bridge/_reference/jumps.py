"""The jumps of the sensitivities at events (saltation), forward and transposed.

At an event at time τ, where g(u, p, t) = 0, with the affect u⁺ = h(u⁻, p, τ) and
θ = (u0, p), the event time moves with θ and the sensitivities S = ∂u/∂θ jump::

    dτ/dθ = -(g_u S⁻ + g_θ) / (g_u f⁻ + g_t)
    S⁺    = h_u S⁻ + h_θ + (h_u f⁻ + h_t - f⁺) dτ/dθ

with f⁻ = f(u⁻, p, τ), f⁺ = f(u⁺, p, τ), g_θ = [0 | g_p], h_θ = [0 | h_p]. A switching
surface of f is the same with h the identity: S⁺ = S⁻ + (f⁻ - f⁺) dτ/dθ. A value saved at
the event is the state at τ(θ), which moves: its derivative is S⁻ + f⁻ dτ/dθ before the
affect and S⁺ + f⁺ dτ/dθ after.

The adjoint takes the transpose. With λ⁺ the adjoint arriving from after the event, c⁻ and
c⁺ the cotangents of the values saved at τ before and after, a = λ⁺ + c⁺ and
s = aᵀ(h_u f⁻ + h_t) - λ⁺ᵀ f⁺ + c⁻ᵀ f⁻::

    λ⁻ = h_uᵀ a + c⁻ - (s / ġ) g_u,    μ += h_pᵀ a - (s / ġ) g_p,    ġ = g_u f⁻ + g_t

Several events at one time are applied in order, each from the state the previous left.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GradientWarning
from .._model import FloatArray
from .events import Hit, Link, Transform


@dataclass(frozen=True)
class LinkDerivatives:
    """The derivatives of one event at its link (u⁻ = ``link.u_a``, τ)."""

    g_u: FloatArray
    g_p: FloatArray
    h_u: FloatArray
    h_p: FloatArray
    h_t: FloatArray
    #: dg/dt along the solution before the event, g_u f⁻ + g_t (zero: a tangency).
    g_dot: float


def link_derivatives(event: Any, link: Link, p: FloatArray, t: float) -> LinkDerivatives:
    u = link.u_a
    g_u, g_p, g_t = event.g_u(u, p, t), event.g_p(u, p, t), event.g_t(u, p, t)
    g_dot = float(g_u @ link.f_a) + g_t
    if g_dot == 0.0 or not np.isfinite(g_dot):
        from .._errors import user_stacklevel

        warnings.warn(
            f"{event.describe()} at t={t!r} is reached tangentially (dg/dt = {g_dot!r}): the "
            "derivative of its time is unbounded there, and the gradient leaves it out",
            GradientWarning,
            stacklevel=user_stacklevel(),
        )
        g_dot = float("inf")  # dτ/dθ = 0
    return LinkDerivatives(
        g_u, g_p, event.h_u(u, p, t), event.h_p(u, p, t), event.h_t(u, p, t), g_dot
    )


def forward_transform(events: Sequence[Any], p: FloatArray, n: int, m: int) -> Transform:
    """The jump of [u, Sᵀ] (forward sensitivities, ``forward.py``'s layout: rows ∂u/∂θ_j)
    at a hit; the derivatives of the values saved at the hit go into ``hit.extra``.

    Example
    -------
    >>> from bridge._trace.events import traced_event
    >>> ev = traced_event(lambda u, p, t: u[0], lambda u, p, t: [-p[0] * u[0]], 1, 1)
    >>> hit = Hit(1.0, [Link(0, np.array([0.0]), np.array([-1.0]), np.array([0.0]),
    ...                      np.array([-1.0]))])
    >>> jump = forward_transform([ev], np.array([0.5]), 1, 1)
    >>> jump(hit, np.array([0.0, 1.0, 0.0]))   # u, du/du0, du/dp: dτ/du0 = 1
    array([0., 1., 0.])
    """
    k = n + m

    def transform(hit: Hit, y_minus: FloatArray) -> FloatArray:
        st = np.array(y_minus[n:]).reshape(k, n)
        pre: FloatArray | None = None
        dtau = np.zeros(k)
        for link in hit.links:
            d = link_derivatives(events[link.event], link, p, hit.t)
            g_theta = np.concatenate([np.zeros(n), d.g_p])
            dtau = -(st @ d.g_u + g_theta) / d.g_dot
            if pre is None:
                pre = st + np.outer(dtau, link.f_a)
            h_theta = np.vstack([np.zeros((n, n)), d.h_p.T])
            st = st @ d.h_u.T + h_theta + np.outer(dtau, d.h_u @ link.f_a + d.h_t - link.f_b)
        hit.extra["pre"] = pre
        hit.extra["post"] = st + np.outer(dtau, hit.links[-1].f_b)
        return np.concatenate([hit.links[-1].u_b, st.ravel()])

    return transform


def adjoint_jump(
    events: Sequence[Any],
    p: FloatArray,
    hit: Hit,
    lam: FloatArray,
    mu: FloatArray,
    c_pre: FloatArray | None,
    c_post: FloatArray | None,
) -> FloatArray:
    """λ before the hit from λ after it (``mu`` is updated in place); see the docstring.

    Example
    -------
    >>> from bridge._trace.events import traced_event
    >>> ev = traced_event(lambda u, p, t: u[0], lambda u, p, t: [-p[0] * u[0]], 1, 1)
    >>> hit = Hit(1.0, [Link(0, np.array([0.0]), np.array([-1.0]), np.array([0.0]),
    ...                      np.array([-1.0]))])
    >>> mu = np.zeros(1)
    >>> adjoint_jump([ev], np.array([0.5]), hit, np.array([1.0]), mu, None, None), mu
    (array([1.]), array([0.]))
    """
    last = len(hit.links) - 1
    lam_b = lam
    for i in range(last, -1, -1):
        link = hit.links[i]
        d = link_derivatives(events[link.event], link, p, hit.t)
        a = lam_b + c_post if (i == last and c_post is not None) else lam_b
        s = float(a @ (d.h_u @ link.f_a + d.h_t)) - float(lam_b @ link.f_b)
        lam_a = d.h_u.T @ a
        if i == 0 and c_pre is not None:
            s += float(c_pre @ link.f_a)
            lam_a = lam_a + c_pre
        lam_b = lam_a - (s / d.g_dot) * d.g_u
        mu += d.h_p.T @ a - (s / d.g_dot) * d.g_p
    return np.asarray(lam_b, dtype=np.float64)


__all__ = ["LinkDerivatives", "adjoint_jump", "forward_transform", "link_derivatives"]
