"""``TracedModel`` (the ``Model`` protocol for a traced function) and ``trace_model``.

How ``f`` is evaluated on floats, chosen per model from what the trace saw (the costs are
measured by bench/bench_trace.py):

* **scalar-style** functions (unpack ``x, y = u``, scalar arithmetic, return a list; no
  NumPy call on an array) run the **generated** code: Python-float arithmetic is several
  times cheaper than the NumPy-scalar arithmetic the user's function does on float arrays,
  so the generated f is at least as fast (Lotka–Volterra, Robertson, Lorenz, ...);
* **array-style** functions (``W @ u``, ``np.tanh`` of a vector, slices, ``u.sum()``) run
  the **user's own function**, which is already vectorised, wrapped to return a float64
  array of the right shape. Scalar-unrolled code would be many times slower there (a 2→50→2
  MLP: 100 scalar ``tanh`` calls against one ``np.tanh``); models with enough matrix work
  are traced at the array level instead (``bridge._trace.array``).

The choice is deterministic (it depends on the code, not on timing). Both versions are kept
(``f_user``, ``f_generated``) and the tests check they agree (to rounding: SymPy may
reorder a sum). The derivatives (``jac``,
``paramjac``, ``vjp_u``, ``vjp_p``) have no user-written counterpart and are always generated.
"""

from __future__ import annotations

import hashlib
import threading
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._errors import BridgeTypeError, BridgeValueError
from .._model import FloatArray, ParamSpec, ParamUnflattener, function_label
from .array import array_model
from .checks import UserFunction
from .frozen import Frozen, snapshot
from .julia_codegen import julia_module, module_name
from .numpy_codegen import NumpyFunction, numpy_module_source
from .program import Program, build_programs
from .tracer import Trace, trace

#: The module name used for ``TracedModel.key`` (the hash must not depend on the caller's).
_KEY_MODULE = "BridgeModel"


class TracedModel(UserFunction):
    """A right-hand side traced into SymPy, with exact derivatives and generated code.

    Implements the ``bridge._model.Model`` protocol, plus ``julia_source(module_name)`` and a
    stable ``key`` (sha256 of the generated Julia source).

    Example
    -------
    >>> m = trace_model(lambda u, p, t: [-p[0] * u[0]], 1, 1, None, name="decay")
    >>> m.jac(np.array([2.0]), np.array([0.5]), 0.0)
    array([[-0.5]])
    >>> m.vjp_p(np.array([1.0]), np.array([2.0]), np.array([0.5]), 0.0)
    array([-2.])
    """

    has_derivatives = True

    def __init__(
        self, func: Callable[..., Any], traced: Trace, param_spec: ParamSpec, name: str
    ) -> None:
        self._hold(func)
        self.trace = traced
        self.name = name
        #: Switches on u or p, with the user's lines (see bridge/_trace/switches.py).
        self.switches = traced.switches
        self.n_states = len(traced.u)
        self.n_params = len(traced.p)
        self.param_spec = param_spec
        self._unflatten = ParamUnflattener(param_spec)
        self.programs: dict[str, Program] = {p.name: p for p in build_programs(traced)}
        self._julia: dict[str, str] = {}  # module name -> source
        compiled = {k: NumpyFunction(p, name) for k, p in self.programs.items()}
        self.f_generated = compiled["f"]
        self._jac = compiled["jac"]
        self._paramjac = compiled["paramjac"]
        self._vjp_u = compiled["vjp"]
        self._vjp_p = compiled["vjp_p"]
        self.key = hashlib.sha256(self.julia_source(_KEY_MODULE).encode()).hexdigest()
        #: The values the trace froze (set by trace_model; see frozen.py).
        self.frozen: Frozen | None = None
        #: Which code ``f`` runs: "generated" or "user" (see the module docstring).
        self.f_source = "generated" if traced.scalar_style else "user"
        if traced.scalar_style:
            self.f = self.f_generated  # type: ignore[method-assign,assignment]

    def __repr__(self) -> str:
        return f"TracedModel({self.name!r}, n_states={self.n_states}, n_params={self.n_params})"

    def portable(self, generated: dict[str, str] | None = None) -> Any:
        """The model as its key and generated NumPy source (``bridge._trace.portable``),
        with other targets' ``generated`` text carried along, for ensemble workers."""
        from .portable import scalar_portable

        return scalar_portable(self, generated)

    def julia_source(self, module_name: str) -> str:
        """Julia source of ``module <module_name>`` with ``f!``, ``jac!``, ``paramjac!``,
        ``vjp!``, ``vjp_p!`` and the constants ``NSTATES``, ``NPARAMS``.

        Example
        -------
        >>> m = trace_model(lambda u, p, t: [-p[0] * u[0]], 1, 1, None)
        >>> "du[1] = -p[1]*u[1]" in m.julia_source("Decay")
        True
        """
        source = self._julia.get(module_name)
        if source is None:
            programs = list(self.programs.values())
            source = julia_module(module_name, programs, self.n_states, self.n_params)
            self._julia[module_name] = source
        return source

    def source(self, target: str = "julia") -> str:
        """The generated code for ``target``: ``"julia"`` (the module the Julia backend
        loads), ``"numpy"`` (the Python the reference backend runs) or ``"diffsl"`` (what the
        diffsol engine compiles). For reading and debugging; the text depends on the model
        alone.

        Example
        -------
        >>> m = trace_model(lambda u, p, t: [-p[0] * u[0]], 1, 1, None, name="decay")
        >>> print(m.source("julia").splitlines()[5:8])
        ['function f!(du, u, p, t)', '    du[1] = -p[1]*u[1]', '    return nothing']
        >>> m.source("c")
        Traceback (most recent call last):
        ...
        bridge._errors.BridgeValueError: target must be 'julia', 'numpy' or 'diffsl', got 'c'
        """
        if target == "julia":
            return self.julia_source(module_name(self.name))
        if target == "numpy":
            return numpy_module_source(list(self.programs.values()), self.name)
        if target == "diffsl":
            from .diffsl_codegen import diffsl_source  # imported only when asked for

            return diffsl_source(self)
        raise BridgeValueError(f"target must be 'julia', 'numpy' or 'diffsl', got {target!r}")

    def f(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        """du/dt (see the module docstring for which code computes it)."""
        return self.f_user(u, p, t)

    def jac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        return self._jac(u, p, t)

    def paramjac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        return self._paramjac(u, p, t)

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        return self._vjp_u(v, u, p, t)

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        return self._vjp_p(v, u, p, t)


# -- the cache --------------------------------------------------------------------------------
# Keyed weakly on the function object (a model must not keep a user's closure alive), then
# on its code object (reassigning __code__ invalidates), sizes, parameter layout and name.
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], TracedModel]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.RLock()  # re-entrant: a traced function may build another model


