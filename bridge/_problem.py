"""ODEProblem and JuliaFunction: what the user builds, validated before anything runs."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._errors import BridgeAttributeError, BridgeTypeError, BridgeValueError
from ._model import FloatArray, Model, OpaqueModel, ParamSpec, function_label
from ._validate import as_float_vector, as_tspan


class JuliaFunction:
    """A right-hand side written in Julia: the Julia backend only.

    ``source`` is Julia code that evaluates to an in-place function ``f!(du, u, p, t)``,
    e.g. an anonymous function ``"(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)"`` or a
    block whose last expression is a function.

    Example
    -------
    >>> f = JuliaFunction("(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)")
    >>> f.source.startswith("(du")
    True
    """

    def __init__(self, source: str, *, name: str = "julia_rhs") -> None:
        if not isinstance(source, str) or not source.strip():
            raise BridgeTypeError(
                f"JuliaFunction source must be a non-empty string of Julia code, got {source!r}"
            )
        self.source = source
        self.name = name

    def __repr__(self) -> str:
        return f"JuliaFunction({self.source!r})"


def _import_tracer() -> Callable[..., Model]:
    """Import ``bridge._trace`` (and with it SymPy), holding Ctrl-C back until it is done.

    The first trace of a session imports SymPy, which takes seconds. A KeyboardInterrupt in
    the middle of that import leaves SymPy half-initialised for the rest of the process
    (every later trace fails with nonsense such as "p_0*u_1 (a condition), not a number"),
    or is swallowed by a bare ``except:`` inside mpmath. So on the main thread, with
    Python's default SIGINT handler, the interrupt is recorded and raised after the import.
    """
    if "bridge._trace" in sys.modules or threading.current_thread() is not threading.main_thread():
        from ._trace import trace_model

        return trace_model
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        from ._trace import trace_model

        return trace_model
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        from ._trace import trace_model
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
    return trace_model


def _flatten_params(p: Any) -> tuple[FloatArray, ParamSpec]:
    if p is None:
        return np.zeros(0), None
    if isinstance(p, Mapping):
        if not p:
            return np.zeros(0), {}
        parts: list[FloatArray] = []
        spec: dict[str, tuple[int, ...]] = {}
        for key, value in p.items():
            if not isinstance(key, str):
                raise BridgeTypeError(f"p: parameter names must be strings, got {key!r}")
            arr = as_float_vector(value, f"p[{key!r}]", allow_nd=True)
            spec[key] = tuple(int(s) for s in np.shape(value))
            parts.append(arr.ravel())
        return np.ascontiguousarray(np.concatenate(parts)), spec
    return as_float_vector(p, "p", allow_empty=True), None


def _owned(arr: FloatArray) -> FloatArray:
    """The problem's own read-only copy of a small input (copying ~100 floats costs ~1 µs)."""
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    out.setflags(write=False)
    return out


def _read_only(name: str) -> property:
    """A read-only attribute whose setter says how to change it."""

    def get(self: ODEProblem) -> Any:
        return self.__dict__["_" + name]

    def refuse(self: ODEProblem, value: Any) -> None:
        raise BridgeAttributeError(
            f"ODEProblem.{name} cannot be assigned (got {name}={value!r}): a problem owns "
            f"its inputs and its traced model; make a changed copy with "
            f"prob.remake({name}=...), which shares the traced model"
        )

    return property(get, refuse, doc=f"The problem's {name} (read-only; see ``remake``).")


