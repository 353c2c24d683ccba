"""``ArrayModel``: the ``Model`` protocol for a right-hand side traced at the array level.

Everything is generated from the array program: ``f`` (the generated NumPy code, which
computes exactly what the derivatives differentiate), ``vjp_u``/``vjp_p`` (reverse mode,
one sweep), ``jvp_u`` (forward mode), and the dense Jacobians a stiff solver asks for,
``jac`` by columns of ``jvp_u`` and ``paramjac`` by rows of ``vjp_p`` (n sweeps; n is the
number of states, small for the models that take this path). ``julia_source`` prints the
same programs as Julia, ``source(target)`` returns the generated code for users.

The checks shared with the scalar path (``stale``, ``check_user_function``, ``f_user``)
are ``TracedModel``'s own methods, which only use what both models have.

Example
-------
>>> from bridge._trace.array.tracer import trace_arrays
>>> f = lambda u, p, t: p[:4].reshape(2, 2) @ np.tanh(u)
>>> m = ArrayModel(f, trace_arrays(f, 2, 4, None, "f"), None, "f")
>>> m.jac(np.zeros(2), np.arange(4.0), 0.0)
array([[0., 1.],
       [2., 3.]])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..._errors import BridgeValueError
from ..._model import FloatArray, ParamSpec, ParamUnflattener
from ..checks import UserFunction
from ..julia_codegen import module_name
from ..portable import PortableModel
from .julia_printer import julia_module
from .numpy_printer import compile_programs, numpy_source
from .program import build_programs
from .tracer import ArrayTrace

#: The module name used for ``ArrayModel.key`` (the hash must not depend on the caller's).
_KEY_MODULE = "BridgeModel"
#: The order of the functions in the generated code (Julia has all but the last).
_ORDER = ("f", "vjp", "vjp_p", "jvp")
_NUMPY_ONLY = ("vjp_up",)


class ArrayRuntime:
    """The Model protocol's numerics from an array model's compiled NumPy functions.

    ``ArrayModel`` is one (built from a trace); an ensemble worker builds another from the
    generated source alone (``bridge._trace.portable``), without the user's function.
    """

    has_derivatives = True
    #: ``f`` runs the generated code (what the derivatives differentiate).
    f_source = "generated"

    def __init__(
        self, compiled: dict[str, Callable[..., Any]], n_states: int, n_params: int
    ) -> None:
        self.n_states = n_states
        self.n_params = n_params
        self.f_generated = compiled["f"]
        self._vjp_u, self._vjp_p, self._jvp_u = compiled["vjp"], compiled["vjp_p"], compiled["jvp"]
        self._vjp_up = compiled["vjp_up"]
        #: A result computed ahead for the next call (see ``_keep``).
        self._pending: tuple[Any, ...] | None = None

    # -- the Model protocol -------------------------------------------------------------------
    def f(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """du/dt from the generated code, a fresh float64 array of shape (n,)."""
        return self.f_generated(u, p, t)

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """vᵀ ∂f/∂u. Computes vᵀ ∂f/∂p in the same sweep and keeps it for one ``vjp_p``
        call at the same point (what an adjoint asks next), which then costs nothing."""
        if not self.n_params:
            return self._vjp_u(v, u, p, t)
        out_u, out_p = self._vjp_up(v, u, p, t)
        self._keep("vjp_p", (v, u), p, t, out_p)
        return out_u

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """vᵀ ∂f/∂p (see ``vjp_u``)."""
        kept = self._take("vjp_p", (v, u), p, t)
        return kept if kept is not None else self._vjp_p(v, u, p, t)

    def jvp_u(self, w: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """(∂f/∂u) w, by forward mode."""
        return self._jvp_u(w, u, p, t)

    def jac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """∂f/∂u, dense (n, n), row by row of reverse sweeps that also give the rows of
        ∂f/∂p, kept for one ``paramjac`` call at the same point (forward sensitivities ask
        for both at every step). Julia's ``jac!`` takes columns of ``jvp!``."""
        n, m = self.n_states, self.n_params
        jac = np.empty((n, n))
        pjac = np.empty((n, m))
        e = np.zeros(n)
        for i in range(n):
            e[i] = 1.0
            if m:
                jac[i], pjac[i] = self._vjp_up(e, u, p, t)
            else:
                jac[i] = self._vjp_u(e, u, p, t)
            e[i] = 0.0
        if m:
            self._keep("paramjac", (u,), p, t, pjac)
        return jac

    def paramjac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """∂f/∂p, dense (n, m), row by row of ``vjp_p`` (see ``jac``)."""
        kept = self._take("paramjac", (u,), p, t)
        if kept is not None:
            return kept
        n = self.n_states
        out = np.empty((n, self.n_params))
        e = np.zeros(n)
        for i in range(n):
            e[i] = 1.0
            out[i] = self._vjp_p(e, u, p, t)
            e[i] = 0.0
        return out

    # One result computed ahead, for the next call only. ``p`` is compared by identity: the
    # kept tuple holds it, so its id cannot be reused by another array meanwhile.
    def _keep(
        self, what: str, arrays: tuple[FloatArray, ...], p: FloatArray, t: float, value: Any
    ) -> None:
        self._pending = (what, tuple(np.array(a, dtype=np.float64) for a in arrays), p, t, value)

    def _take(self, what: str, arrays: tuple[FloatArray, ...], p: FloatArray, t: float) -> Any:
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        kept_what, kept_arrays, kept_p, kept_t, value = pending
        if kept_what != what or kept_p is not p or kept_t != t:
            return None
        for old, new in zip(kept_arrays, arrays, strict=True):
            if old.shape != np.shape(new) or not (old == new).all():
                return None
        return value


