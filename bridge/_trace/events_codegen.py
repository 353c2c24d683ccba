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


__all__ = ["julia_events_module"]