def _spec_key(spec: ParamSpec) -> Any:
    if spec is None:
        return None
    return tuple((k, tuple(int(s) for s in v)) for k, v in spec.items())


def trace_model(
    f: Callable[..., Any],
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None = None,
    *,
    name: str | None = None,
    check_at: tuple[Any, Any, float] | None = None,
) -> TracedModel:
    """Trace ``f(u, p, t)`` into a ``TracedModel`` (cached per function, sizes and layout).

    ``param_spec`` is None for a flat parameter vector, or an ordered mapping name -> shape;
    then ``f`` receives ``p`` as a dict of arrays with those shapes. ``check_at=(u0, p, t0)``
    compares a new trace with ``f`` itself there (``TracedModel.check_user_function``).
    A cached model is traced again when a value it froze has changed (``TracedModel.stale``).

    Raises ``TraceError`` if ``f`` cannot be traced (the message names the line and the fix).

    Example
    -------
    >>> def lotka_volterra(u, p, t):
    ...     x, y = u
    ...     a, b, c, d = p
    ...     return [a * x - b * x * y, -c * y + d * x * y]
    >>> m = trace_model(lotka_volterra, 2, 4)
    >>> m.jac(np.array([1.0, 2.0]), np.array([1.5, 1.0, 3.0, 1.0]), 0.0)
    array([[-0.5, -1. ],
           [ 2. , -2. ]])
    >>> trace_model(lotka_volterra, 2, 4) is m
    True
    """
    if not callable(f):
        raise BridgeTypeError(f"f must be callable, got {type(f).__name__}")
    for label, value in (("n_states", n_states), ("n_params", n_params)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise BridgeValueError(f"{label} must be a non-negative int, got {value!r}")
    if n_states == 0:
        raise BridgeValueError("n_states must be at least 1")
    if param_spec is not None:
        total = sum(int(np.prod(s, dtype=np.int64)) for s in param_spec.values())
        if total != n_params:
            raise BridgeValueError(
                f"param_spec {dict(param_spec)} has {total} entries, but n_params={n_params}"
            )
    label = function_label(f, name, "rhs")
    code = getattr(f, "__code__", None) if isinstance(f, types.FunctionType) else None
    key = (code, int(n_states), int(n_params), _spec_key(param_spec), label)
    with _LOCK:
        per_function: dict[tuple[Any, ...], TracedModel] = {}
        if not isinstance(f, types.MethodType):  # a bound method is a new object per access
            try:
                per_function = _CACHE.setdefault(f, {})
            except TypeError:  # not weak-referenceable or unhashable: trace without caching
                pass
        model = per_function.get(key)
        if model is None or model.stale():
            before = snapshot(f)
            # Array-style models keep whole-array operations (bridge/_trace/array/).
            model = array_model(  # type: ignore[assignment]
                f, int(n_states), int(n_params), param_spec, label
            )
            if model is None:
                traced = trace(f, int(n_states), int(n_params), param_spec, label)
                model = TracedModel(f, traced, param_spec, label)
            if check_at is not None:
                model.check_user_function(*check_at)
            model.frozen = Frozen.of(f, before)
            per_function[key] = model
        return model