class ArrayModel(ArrayRuntime, UserFunction):
    """A right-hand side traced into whole-array operations (see the module docstring)."""

    def __init__(
        self, func: Callable[..., Any], traced: ArrayTrace, param_spec: ParamSpec, name: str
    ) -> None:
        self._hold(func)
        self.trace = traced
        self.name = name
        self.param_spec = param_spec
        self._unflatten = ParamUnflattener(param_spec)
        #: Switches on u or p, with the user's lines (see bridge/_trace/switches.py).
        self.switches = traced.switches
        self.programs = build_programs(traced)
        ordered = [self.programs[k] for k in (*_ORDER, *_NUMPY_ONLY)]
        compiled = compile_programs(ordered, traced.graph.constants, f"<bridge {name}>")
        super().__init__(compiled, traced.u.shape[0], traced.p.shape[0])
        self._julia: dict[str, str] = {}
        self.key = hashlib.sha256(self.julia_source(_KEY_MODULE).encode()).hexdigest()
        #: The values the trace froze (set by trace_model; see bridge/_trace/frozen.py).
        self.frozen: Any = None

    def __repr__(self) -> str:
        return f"ArrayModel({self.name!r}, n_states={self.n_states}, n_params={self.n_params})"

    # -- generated code ---------------------------------------------------------------------
    def julia_source(self, module_name: str) -> str:
        """Julia source of ``module <module_name>`` (``f!``, ``jac!``, ``paramjac!``,
        ``vjp!``, ``vjp_p!``, ``jvp!``, ``NSTATES``, ``NPARAMS``)."""
        source = self._julia.get(module_name)
        if source is None:
            programs = [self.programs[k] for k in _ORDER]
            constants = self.trace.graph.constants
            source = julia_module(module_name, programs, constants, self.n_states, self.n_params)
            self._julia[module_name] = source
        return source

    def source(self, target: str = "julia") -> str:
        """The generated code for ``target``: ``"julia"`` or ``"numpy"`` (``"diffsl"`` raises
        TraceError: array models are not printed as DiffSL yet, see docs/array-tracing.md).

        Example
        -------
        >>> from bridge._trace.array.tracer import trace_arrays
        >>> f = lambda u, p, t: p[:4].reshape(2, 2) @ u
        >>> m = ArrayModel(f, trace_arrays(f, 2, 4, None, "f"), None, "f")
        >>> print(m.source("numpy").splitlines()[2])
            np.matmul(p.reshape(2, 2), u, out=du)
        """
        if target == "julia":
            return self.julia_source(module_name(self.name))
        if target == "numpy":
            return "\n\n\n".join(numpy_source(self.programs[k]) for k in _ORDER) + "\n"
        if target == "diffsl":
            from ..diffsl_codegen import diffsl_source

            return diffsl_source(self)  # refuses array models, saying why
        raise BridgeValueError(f"target must be 'julia', 'numpy' or 'diffsl', got {target!r}")

    def portable(self, generated: dict[str, str] | None = None) -> PortableModel:
        """The model as its key and generated NumPy source (what ensemble workers build)."""
        ordered = [self.programs[k] for k in (*_ORDER, *_NUMPY_ONLY)]
        source = "\n\n".join(numpy_source(p) for p in ordered)
        return PortableModel(
            "array",
            self.key,
            self.name,
            self.n_states,
            self.n_params,
            self.param_spec,
            (source, tuple(np.asarray(c) for c in self.trace.graph.constants)),
            dict(generated or {}),
        )


__all__ = ["ArrayModel", "ArrayRuntime"]
