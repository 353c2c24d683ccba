"""Gradients of solves: ``value_and_grad`` for NumPy losses.

``value_and_grad(loss, prob, ...)`` traces ``loss(u)`` exactly as a right-hand side is traced
(``bridge._trace``: symbolic arrays, the tape of intermediates, chain-rule derivatives and
generated NumPy code), so dL/du is exact, and chains it with the solve's pullback.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ._errors import BridgeTypeError
from ._problem import ODEProblem
from ._solution import Gradients

# ------------------------------------------------------------------------------ value_and_grad


_LOSSES: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], Any]] = weakref.WeakKeyDictionary()
_LOSSES_LOCK = threading.Lock()


def _traced_loss(loss: Callable[..., Any], shape: tuple[int, int], fresh: bool) -> Any:
    """``bridge._trace.trace_loss(loss, shape)``, cached per loss and shape; traced again
    when ``fresh`` or when a value the trace froze has changed."""
    from ._trace import trace_loss

    try:
        with _LOSSES_LOCK:
            per_loss = _LOSSES.setdefault(loss, {})
    except TypeError:  # not weak-referenceable: trace every time
        per_loss = {}
    traced = None if fresh else per_loss.get(shape)
    if traced is None or traced.stale():
        traced = trace_loss(loss, shape)
        per_loss[shape] = traced
    return traced


def value_and_grad(
    loss: Callable[..., Any],
    prob: ODEProblem,
    alg: str = "auto",
    *,
    saveat: Any,
    sensealg: str = "auto",
    backend: str | None = None,
    **solver_options: Any,
) -> tuple[float, Gradients]:
    """The value of ``loss(sol.u)`` and its gradient with respect to ``prob.u0`` and ``prob.p``.

    ``loss(u)`` is NumPy-style code of the saved states ``u`` (shape ``(len(saveat), n)``)
    returning a scalar. It is traced like a right-hand side (once per function and shape;
    the same NumPy functions work, and branching on ``u`` raises ``TraceError``), its exact
    gradient dL/du is generated, and that cotangent goes through the solve's pullback.

    The value is the user's own ``loss`` evaluated on ``sol.u``; when the traced loss
    disagrees with it (say a closed-over array changed since the trace), the loss is traced
    again, so a changed closure is not served stale (a change that leaves the value as it was
    but changes the gradient would go unnoticed: pass data that changes as a fresh function).
    Terms that depend on ``p`` directly (regularisation) are not seen: add their gradient
    yourself.

    Parameters
    ----------
    loss : callable
        ``loss(u) -> float``.
    prob, alg, sensealg, backend, **solver_options
        As in ``bridge.vjp`` (``reltol``, ``abstol``, ``maxiters``).
    saveat : float or array_like
        Required: the times at which ``u`` is saved (a step or explicit times).

    Returns
    -------
    (float, Gradients)
        ``Gradients.u0`` and ``.p`` (flat; ``.p_dict`` for named parameters).

    Example
    -------
    >>> import numpy as np, bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> value, g = bridge.value_and_grad(lambda u: np.sum(u[-1] ** 2), prob, saveat=[1.0],
    ...                                  reltol=1e-10, abstol=1e-10, backend="reference")
    >>> round(value, 6), np.round(g.p, 6)   # e^{-2p} and -2 e^{-2p} at p = 1
    (0.135335, array([-0.270671]))
    """
    from ._api import vjp
    from ._odeint import check_solver_options

    if not callable(loss):
        raise BridgeTypeError(
            f"loss must be a callable loss(u) returning a scalar, got {type(loss).__name__}"
        )
    check_solver_options(solver_options, "value_and_grad")
    sol, pullback = vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, backend=backend, **solver_options
    )
    u = np.asarray(sol.u)
    shape = (int(u.shape[0]), int(u.shape[1]))
    value, dl_du = _traced_loss(loss, shape, fresh=False)(u)
    expected = float(loss(u.copy()))  # a copy: the user's code must not be able to edit sol.u
    if not _same(value, expected):  # e.g. a closed-over array changed: trace afresh
        value, dl_du = _traced_loss(loss, shape, fresh=True)(u)
    return expected, pullback(dl_du)


def _same(a: float, b: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300) + 1e-300


__all__ = ["value_and_grad"]
