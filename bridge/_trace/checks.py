"""What traced models check against the user's own function (both the scalar and the array one).

A traced model keeps a weak reference to the function it traced (the trace cache is keyed
weakly on it: a strong one would keep it alive forever; the problem holds it), the values
the trace froze (``frozen``), and compares itself with the function when it is built.
Subclasses provide ``name``, ``n_states``, ``f_generated`` and ``_unflatten``.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import TraceError
from .._model import FloatArray, rhs_output


class UserFunction:
    """The user's function behind a traced model, and the checks against it."""

    name: str
    n_states: int
    frozen: Any = None
    f_generated: Callable[..., FloatArray]
    _unflatten: Callable[[FloatArray], Any]

    def _hold(self, func: Callable[..., Any]) -> None:
        self._func: Callable[[], Any] = lambda: func
        if not isinstance(func, types.MethodType):  # a bound method is a new object per access
            try:
                self._func = weakref.ref(func)
            except TypeError:
                pass

    def stale(self) -> list[str]:
        """What changed since the trace among the values it froze (empty: up to date).

        Example
        -------
        >>> k = 1.0
        >>> def decay(u, p, t):
        ...     return [-k * u[0]]
        >>> from bridge._trace import trace_model
        >>> m = trace_model(decay, 1, 0)
        >>> k = 2.0
        >>> m.stale()
        ['global:k']
        >>> trace_model(decay, 1, 0) is m  # traced again
        False
        """
        func = self._func()
        if func is None or self.frozen is None:
            return []
        return self.frozen.changed(func)

    def check_user_function(self, u0: FloatArray, p: FloatArray, t0: float) -> None:
        """Refuse (TraceError) a trace that does not compute what the function computes.

        The user's function runs on float arrays and the trace on symbolic ones; code that
        tells them apart (a ``try/except`` that swallows the tracer's error, an
        ``isinstance(u, np.ndarray)`` branch, random numbers) gives a model whose solution
        or derivatives are not the function's. Compared at (u0, p, t0) and a nearby point.
        """
        if self._func() is None:
            return
        for u, q, t in _check_points(u0, p, t0):
            with np.errstate(all="ignore"):
                generated = self.f_generated(u, q, t)
                try:
                    own = self.f_user(u, q, t)
                except Exception as exc:  # any failure is another path than the trace's
                    raise self._mismatch(u, q, t, f"raises {type(exc).__name__}: {exc}") from exc
            scale = 1.0 + float(np.max(np.abs(np.nan_to_num(own)), initial=0.0))
            if not np.allclose(own, generated, rtol=1e-7, atol=1e-10 * scale, equal_nan=True):
                raise self._mismatch(u, q, t, f"returns {_short(own)}", _short(generated))

    def _mismatch(
        self, u: FloatArray, p: FloatArray, t: float, own: str, traced: str = ""
    ) -> TraceError:
        detail = f", the traced model {traced}" if traced else ""
        return TraceError(
            f"cannot trace right-hand side {self.name!r}: the traced model does not compute "
            f"what the function computes. At u={_short(u)}, p={_short(p)}, t={t:g} the "
            f"function {own}{detail}. It takes another path on float arrays than on "
            "bridge's traced arrays: look for a try/except that catches exceptions around "
            "NumPy calls (it swallows the tracer's error), an isinstance()/type() check "
            "on u, p or t, or values that change from call to call (random numbers, "
            "counters). Remove it, or build the problem with trace=False (no gradients)"
        )

    def f_user(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """du/dt from the user's own function, as a fresh float64 array of shape (n,)."""
        func = self._func()
        if func is None:  # the user's function is gone: the generated code is equivalent
            return self.f_generated(u, p, t)
        params = self._unflatten(p)
        return rhs_output(func(u, params, t), self.name, self.n_states, u)


def _check_points(
    u0: FloatArray, p: FloatArray, t0: float
) -> list[tuple[FloatArray, FloatArray, float]]:
    """(u0, p, t0) and a nearby point off any symmetry (a fixed, irregular pattern)."""

    def nudge(x: FloatArray) -> FloatArray:
        pattern = np.resize([0.31, -0.47, 0.53, -0.29, 0.61, -0.37, 0.43], x.shape)
        return np.asarray(x + 1e-2 * (1.0 + np.abs(x)) * pattern, dtype=np.float64)

    u0, p = np.asarray(u0, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return [(u0.copy(), p.copy(), float(t0)), (nudge(u0), nudge(p), float(t0) + 1e-2)]


def _short(x: Any) -> str:
    return np.array2string(np.asarray(x), precision=6, threshold=8, separator=", ")


__all__ = ["UserFunction"]