class ODEProblem:
    """An initial value problem ``du/dt = f(u, p, t)``, ``u(tspan[0]) = u0``.

    Parameters
    ----------
    f : callable or JuliaFunction
        ``f(u, p, t)`` returning du/dt (a list, tuple or array of length ``len(u0)``),
        written with NumPy functions. It is traced once into a symbolic model unless
        ``trace=False``. A ``JuliaFunction`` is run by the Julia backend only.
    u0 : array_like, shape (n,)
        Initial state. Integer input is cast to float64; complex input is refused.
    tspan : (float, float)
        Start and end time; the end may be before the start (reverse time).
    p : array_like or dict of array_like, optional
        Parameters: a flat vector, or named arrays (flattened into one vector in order).
    trace : bool
        ``False`` calls ``f`` as an opaque function: slower, and no gradients.
    name : str, optional
        A name for messages and generated code (defaults to ``f.__name__``).

    Notes
    -----
    The problem owns copies of its small inputs: ``u0``, ``p`` and ``tspan`` are copied when
    the problem is built (as are ``saveat`` and the tolerances when a solve starts), stored
    as read-only float64 arrays, and cannot be reassigned (use ``remake``). So editing the
    arrays you passed in, or ``sol.t`` / ``sol.u`` after ``bridge.vjp``, never changes what
    a later solve or an earlier pullback computes: a pullback owns what it needs. What is
    not copied: solutions and cotangents (``sol.u`` may be a view of engine memory, and a
    float64 C-contiguous cotangent crosses into the pullback as is).

    Example
    -------
    >>> prob = ODEProblem(lambda u, p, t: -p[0] * u, u0=[1.0], tspan=(0.0, 1.0), p=[0.5])
    >>> prob.n_states, prob.n_params
    (1, 1)
    """

    def __init__(
        self,
        f: Callable[..., Any] | JuliaFunction,
        u0: Any,
        tspan: Any,
        p: Any = None,
        *,
        trace: bool = True,
        name: str | None = None,
    ) -> None:
        if not (callable(f) or isinstance(f, JuliaFunction)):
            raise BridgeTypeError(
                f"f must be a callable f(u, p, t) or a bridge.JuliaFunction, got {type(f).__name__}"
            )
        if not isinstance(trace, bool):
            raise BridgeTypeError(f"trace must be True or False, got {trace!r}")
        self._f = f
        self._u0 = _owned(as_float_vector(u0, "u0"))
        self._tspan = as_tspan(tspan)
        flat, self.param_spec = _flatten_params(p)
        self._p = _owned(flat)
        self._trace = trace
        self.name = function_label(f, name or getattr(f, "name", None), "rhs")
        self._model: Model | None = None
        self._lock = threading.Lock()

    f = _read_only("f")
    u0 = _read_only("u0")
    p = _read_only("p")
    tspan = _read_only("tspan")
    trace = _read_only("trace")

    @property
    def n_states(self) -> int:
        return int(self.u0.shape[0])

    @property
    def n_params(self) -> int:
        return int(self.p.shape[0])

    @property
    def is_julia(self) -> bool:
        """True when the right-hand side is Julia source (Julia backend only)."""
        return isinstance(self.f, JuliaFunction)

    @property
    def model(self) -> Model:
        """The traced (or opaque) model, built on first use and cached."""
        if self.is_julia:
            raise BridgeValueError(
                f"problem {self.name!r} has a JuliaFunction right-hand side, which only "
                "the Julia backend can run; use backend='julia' or write f in Python"
            )
        with self._lock:
            stale = getattr(self._model, "stale", None)
            if self._model is None or (stale is not None and stale()):
                self._model = self._build_model()  # a value the trace froze has changed
            return self._model

    def _build_model(self) -> Model:
        assert not isinstance(self.f, JuliaFunction)
        if not self.trace:
            return OpaqueModel(self.f, self.n_states, self.n_params, self.param_spec, self.name)
        trace_model = _import_tracer()
        return trace_model(
            self.f,
            self.n_states,
            self.n_params,
            self.param_spec,
            name=self.name,
            check_at=(self.u0, self.p, self.tspan[0]),
        )

    def source(self, target: str = "julia") -> str:
        """The code bridge generated for this problem's right-hand side, for reading.

        ``target`` is ``"julia"`` (the module the Julia backend loads: ``f!``, ``jac!``,
        ``paramjac!``, ``vjp!``, ``vjp_p!``), ``"numpy"`` (the Python the reference backend
        runs) or ``"diffsl"`` (the model the diffsol engine compiles). Traces the function
        if it has not been traced yet. Useful to check what the trace saw: constants read
        from globals or closures appear as numbers.

        Example
        -------
        >>> prob = ODEProblem(lambda u, p, t: [-p[0] * u[0]], [1.0], (0.0, 1.0), [0.5])
        >>> print(prob.source("julia"))  # doctest: +ELLIPSIS
        module Rhs
        <BLANKLINE>
        const NSTATES = 1
        const NPARAMS = 1
        <BLANKLINE>
        function f!(du, u, p, t)
            du[1] = -p[1]*u[1]
            return nothing
        end
        ...
        """
        if not isinstance(target, str) or target not in ("julia", "numpy", "diffsl"):
            raise BridgeValueError(f"target must be 'julia', 'numpy' or 'diffsl', got {target!r}")
        if self.is_julia:
            assert isinstance(self.f, JuliaFunction)
            if target == "julia":
                return self.f.source
            raise BridgeValueError(
                f"problem {self.name!r} has a JuliaFunction right-hand side: its only source "
                "is the Julia you wrote (target='julia')"
            )
        if not self.trace:
            raise BridgeValueError(
                f"problem {self.name!r} was built with trace=False: bridge calls the function "
                "as it is and generates no code; build it with trace=True to see it"
            )
        model = self.model
        source = getattr(model, "source", None)
        if source is None:
            raise BridgeValueError(f"the model of problem {self.name!r} has no generated source")
        text: str = source(target)
        return text

    @classmethod
    def _with_model(cls, model: Model, tspan: tuple[float, float], name: str) -> ODEProblem:
        """A problem around a model built elsewhere (an ensemble worker's, compiled from the
        generated source): u0 and p are zero placeholders, replaced per member by ``remake``.
        """
        spec = getattr(model, "param_spec", None)
        p: Any = np.zeros(model.n_params)
        if spec is not None:
            p = {k: np.zeros(shape) for k, shape in spec.items()}
        prob = cls(model.f, np.zeros(model.n_states), tspan, p, name=name)
        prob._model = model
        return prob

    def remake(self, *, u0: Any = None, p: Any = None, tspan: Any = None) -> ODEProblem:
        """A copy with some of u0, p, tspan replaced; the traced model is shared.

        Example
        -------
        >>> prob = ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
        >>> prob.remake(u0=[2.0]).u0
        array([2.])
        """
        new = object.__new__(ODEProblem)
        new.__dict__.update(self.__dict__)
        new._lock = threading.Lock()
        if u0 is not None:
            new._u0 = _owned(as_float_vector(u0, "u0"))
            if new.u0.shape != self.u0.shape:
                raise BridgeValueError(
                    f"u0 has length {new.u0.shape[0]}, but the problem has "
                    f"{self.u0.shape[0]} states"
                )
        if p is not None:
            flat, spec = _flatten_params(p)
            if flat.shape != self.p.shape or spec != self.param_spec:
                raise BridgeValueError(
                    f"p has {flat.shape[0]} entries (layout {spec}), but the problem has "
                    f"{self.p.shape[0]} (layout {self.param_spec})"
                )
            new._p = _owned(flat)
        if tspan is not None:
            new._tspan = as_tspan(tspan)
        return new

    def __repr__(self) -> str:
        return (
            f"ODEProblem({self.name}, n_states={self.n_states}, n_params={self.n_params}, "
            f"tspan={self.tspan})"
        )
