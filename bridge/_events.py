"""``bridge.Event``: a condition that crosses zero, an optional affect, traced like f.

An event is a pair of NumPy-style functions of ``(u, p, t)``, the same arguments as the
right-hand side: ``condition`` returns a number, and the event happens where it crosses
zero (in the ``direction`` asked for); ``affect`` returns the state after the event (a
bounce, a dose). Both are traced once per problem shape (``bridge/_trace/events.py``), so
every engine receives generated code for them and for their exact derivatives, and
gradients of a solve include the event time's dependence on ``u0`` and ``p``.
docs/events.md is the full story (saving at events, gradients, what each engine runs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import BridgeTypeError, BridgeValueError
from ._model import function_label

if TYPE_CHECKING:
    from ._problem import ODEProblem
    from ._trace.events import TracedEvent

_DIRECTIONS = {-1: "downward crossings only", 0: "both directions", 1: "upward crossings only"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_direction(direction: Any) -> int:
    if isinstance(direction, bool) or not isinstance(direction, (int, float)):
        if isinstance(direction, np.generic) and not isinstance(direction, np.bool_):
            direction = direction.item()  # NumPy integers
    if (
        isinstance(direction, bool)
        or not isinstance(direction, (int, float))
        or direction not in _DIRECTIONS
    ):
        raise BridgeValueError(
            f"Event direction must be -1 (downward crossings only, as SciPy's "
            f"event.direction), 0 (both) or +1 (upward crossings only), got {_short(direction)}"
        )
    return int(direction)


class Event:
    """An event: where ``condition(u, p, t)`` crosses zero, ``affect`` (if any) sets the state.

    Parameters
    ----------
    condition : callable
        ``condition(u, p, t)`` returning a number (NumPy code, traced like the right-hand
        side; named parameters arrive as a dict). The event happens where it crosses zero.
    direction : {-1, 0, +1}
        +1: only crossings from negative to positive; -1: only from positive to negative;
        0: both (SciPy's and SciML's convention). In the direction of integration.
    affect : callable, optional
        ``affect(u, p, t)`` returning the state after the event (the whole new state, a list
        or array of ``len(u0)`` numbers). Without one, the event is only recorded
        (``sol.t_events``), or ends the solve when ``terminal``.
    terminal : bool
        End the solve at the event (after the affect); the retcode is then ``"Terminated"``,
        which counts as success.
    name : str, optional
        For messages and generated code (defaults to the condition's ``__name__``).

    Example
    -------
    >>> import bridge
    >>> ball = bridge.ODEProblem(lambda u, p, t: [u[1], -p[0]], [1.0, 0.0], (0.0, 2.0), [9.81])
    >>> ground = bridge.Event(lambda u, p, t: u[0], direction=-1, terminal=True)
    >>> sol = bridge.solve(ball, "Tsit5", events=[ground], reltol=1e-10, abstol=1e-10,
    ...                    backend="reference")
    >>> sol.retcode, round(float(sol.t_events[0][0]), 6)   # sqrt(2 / 9.81)
    ('Terminated', 0.451524)
    """

    def __init__(
        self,
        condition: Callable[..., Any],
        direction: int = 0,
        affect: Callable[..., Any] | None = None,
        terminal: bool = False,
        *,
        name: str | None = None,
    ) -> None:
        if not callable(condition):
            raise BridgeTypeError(
                "Event condition must be a callable condition(u, p, t) returning a number that "
                f"crosses zero at the event, got {type(condition).__name__} {_short(condition)}"
            )
        if affect is not None and not callable(affect):
            raise BridgeTypeError(
                "Event affect must be None or a callable affect(u, p, t) returning the state "
                f"after the event, got {type(affect).__name__} {_short(affect)}"
            )
        if not isinstance(terminal, bool):
            if isinstance(terminal, np.bool_):
                terminal = bool(terminal)
            else:
                raise BridgeTypeError(
                    f"Event terminal must be True or False, got {_short(terminal)}"
                )
        if name is not None and not isinstance(name, str):
            raise BridgeTypeError(f"Event name must be a string, got {_short(name)}")
        self._condition = condition
        self._affect = affect
        self._direction = _check_direction(direction)
        self._terminal = terminal
        self._given_name = name
        self._traced: dict[Any, TracedEvent] = {}
        self._lock = threading.Lock()

    @property
    def condition(self) -> Callable[..., Any]:
        return self._condition

    @property
    def affect(self) -> Callable[..., Any] | None:
        return self._affect

    @property
    def direction(self) -> int:
        return self._direction

    @property
    def terminal(self) -> bool:
        return self._terminal

    @property
    def name(self) -> str:
        """The name messages and generated code use (the condition's ``__name__``)."""
        return function_label(self._condition, self._given_name, "event")

    def __repr__(self) -> str:
        parts = [repr(self.name), f"direction={self.direction}"]
        if self.affect is not None:
            parts.append("affect")
        if self.terminal:
            parts.append("terminal=True")
        return f"Event({', '.join(parts)})"

    def traced(self, prob: ODEProblem) -> TracedEvent:
        """The traced event for ``prob``'s sizes and parameter layout (cached; traced again
        when a value the trace froze has changed). Raises ``TraceError``."""
        spec = prob.param_spec
        key = (
            prob.n_states,
            prob.n_params,
            None if spec is None else tuple((k, tuple(v)) for k, v in spec.items()),
        )
        with self._lock:
            event = self._traced.get(key)
            if event is None or event.stale():
                from ._trace.events import traced_event

                event = traced_event(
                    self.condition,
                    self.affect,
                    prob.n_states,
                    prob.n_params,
                    spec,
                    name=self.name,
                    direction=self.direction,
                    terminal=self.terminal,
                )
                self._traced[key] = event
            return event


def check_events(events: Any, prob: ODEProblem | None = None) -> tuple[Event, ...]:
    """``events=`` as a tuple of Events (None, one Event, or a list/tuple of them); with a
    problem, each is traced for it now, so a TraceError surfaces before any solve.

    Example
    -------
    >>> check_events(None)
    ()
    >>> check_events([lambda t, y: y[0]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bridge._errors.BridgeTypeError: events[0] is a function, not a bridge.Event: wrap it as...
    """
    if events is None:
        return ()
    if isinstance(events, Event):
        events = [events]
    if isinstance(events, (str, bytes)) or not isinstance(events, (list, tuple)):
        hint = (
            "wrap it as bridge.Event(condition) (bridge calls condition(u, p, t))"
            if callable(events)
            else "build them with bridge.Event(condition, direction, affect, terminal)"
        )
        raise BridgeTypeError(
            f"events must be a bridge.Event or a list of them, got "
            f"{type(events).__name__} {_short(events)}: {hint}"
        )
    out: list[Event] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, Event):
            what = "a function" if callable(ev) else f"{type(ev).__name__} {_short(ev)}"
            raise BridgeTypeError(
                f"events[{i}] is {what}, not a bridge.Event: wrap it as "
                "bridge.Event(condition, direction=..., affect=..., terminal=...) "
                "(bridge calls condition(u, p, t), not SciPy's event(t, y))"
            )
        out.append(ev)
    if prob is not None:
        for ev in out:
            ev.traced(prob)
    return tuple(out)


__all__ = ["Event", "check_events"]
