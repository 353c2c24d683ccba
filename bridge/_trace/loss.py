"""``trace_loss``: a scalar loss of the saved states, traced like a right-hand side.

``value_and_grad`` needs dL/du for ``loss(sol.u)``. The loss is called once with a symbolic
array of the saved states' shape, through the same tracer as a right-hand side (the same
NumPy functions work, the user's own ``raise`` passes unchanged, other failures name the
line, and messages say "loss"), differentiated by the chain rule over the tape, and
compiled into one NumPy function returning ``[value, dL/du...]``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._errors import BridgeTypeError, BridgeValueError
from .._model import FloatArray, function_label
from .derivatives import input_gradients
from .frozen import Frozen, snapshot
from .numpy_codegen import compile_program
from .program import _program
from .symarray import SymArray, to_objects
from .tape import Tape
from .tracer import call_traced


class TracedLoss:
    """``loss(u)`` for one shape of u, traced: ``traced(u) -> (value, dL/du)``.

    Example
    -------
    >>> traced = trace_loss(lambda u: np.sum(u[-1] ** 2), (2, 1))
    >>> traced(np.array([[1.0], [3.0]]))
    (9.0, array([[0.],
           [6.]]))
    """

    def __init__(self, loss: Callable[..., Any], shape: tuple[int, int], name: str) -> None:
        nt, n = shape
        self.shape = shape
        self.name = name
        syms = tuple(sp.Symbol(f"u_{i}_{j}", real=True) for i in range(nt) for j in range(n))
        tape = Tape(name, kind="loss")
        tape.sizes = f"u has shape {shape} (saved times, states)"
        before = snapshot(loss)
        out = call_traced(loss, (SymArray.of_symbols(syms, tape, shape=shape, label="u"),), tape)
        data = to_objects(out, tape)
        if data.size != 1:
            raise BridgeValueError(
                f"loss must return a scalar, got an array of shape {data.shape}; "
                f"reduce it, e.g. with np.sum (loss {name!r})"
            )
        value = data.ravel()[0]
        if not isinstance(value, sp.Expr):
            raise BridgeValueError(f"loss must return a number, got the condition {value}")
        grad = input_gradients(tape.assignments, [value], syms)[0]
        index = {s: k for k, s in enumerate(syms)}
        entries: list[tuple[tuple[int, ...], Any]] = [((0,), value)]
        entries += [((1 + index[s],), d) for s, d in grad.items()]
        program = _program(
            "loss_grad", "out", ("u",), {"u": syms}, (1 + len(syms),), entries, False,
            tape.assignments,
        )  # fmt: skip
        self._fast, self._numpy = compile_program(program, f"<bridge loss {name}>")
        self.frozen = Frozen.of(loss, before)
        self._loss = loss

    def stale(self) -> list[str]:
        """What changed since the trace among the values it froze (see ``frozen.py``)."""
        return self.frozen.changed(self._loss)

    def __call__(self, u: FloatArray) -> tuple[float, FloatArray]:
        flat = np.asarray(u, dtype=np.float64).ravel()
        if flat.size != self.shape[0] * self.shape[1]:
            raise BridgeValueError(
                f"loss {self.name!r} was traced for u of shape {self.shape}, got {np.shape(u)}"
            )
        try:
            out = self._fast(flat.tolist())
        except (ArithmeticError, ValueError, TypeError):
            with np.errstate(all="ignore"):
                out = self._numpy(flat)
        return float(out[0]), np.ascontiguousarray(out[1:]).reshape(self.shape)


def trace_loss(
    loss: Callable[..., Any], shape: tuple[int, int], *, name: str | None = None
) -> TracedLoss:
    """Trace ``loss(u)``, a scalar function of the saved states ``u`` of shape ``shape``.

    Raises ``TraceError`` when the loss cannot be traced (the message names the line), and
    lets the loss's own ``raise`` through unchanged.

    Example
    -------
    >>> traced = trace_loss(lambda u: np.mean((u[:, 0] - 1.0) ** 2), (2, 2))
    >>> value, cotangent = traced(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> value, cotangent[:, 0].tolist(), cotangent[:, 1].tolist()
    (2.0, [0.0, 2.0], [0.0, 0.0])
    """
    if not callable(loss):
        raise BridgeTypeError(
            f"loss must be a callable loss(u) returning a scalar, got {type(loss).__name__}"
        )
    label = function_label(loss, name, "loss")
    nt, n = (int(s) for s in shape)
    return TracedLoss(loss, (nt, n), label)


_LOSSES: weakref.WeakKeyDictionary[Any, dict[tuple[int, int], TracedLoss]] = (
    weakref.WeakKeyDictionary()
)
_LOSSES_LOCK = threading.Lock()


def cached_trace_loss(
    loss: Callable[..., Any], shape: tuple[int, int], *, fresh: bool = False
) -> TracedLoss:
    """``trace_loss``, cached per loss and shape; traced again when ``fresh`` or when a value
    the trace froze has changed (as ``trace_model`` does for right-hand sides).

    Example
    -------
    >>> def loss(u):
    ...     return np.sum(u**2)
    >>> cached_trace_loss(loss, (1, 1)) is cached_trace_loss(loss, (1, 1))
    True
    """
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


__all__ = ["TracedLoss", "cached_trace_loss", "trace_loss"]
