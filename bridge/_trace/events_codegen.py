"""Julia and DiffSL source for a problem's events (``bridge/_trace/events.py``).

The printers are the model's (``julia_codegen.py``, ``diffsl_codegen.py``), driven by the
programs of each traced event; docs/events.md says how each engine uses what is printed.

Julia: ``julia_events_module(name, events, n, m)`` is one module with, for each event k
(1-based, in the order of ``events=``)::

    condition_k(u, p, t)              -> g (a value: ContinuousCallback's condition)
    condition_grad_u_k!(out, u, p, t)    ∂g/∂u  (n)
    condition_grad_p_k!(out, u, p, t)    ∂g/∂p  (m)
    condition_grad_t_k(u, p, t)       -> ∂g/∂t
    affect_k!(unew, u, p, t)             h: the new state (unew must not alias u)
    affect_jac_u_k!(J, u, p, t)          ∂h/∂u  (n × n)
    affect_jac_p_k!(pJ, u, p, t)         ∂h/∂p  (n × m)
    affect_grad_t_k!(out, u, p, t)       ∂h/∂t  (n)

(the ``affect`` ones only for events with an affect), and for a ``VectorContinuousCallback``
``conditions!(out, u, p, t)`` (every g) and ``affect!(unew, u, p, t, k)`` (event k's h, or a
copy of u for an event without affect), plus the constants ``NEVENTS``, ``NSTATES``,
``NPARAMS``, ``DIRECTIONS``, ``TERMINAL`` and ``HAS_AFFECT`` (tuples, one entry per event).
The functions follow the model's rules (USAGE.md §4: no annotations, scalar locals, Base
only), so ForwardDiff duals and the adjoints' element types pass through them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sympy as sp

from .._errors import BridgeValueError
from .julia_codegen import _IDENTIFIER, _KEYWORDS, julia_function
from .ops import ROWS

#: Programs printed as functions returning a value (the others write into ``out``).
_SCALAR = frozenset({"condition", "condition_grad_t"})


def _julia_bool(flag: bool) -> str:
    return "true" if flag else "false"


def _tuple(items: Sequence[str]) -> str:
    return f"({', '.join(items)},)" if len(items) == 1 else f"({', '.join(items)})"


def julia_events_module(
    module_name: str, events: Sequence[Any], n_states: int, n_params: int
) -> str:
    """The Julia module of ``events`` (traced events; see the module docstring).

    Example
    -------
    >>> from bridge._trace.events import traced_event
    >>> ev = traced_event(lambda u, p, t: u[0], lambda u, p, t: [u[0], -p[0] * u[1]], 2, 1,
    ...                   direction=-1)
    >>> print(julia_events_module("BallEvents", [ev], 2, 1).split("function")[1])
     condition_1(u, p, t)
        return u[1]
    end
    <BLANKLINE>
    <BLANKLINE>
    """
    if not _IDENTIFIER.match(module_name) or module_name in _KEYWORDS:
        raise BridgeValueError(
            f"module_name must be a Julia identifier (letters, digits, _; not a keyword), "
            f"got {module_name!r}"
        )
    helpers: set[str] = set()
    functions: list[str] = []
    for k, event in enumerate(events, start=1):
        for name, program in event.programs.items():
            renamed = dataclasses.replace(program, name=f"{name}_{k}")
            functions.append(julia_function(renamed, helpers, scalar=name in _SCALAR))
    lines = [f"module {module_name}", ""]
    lines.append(f"const NEVENTS = {len(events)}")
    lines.append(f"const NSTATES = {n_states}")
    lines.append(f"const NPARAMS = {n_params}")
    if events:
        lines.append(f"const DIRECTIONS = {_tuple([str(e.direction) for e in events])}")
        lines.append(f"const TERMINAL = {_tuple([_julia_bool(e.terminal) for e in events])}")
        lines.append(f"const HAS_AFFECT = {_tuple([_julia_bool(e.has_affect) for e in events])}")
    else:
        lines.extend(["const DIRECTIONS = ()", "const TERMINAL = ()", "const HAS_AFFECT = ()"])
    if helpers:
        lines.append("")
        lines.extend(op.julia_helper for op in ROWS if op.name in helpers and op.julia_helper)
    for text in functions:
        lines.extend(["", text])
    lines.extend(["", "function conditions!(out, u, p, t)"])
    lines.extend(f"    out[{k}] = condition_{k}(u, p, t)" for k in range(1, len(events) + 1))
    lines.extend(["    return nothing", "end", ""])
    lines.append("function affect!(unew, u, p, t, k)")
    with_affect = [k for k, e in enumerate(events, start=1) if e.has_affect]
    for i, k in enumerate(with_affect):
        lines.append(f"    {'if' if i == 0 else 'elseif'} k == {k}")
        lines.append(f"        affect_{k}!(unew, u, p, t)")
    if with_affect:
        lines.extend(["    else", "        copyto!(unew, u)", "    end"])
    else:
        lines.append("    copyto!(unew, u)")
    lines.extend(["    return nothing", "end", "", "end # module", ""])
    return "\n".join(lines)


# -- DiffSL -------------------------------------------------------------------------------------
#: The DiffSL name of each program's tensor (k is the event's number, from 1).
_DIFFSL_TENSORS = {
    "condition": "g{k}",
    "condition_grad_u": "dgdu{k}_i",
    "condition_grad_p": "dgdp{k}_i",
    "condition_grad_t": "dgdt{k}",
    "affect": "h{k}_i",
    "affect_jac_u": "dhdu{k}_i",
    "affect_jac_p": "dhdp{k}_i",
    "affect_grad_t": "dhdt{k}_i",
}
_DIFFSL_SHORT = {
    "condition": "g",
    "condition_grad_u": "gu",
    "condition_grad_p": "gp",
    "condition_grad_t": "gt",
    "affect": "a",
    "affect_jac_u": "au",
    "affect_jac_p": "ap",
    "affect_grad_t": "at",
}


def _diffsl_values(program: Any, names: dict[Any, str], prefix: str) -> tuple[list[str], list[str]]:
    """DiffSL definition lines and the dense, row-major element texts of a program."""
    from .diffsl_codegen import print_program

    defined, printed = print_program(program, names, prefix)
    texts = dict(zip((index for index, _ in program.entries), printed, strict=True))
    size = 1
    for dim in program.shape:
        size *= dim
    elements = []
    for flat in range(size):
        index, rest = [], flat
        for dim in reversed(program.shape):
            index.append(rest % dim)
            rest //= dim
        elements.append(texts.get(tuple(reversed(index)), "0"))
    return [f"{local} {{ {text} }}" for local, text in defined], elements


def _event_tensors(
    events: Sequence[Any], names: dict[Any, str], which: Sequence[str]
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    lines: list[str] = []
    tensors: list[tuple[str, list[str]]] = []
    for k, event in enumerate(events, start=1):
        for name in which:
            program = event.programs.get(name)
            if program is None:
                continue
            defs, elements = _diffsl_values(program, names, f"e{k}{_DIFFSL_SHORT[name]}")
            lines.extend(defs)
            tensors.append((_DIFFSL_TENSORS[name].format(k=k), elements))
    return lines, tensors


def diffsl_stop_source(model: Any, events: Sequence[Any], *, reflected: bool = False) -> str:
    """The model's DiffSL (``diffsl_codegen.diffsl_source``) with a ``stop`` tensor: one
    element per event, its condition g (diffsol stops where any element crosses zero; the
    engine then checks the direction and applies the affect, see docs/events.md).

    ``reflected=True`` is the time-reflected model (t1 < t0): the conditions read ``-t``.
    Raises ``TraceError`` when a condition uses an operation DiffSL cannot express.

    Example
    -------
    >>> from bridge._trace import trace_model
    >>> from bridge._trace.events import traced_event
    >>> model = trace_model(lambda u, p, t: [u[1], -p[0]], 2, 1, name="ball")
    >>> ground = traced_event(lambda u, p, t: u[0], None, 2, 1)
    >>> print(diffsl_stop_source(model, [ground]).splitlines()[-1])
    stop_i { x0 }
    """
    from .diffsl_codegen import _listing, _names, diffsl_source

    text = diffsl_source(model, reflected=reflected)
    if not events:
        return text
    program = events[0].programs["condition"]
    names = _names(program, _T, reflected)
    lines, tensors = _event_tensors(events, names, ["condition"])
    stops = [elements[0] for _, elements in tensors]
    lines.append(f"stop_i {{{_listing(stops, per_line=1 if len(stops) > 1 else 8)}}}")
    return text + "\n".join(lines) + "\n"


def diffsl_events_source(events: Sequence[Any], n_states: int, n_params: int) -> str:
    """A DiffSL model that evaluates every event's g, ∂g/∂(u, p, t), h and ∂h/∂(u, p, t) at
    a point: inputs ``p0..`` (p) then ``ic0..`` (the state u), the time is the solve's
    ``t0``, and ``out_i`` lists, event after event, ``g, ∂g/∂u (n), ∂g/∂p (m), ∂g/∂t`` and,
    with an affect, ``h (n), ∂h/∂u (n × n, row-major), ∂h/∂p (n × m), ∂h/∂t (n)`` (the
    ``p`` parts only when m > 0). Compile it, set ``ode.t0 = t`` and read ``ys[:, 0]`` of
    ``solve_dense(np.concatenate([p, u]), [t, t + 1])`` (its right-hand side is zero).

    Example
    -------
    >>> from bridge._trace.events import traced_event
    >>> ev = traced_event(lambda u, p, t: u[0] - p[0] * t, None, 1, 1)
    >>> print(diffsl_events_source([ev], 1, 1).split("F_i { 0 }")[1])
    <BLANKLINE>
    g1 { x0 - p0*t }
    dgdu1_i { 1 }
    dgdp1_i { -t }
    dgdt1 { -p0 }
    out_i { g1, dgdu1_i, dgdp1_i, dgdt1 }
    <BLANKLINE>
    """
    from .diffsl_codegen import _listing, _names

    if not events:
        raise BridgeValueError("diffsl_events_source needs at least one event")
    names = _names(events[0].programs["condition"], _T, False)
    which = [k for k in _DIFFSL_TENSORS if n_params > 0 or k not in _P_PARTS]
    lines, tensors = _event_tensors(events, names, which)
    inputs = [f"p{k} = 0" for k in range(n_params)] + [f"ic{i} = 0" for i in range(n_states)]
    out = [
        "// bridge events: g, dg/du, dg/dp, dg/dt (and h, dh/du, dh/dp, dh/dt) per event, at",
        "// the state ic0.. and time t0 (inputs: p0.. then ic0..); matrices are row-major.",
        f"in_i {{{_listing(inputs)}}}",
        f"u_i {{{_listing([f'x{i} = ic{i}' for i in range(n_states)])}}}",
        f"F_i {{{_listing(['0'] * n_states)}}}",
        *lines,
    ]
    for tensor, elements in tensors:
        out.append(f"{tensor} {{{_listing(elements)}}}")
    out.append(f"out_i {{{_listing([tensor for tensor, _ in tensors])}}}")
    return "\n".join(out) + "\n"


_P_PARTS = frozenset({"condition_grad_p", "affect_jac_p"})
#: The time symbol of every trace (``tracer.trace``, ``events.trace_event``).
_T = sp.Symbol("t", real=True)


__all__ = ["diffsl_events_source", "diffsl_stop_source", "julia_events_module"]
