"""Events traced like right-hand sides: a condition g(u, p, t), an affect h(u, p, t), and
their exact derivatives, as NumPy callables (and, through ``events_codegen.py``, as Julia and
DiffSL source).

``trace_event`` calls ``condition(u, p, t)`` and ``affect(u, p, t)`` once each with the
tracer's symbolic arrays (``symarray.SymArray``: NumPy code, named parameters and ``t`` work
as in a right-hand side), on one tape, and ``event_programs`` builds eight straight-line
programs from the trace, all with arguments ``(u, p, t)``:

==================== ======= ==========================================================
program              shape   value
==================== ======= ==========================================================
``condition``        (1,)    g, the quantity whose zero crossing is the event
``condition_grad_u`` (n,)    ∂g/∂u
``condition_grad_p`` (m,)    ∂g/∂p
``condition_grad_t`` (1,)    ∂g/∂t
``affect``           (n,)    h, the state after the event (only with an affect)
``affect_jac_u``     (n, n)  ∂h/∂u (sparse: zero-filled, then the non-zero entries)
``affect_jac_p``     (n, m)  ∂h/∂p (sparse)
``affect_grad_t``    (n,)    ∂h/∂t
==================== ======= ==========================================================

These are what the saltation (jump) conditions of the gradients need (docs/events.md).

``switch_events(model)`` turns the jumping switches of a scalar-traced right-hand side
(``np.where``/``np.sign`` whose condition depends on u or p, see ``switches.py``) into
events on their switching surfaces, sharing the model's tape: ``x > 0.5`` becomes the
condition ``x - 0.5``, with no affect (the state is continuous there; the right-hand side
is not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .._model import FloatArray, function_label
from .derivatives import input_gradients
from .frozen import Frozen, snapshot
from .numpy_codegen import NumpyFunction
from .program import Program, _program
from .symarray import SymArray, to_objects
from .tape import Switch, Tape
from .tracer import _param_argument, _symbols, call_traced, check_signature

#: The programs of one event, in the order the code generators print them.
PROGRAMS = (
    "condition",
    "condition_grad_u",
    "condition_grad_p",
    "condition_grad_t",
    "affect",
    "affect_jac_u",
    "affect_jac_p",
    "affect_grad_t",
)


@dataclass(frozen=True)
class EventTrace:
    """What tracing an event produced: inputs, the shared tape, g and (maybe) h."""

    name: str
    u: tuple[sp.Symbol, ...]
    p: tuple[sp.Symbol, ...]
    t: sp.Symbol
    assignments: tuple[tuple[sp.Symbol, sp.Expr], ...]
    condition: sp.Expr
    #: The new state, or None for an event without an affect.
    affect: tuple[sp.Expr, ...] | None


def _scalar_output(out: Any, tape: Tape) -> sp.Expr:
    if out is None:
        raise tape.error(
            "it returned None",
            "Return a number that crosses zero at the event, e.g. u[0] - 0.5",
            locate=False,
        )
    data = to_objects(out, tape)
    if data.size != 1:
        raise tape.error(
            f"it returned an array of shape {data.shape}, but an event condition returns one "
            "number (the event happens where it crosses zero)",
            "For several conditions, make one bridge.Event per condition",
            locate=False,
        )
    value = data.ravel()[0]
    if not isinstance(value, sp.Expr):  # a comparison is a Boolean, not an Expr
        raise tape.error(
            f"it returned the comparison {value}, not a number",
            "Return the quantity that crosses zero at the event: u[0] - 0.5 rather than "
            "u[0] > 0.5 (direction=+1 keeps only upward crossings)",
            locate=False,
        )
    return value


def _state_output(out: Any, n_states: int, tape: Tape) -> tuple[sp.Expr, ...]:
    if out is None:
        raise tape.error(
            "it returned None",
            f"Return the state after the event (a list or array of {n_states} numbers), e.g. "
            "[u[0], -0.9 * u[1]]; bridge does not use in-place affect!(integrator) functions",
            locate=False,
        )
    data = to_objects(out, tape)
    if data.ndim != 1 or data.shape[0] != n_states:
        raise tape.error(
            f"it returned an array of shape {data.shape}, but u0 has {n_states} states: the "
            f"affect returns the whole new state, shape ({n_states},)",
            locate=False,
        )
    exprs = []
    for i, e in enumerate(data):
        if not isinstance(e, sp.Expr):
            raise tape.error(f"entry {i} of the new state is {e} (a condition), not a number")
        exprs.append(e)
    return tuple(exprs)


def trace_event(
    condition: Callable[..., Any],
    affect: Callable[..., Any] | None,
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None = None,
    name: str = "event",
) -> EventTrace:
    """Trace ``condition(u, p, t)`` (and ``affect(u, p, t)``) into an ``EventTrace``.

    Raises ``TraceError`` naming the function, the user's line and the fix; the user's own
    ``raise`` passes unchanged.

    Example
    -------
    >>> tr = trace_event(lambda u, p, t: u[0], lambda u, p, t: [u[0], -p[0] * u[1]], 2, 1)
    >>> tr.condition, tr.affect
    (u_0, (u_0, -p_0*u_1))
    """
    u_syms, p_syms = _symbols("u", n_states), _symbols("p", n_params)
    t_sym = sp.Symbol("t", real=True)
    tape = Tape(name, kind="event condition")
    sizes = f"u0 has {n_states} state{'s' if n_states != 1 else ''}"
    tape.sizes = sizes + (
        f" and p has the names {list(param_spec)}"
        if param_spec is not None
        else f" and p has {n_params} entr{'ies' if n_params != 1 else 'y'}"
    )

    def args() -> tuple[Any, ...]:
        u = SymArray.of_symbols(u_syms, tape, label="u")
        p = _param_argument(p_syms, param_spec, tape)
        return u, p, SymArray(np.array(t_sym, dtype=object), tape)

    check_signature(condition, name, kind="event condition", call="condition")
    g = _scalar_output(call_traced(condition, args(), tape), tape)
    h = None
    if affect is not None:
        tape.kind, tape.func_name = "event affect", function_label(affect, None, f"{name}.affect")
        check_signature(affect, tape.func_name, kind="event affect", call="affect")
        h = _state_output(call_traced(affect, args(), tape), n_states, tape)
    return EventTrace(name, u_syms, p_syms, t_sym, tuple(tape.assignments), g, h)


def _dense(grad: Mapping[sp.Symbol, sp.Expr], syms: Sequence[sp.Symbol]) -> list[Any]:
    return [((k,), grad.get(s, sp.S.Zero)) for k, s in enumerate(syms)]


def event_programs(
    u: tuple[sp.Symbol, ...],
    p: tuple[sp.Symbol, ...],
    t: sp.Symbol,
    tape: Sequence[tuple[sp.Symbol, sp.Expr]],
    condition: sp.Expr,
    affect: tuple[sp.Expr, ...] | None,
) -> dict[str, Program]:
    """The programs of one event (see the module docstring); the affect ones only with h.

    Example
    -------
    >>> tr = trace_event(lambda u, p, t: u[0] - p[0] * t, None, 1, 1)
    >>> progs = event_programs(tr.u, tr.p, tr.t, tr.assignments, tr.condition, None)
    >>> sorted(progs), [e for _, e in progs["condition_grad_p"].entries]
    (['condition', 'condition_grad_p', 'condition_grad_t', 'condition_grad_u'], [-t])
    """
    n, m = len(u), len(p)
    inputs = {"u": u, "p": p}
    uargs = ("u", "p", "t")
    outputs = [condition, *(affect or ())]
    grads = input_gradients(tape, outputs, (*u, *p, t))
    g_grad = grads[0]

    def prog(
        name: str, out: str, shape: tuple[int, ...], entries: list[Any], dense: bool
    ) -> Program:
        return _program(name, out, uargs, inputs, shape, entries, dense, tape)

    programs = {
        "condition": prog("condition", "g", (1,), [((0,), condition)], True),
        "condition_grad_u": prog("condition_grad_u", "out", (n,), _dense(g_grad, u), True),
        "condition_grad_p": prog("condition_grad_p", "out", (m,), _dense(g_grad, p), True),
        "condition_grad_t": prog("condition_grad_t", "out", (1,), _dense(g_grad, (t,)), True),
    }
    if affect is not None:
        h_grads = grads[1:]
        jac_u = [
            ((i, k), d)
            for i, g in enumerate(h_grads)
            for k, s in enumerate(u)
            if (d := g.get(s)) is not None
        ]
        jac_p = [
            ((i, k), d)
            for i, g in enumerate(h_grads)
            for k, s in enumerate(p)
            if (d := g.get(s)) is not None
        ]
        grad_t = [((i,), g.get(t, sp.S.Zero)) for i, g in enumerate(h_grads)]
        programs["affect"] = prog(
            "affect", "unew", (n,), [((i,), e) for i, e in enumerate(affect)], True
        )
        programs["affect_jac_u"] = prog("affect_jac_u", "J", (n, n), jac_u, False)
        programs["affect_jac_p"] = prog("affect_jac_p", "pJ", (n, m), jac_p, False)
        programs["affect_grad_t"] = prog("affect_grad_t", "out", (n,), grad_t, True)
    return programs


class TracedEvent:
    """One event with its generated code: what every engine runs (see the module docstring).

    ``kind`` is ``"event"`` for a ``bridge.Event`` and ``"switch"`` for a switching surface
    of the right-hand side (then ``location`` names the user's line). All callables take
    float64 arrays ``u`` (n,), ``p`` (m,) and a float ``t``.

    Example
    -------
    >>> ev = traced_event(lambda u, p, t: u[0] - 0.5, None, 1, 0, None, name="half")
    >>> ev.g(np.array([2.0]), np.zeros(0), 0.0), ev.g_u(np.array([2.0]), np.zeros(0), 0.0)
    (1.5, array([1.]))
    """

    def __init__(
        self,
        name: str,
        programs: Mapping[str, Program],
        n_states: int,
        n_params: int,
        *,
        direction: int = 0,
        terminal: bool = False,
        kind: str = "event",
        location: str = "",
    ) -> None:
        self.name = name
        self.programs = dict(programs)
        self.n_states, self.n_params = n_states, n_params
        self.direction, self.terminal = direction, terminal
        self.kind, self.location = kind, location
        fns = {k: NumpyFunction(prog, f"{name}.{k}") for k, prog in self.programs.items()}
        self._fns = fns
        self.has_affect = "affect" in fns
        #: What the trace froze (see frozen.py), per traced function; empty for switches.
        self.frozen: list[tuple[Callable[..., Any], Frozen]] = []

    def __repr__(self) -> str:
        extra = f", affect, terminal={self.terminal}" if self.has_affect else ""
        return f"TracedEvent({self.name!r}, kind={self.kind!r}, direction={self.direction}{extra})"

    def describe(self) -> str:
        """How messages name the event."""
        if self.kind == "switch":
            return f"the switch {self.name}" + (f" at {self.location}" if self.location else "")
        return f"event {self.name!r}"

    # -- the condition ------------------------------------------------------------------
    def g(self, u: FloatArray, p: FloatArray, t: float) -> float:
        return float(self._fns["condition"](u, p, t)[0])

    def g_u(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._fns["condition_grad_u"](u, p, t)
        return out

    def g_p(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._fns["condition_grad_p"](u, p, t)
        return out

    def g_t(self, u: FloatArray, p: FloatArray, t: float) -> float:
        return float(self._fns["condition_grad_t"](u, p, t)[0])

    # -- the affect (identity without one) ------------------------------------------------
    def h(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        if not self.has_affect:
            return np.array(u, dtype=np.float64)
        out: FloatArray = self._fns["affect"](u, p, t)
        return out

    def h_u(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        if not self.has_affect:
            return np.eye(self.n_states)
        out: FloatArray = self._fns["affect_jac_u"](u, p, t)
        return out

    def h_p(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        if not self.has_affect:
            return np.zeros((self.n_states, self.n_params))
        out: FloatArray = self._fns["affect_jac_p"](u, p, t)
        return out

    def h_t(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        if not self.has_affect:
            return np.zeros(self.n_states)
        out: FloatArray = self._fns["affect_grad_t"](u, p, t)
        return out

    def stale(self) -> list[str]:
        """What changed since the trace among the values it froze (empty: up to date)."""
        return [path for func, frozen in self.frozen for path in frozen.changed(func)]


def traced_event(
    condition: Callable[..., Any],
    affect: Callable[..., Any] | None,
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None = None,
    *,
    name: str | None = None,
    direction: int = 0,
    terminal: bool = False,
) -> TracedEvent:
    """Trace an event and generate its code (``bridge.Event`` caches the result).

    Example
    -------
    >>> ev = traced_event(lambda u, p, t: u[0], lambda u, p, t: [-p[0] * u[0]], 1, 1)
    >>> ev.h_p(np.array([2.0]), np.array([0.5]), 0.0)
    array([[-2.]])
    """
    label = function_label(condition, name, "event")
    funcs = [f for f in (condition, affect) if f is not None]
    before = [snapshot(f) for f in funcs]
    tr = trace_event(condition, affect, n_states, n_params, param_spec, label)
    programs = event_programs(tr.u, tr.p, tr.t, tr.assignments, tr.condition, tr.affect)
    event = TracedEvent(label, programs, n_states, n_params, direction=direction, terminal=terminal)
    event.frozen = [(f, Frozen.of(f, b)) for f, b in zip(funcs, before, strict=True)]
    return event


# -- switching surfaces of a right-hand side -------------------------------------------------
def _surfaces(cond: sp.Basic) -> list[sp.Expr]:
    """The expressions whose sign decides ``cond`` (a comparison, a combination, a value)."""
    if isinstance(cond, (sp.Gt, sp.Ge, sp.Lt, sp.Le)):
        return [cond.lhs - cond.rhs]
    if isinstance(cond, (sp.Eq, sp.Ne)):
        return []  # true at isolated instants only: the solution does not see it
    if isinstance(cond, (sp.And, sp.Or, sp.Not)):
        return [s for arg in cond.args for s in _surfaces(arg)]
    if isinstance(cond, sp.Expr):
        return [cond]  # np.sign(x): the sign of x decides
    return []


def _depends(
    assignments: Sequence[tuple[sp.Symbol, sp.Expr]], inputs: set[sp.Basic]
) -> set[sp.Basic]:
    depends = set(inputs)
    for sym, expr in assignments:
        if not depends.isdisjoint(expr.free_symbols):
            depends.add(sym)
    return depends


def switch_events(model: Any) -> tuple[TracedEvent, ...] | None:
    """The jumping switches of a traced right-hand side as events on their surfaces.

    Returns None when the model cannot say where its switches are (array-traced models
    record a switch without its condition), and () when it has no jumping switch on u or p.

    Example
    -------
    >>> from bridge._trace import trace_model
    >>> m = trace_model(lambda u, p, t: [np.where(u[0] > 0.5, -u[0], 0.0)], 1, 0, name="s")
    >>> [ev.programs["condition"].entries[0][1] for ev in switch_events(m)]
    [u_0 - 0.5]
    """
    jumps: list[Switch] = [s for s in getattr(model, "switches", ()) if s.jumps]
    if not jumps:
        return ()
    trace = getattr(model, "trace", None)
    if trace is None or not hasattr(trace, "assignments") or any(not s.conditions for s in jumps):
        return None
    cached = getattr(model, "_switch_events", None)
    if cached is not None:
        return tuple(cached)
    depends = _depends(trace.assignments, {*trace.u, *trace.p})
    seen: set[sp.Expr] = set()
    events: list[TracedEvent] = []
    for switch in jumps:
        for cond in switch.conditions:
            for surface in _surfaces(cond):
                if surface in seen or depends.isdisjoint(surface.free_symbols):
                    continue
                seen.add(surface)
                programs = event_programs(
                    trace.u, trace.p, trace.t, trace.assignments, surface, None
                )
                label = f"{switch.kind} ({surface} = 0)"
                events.append(
                    TracedEvent(
                        label,
                        programs,
                        len(trace.u),
                        len(trace.p),
                        kind="switch",
                        location=switch.location,
                    )
                )
    model._switch_events = tuple(events)
    return tuple(events)


__all__ = [
    "PROGRAMS",
    "EventTrace",
    "TracedEvent",
    "event_programs",
    "switch_events",
    "trace_event",
    "traced_event",
]
