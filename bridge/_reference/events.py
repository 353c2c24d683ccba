"""Events on the reference engine: located on each step's dense output, the solve restarted
after every affect, terminal events, ``tstops``, and the records gradients need.

``integrate_events`` runs ``driver.integrate`` in segments: from t0 to the next tstop (SciPy
solvers then land exactly on it) or to t1, and from each event that changes the state (an
affect, a switching surface) to the next. ``Detector`` is ``integrate``'s ``stop`` hook:
after every accepted step it evaluates each condition at seven interior points and the end
of the step (from the step's interpolant), and a sign change in the event's direction is
located with ``brentq`` to a few ulps. The rules (docs/events.md):

* a crossing is a change of the sign of g along the integration; ``direction`` +1 keeps
  those from negative to positive, -1 from positive to negative, 0 both;
* where g is zero (to rounding) at the start, or just after an event, its sign is taken
  from where it is heading (the sign of dg/dt = g_u f + g_t), so an event at t0 is not an
  event, and an event is not triggered again by the state it leaves on its surface;
* events within a few ulps of the earliest one happen together, their affects applied in
  the order of ``events=``, each to the state the previous one left;
* an event without affect that does not end the solve is only recorded (no restart);
* switching surfaces (``kind == "switch"``, gradients only) restart the solve just past
  the surface (``NUDGE``), so the solver never evaluates f on the wrong branch.

Each event that stops a segment becomes a ``Hit`` with its ``Link`` s (the state and f
before and after each affect): ``jumps.py`` turns them into the sensitivities' jumps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from .._model import FloatArray
from .._progress import Progress
from .._solution import Stats
from . import retcodes
from .driver import Rhs, Trajectory, integrate

EPS = float(np.finfo(np.float64).eps)
#: Where each step's conditions are evaluated besides its end (fractions of the step): a
#: condition crossing twice inside a step is found unless both crossings fall between two
#: of these points (SciML checks 10 points per step, SciPy only the ends).
SAMPLES = tuple(k / 8 for k in range(1, 8))
#: How far past a switching surface the solve restarts, relative to max(|t|, |t1 - t0|).
NUDGE = 1e-11
#: Events less than this many multiples of EPS·max(|t|, step) apart happen together.
SIMULTANEOUS = 1e3
#: This many hits in a row, each less than ``ZENO_SPAN`` (relative) after the previous one,
#: end the run: events accumulate (a ball coming to rest bounces infinitely often).
ZENO_HITS = 50
ZENO_SPAN = 1e-12

F = Callable[[FloatArray, float], FloatArray]


@dataclass
class Link:
    """One event applied at a hit: the state and f before (``a``) and after (``b``) it."""

    event: int
    u_a: FloatArray
    f_a: FloatArray
    u_b: FloatArray
    f_b: FloatArray


@dataclass
class Hit:
    """Events that stopped a segment at ``t``, applied in the order of ``links``."""

    t: float
    links: list[Link]
    #: The index (among the saved points) of the state saved at t before / after the
    #: events, or None (saveat=None saves both when an affect changed the state).
    pre: int | None = None
    post: int | None = None
    #: Indices of the points saved at t at fixed times (a ``saveat`` time equal to t):
    #: they hold the state after the events, at t⁺.
    after: list[int] = field(default_factory=list)
    terminal: bool = False
    #: What the sensitivity jump computed, for later use (forward sensitivities).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Segment:
    """One restart-free stretch of the solve: from ``t_start`` to ``t_end``.

    ``t_nominal`` is where it belongs from (the hit's time: a switch restarts a little past
    it); ``saves`` are the indices of its points saved at fixed times; ``hit`` the events
    that started it (None for the first segment and after a tstop).
    """

    t_nominal: float
    t_start: float
    t_end: float
    saves: list[int]
    traj: Trajectory | None
    hit: Hit | None = None


@dataclass
class EventRun:
    """A solve with events: the saved points, retcode, counts, segments and hits."""

    t: FloatArray
    y: FloatArray
    retcode: str
    message: str
    stats: Stats
    t_stop: float
    segments: list[Segment]
    #: The hits in time order; the last one ended the solve when its ``terminal`` is set.
    hits: list[Hit]
    #: Per user event (the first ``n_user`` watched events): its times and states.
    t_events: list[FloatArray]
    u_events: list[FloatArray]
    #: +1 or -1: the direction of integration.
    direction: float = 1.0
    #: The watched events (traced), user events first.
    events: list[Any] = field(default_factory=list)
    #: Switches found sliding along their surface (names, for the gradient warning).
    sliding: list[str] = field(default_factory=list)

    def at(self, ts: FloatArray) -> FloatArray:
        """The dense solution at ``ts`` (right-continuous at events); needs ``dense=True``."""
        out: FloatArray | None = None
        sign = self.direction
        for seg in self.segments:
            assert seg.traj is not None, "integrate_events(dense=True) keeps the trajectory"
            inside = (sign * (ts - seg.t_nominal) >= 0) & (sign * (ts - seg.t_end) <= 0)
            if not inside.any() or not seg.traj.pieces:
                continue
            values = seg.traj.at(ts[inside])
            if out is None:
                out = np.empty((len(ts), values.shape[1]))
            out[inside] = values  # later segments win at shared ends: the value after
        if out is None:
            raise ValueError("no dense solution")
        return out


def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


class Detector:
    """``integrate``'s stop hook: finds the events' crossings in each accepted step.

    ``events`` are traced events (``bridge._trace.events.TracedEvent``); the first
    ``n_user`` are the user's ``bridge.Event`` s, whose times are recorded. After a stop,
    ``fired`` lists the events that happen at the stop time (in order) and ``piece`` is the
    step's interpolant.
    """

    def __init__(
        self, events: Sequence[Any], p: FloatArray, n: int, f: F, direction: float, n_user: int
    ) -> None:
        self.events, self.p, self.n, self.f = list(events), p, n, f
        self.direction = direction
        self.n_user = n_user
        self.signs = [0.0] * len(self.events)
        self.active = [True] * len(self.events)
        self.recorded: list[list[tuple[float, FloatArray]]] = [[] for _ in self.events]
        self.fired: list[int] = []
        self.piece: Any = None
        #: Switches found sliding along their surface (for the gradient warning).
        self.sliding: list[str] = []
        #: (event, time) of a crossing that could not be followed (see ``__call__``).
        self.lost: tuple[int, float] | None = None

    def stops(self, i: int) -> bool:
        ev = self.events[i]
        return bool(ev.has_affect or ev.terminal or ev.kind == "switch")

    def heading(self, i: int, u: FloatArray, t: float, on: float | None = None) -> float:
        """The sign of g_i at (u, t), or where it is heading if it is zero to rounding.

        ``on`` is g_i where the event was located (its root's residual), for an event that
        just happened: it is on its surface unless its affect moved it clearly off.
        """
        ev, p = self.events[i], self.p
        g = ev.g(u, p, t)
        g_u, g_t = ev.g_u(u, p, t), ev.g_t(u, p, t)
        slope = (float(g_u @ self.f(u, t)) + g_t) * self.direction
        scale = float(np.abs(g_u) @ np.abs(u)) + abs(g_t) * (1.0 + abs(t))
        zero = 1e-12 * (1.0 + abs(t)) * abs(slope) + 1e-14 * scale
        if on is not None:
            zero = max(zero, 1e3 * abs(on))
        if abs(g) <= zero:
            return _sign(slope)
        return _sign(g)

    def start(self, t: float, u: FloatArray, hit: Hit | None = None) -> None:
        """Take every condition's sign at a (re)start (see ``heading``); after ``hit``, its
        events are taken as on their surfaces unless their affects moved them off."""
        on: dict[int, float] = {}
        if hit is not None:
            for link in hit.links:
                on[link.event] = self.events[link.event].g(link.u_a, self.p, hit.t)
        self.signs = [self.heading(i, u, t, on.get(i)) for i in range(len(self.events))]

    def _crossings(
        self, i: int, times: FloatArray, states: FloatArray, t_prev: float
    ) -> list[tuple[float, float, float]]:
        """The crossings of event i in the step, each as (left, right, value at right)."""
        ev, p, n = self.events[i], self.p, self.n
        out = []
        sign = self.signs[i]
        left = t_prev
        for t, y in zip(times, states, strict=True):
            value = ev.g(y[:n], p, t)
            s = _sign(value)
            if sign == 0.0:
                sign = s  # no sign yet: the first one seen is not a crossing
            elif s != sign:
                up = sign < 0  # along the integration
                if ev.direction == 0 or (ev.direction > 0) == up:
                    out.append((left, float(t), value))
                sign = s if s != 0.0 else -sign
            left = float(t)
        self.signs[i] = sign
        return out

    def _root(self, i: int, left: float, right: float, value: float, piece: Any) -> float | None:
        """The crossing in (left, right], or None if there is none to find (see below)."""
        if value == 0.0:
            return right
        ev, p, n = self.events[i], self.p, self.n

        def g(s: float) -> float:
            return float(ev.g(np.asarray(piece(s))[:n], p, s))

        g_left = g(left)
        if _sign(g_left) == _sign(value) or g_left == 0.0:
            # The stored sign came from where g was heading at a restart, and g at the very
            # start still has rounding's sign: look for the other sign early in the step.
            probes = [left + (right - left) * 10.0**-k for k in range(15, 0, -1)]
            found = [s for s in probes if _sign(g(s)) == -_sign(value)]
            if not found:  # it never had that sign: it left the surface the other way
                if self.stops(i):
                    self.lost = (i, left)
                return None
            left = found[-1]
        a, b = (left, right) if left < right else (right, left)
        return float(brentq(g, a, b, xtol=4 * EPS, rtol=4 * EPS))

    def __call__(self, t_prev: float, t: float, piece: Any) -> float | None:
        times = np.array([t_prev + (t - t_prev) * s for s in SAMPLES] + [t])
        states = np.asarray(piece(times)).T  # (len(SAMPLES) + 1, n_all)
        found: list[tuple[float, int]] = []
        for i in range(len(self.events)):
            if not self.active[i]:
                continue
            for left, right, value in self._crossings(i, times, states, t_prev):
                root = self._root(i, left, right, value, piece)
                if self.lost is not None:
                    # An event that changes the state was left within rounding of its
                    # surface and is past it at once (a ball at rest, bouncing ever lower):
                    # following it is beyond float64; the run ends here, saying so.
                    self.fired = []
                    return t_prev
                if root is not None:
                    found.append((root, i))
                    if self.stops(i):
                        break  # a later crossing is found again after the restart
        if not found:
            return None
        found.sort()
        stopping = [(r, i) for r, i in found if self.stops(i)]
        t_stop = stopping[0][0] if stopping else None
        if t_stop is not None:
            tol = SIMULTANEOUS * EPS * max(abs(t_stop), abs(t - t_prev))
            self.fired = sorted(i for r, i in stopping if abs(r - t_stop) <= tol)
        for r, i in found:
            if not self.stops(i) and i < self.n_user:
                if t_stop is None or self.direction * (r - t_stop) <= 0:
                    self.recorded[i].append((r, np.asarray(piece(r))[: self.n].copy()))
        self.piece = piece
        return t_stop


def _nudge(t: float, span: float) -> float:
    return NUDGE * max(abs(t), span)


def _links(det: Detector, t: float, y_stop: FloatArray, span: float) -> tuple[list[Link], bool]:
    """The events fired at t applied in order: their links, and whether to nudge."""
    events, p, n, f, d = det.events, det.p, det.n, det.f, det.direction
    u = np.array(y_stop[:n])
    links: list[Link] = []
    nudge = False
    for i in det.fired:
        ev = events[i]
        if ev.kind == "switch":
            eps = _nudge(t, span)
            before = np.asarray(det.piece(t - d * eps))[:n]
            f_a = f(before, t - d * eps)
            f_b = f(u + d * eps * f_a, t + d * eps)
            g_u, g_t = ev.g_u(u, p, t), ev.g_t(u, p, t)
            if _sign(float(g_u @ f_a) + g_t) != _sign(float(g_u @ f_b) + g_t):
                det.active[i] = False  # sliding along the surface: no crossing to follow
                det.sliding.append(f"{ev.describe()} at t={t:.6g}")
                f_b = f_a
            links.append(Link(i, u, f_a, u, f_b))
            nudge = True
            continue
        f_a = f(u, t)
        u_b = ev.h(u, p, t) if ev.has_affect else u
        links.append(Link(i, u, f_a, u_b, f(u_b, t)))
        u = u_b
    return links, nudge


Transform = Callable[[Hit, FloatArray], FloatArray]


def _plain(hit: Hit, y_minus: FloatArray) -> FloatArray:
    return hit.links[-1].u_b


def integrate_events(
    fun: Rhs,
    t0: float,
    t1: float,
    y0: FloatArray,
    method: str,
    *,
    n: int,
    f: F,
    p: FloatArray,
    events: Sequence[Any] = (),
    n_user: int = 0,
    tstops: FloatArray | None = None,
    rtol: float,
    atol: Any,
    maxiters: int,
    saveat: FloatArray | None = None,
    jac: Any = None,
    dense: bool = False,
    save_cols: int | None = None,
    progress: Progress | None = None,
    transform: Transform = _plain,
) -> EventRun:
    """Integrate ``y' = fun(t, y)`` (whose first ``n`` entries are the state u, with
    ``u' = f(u, t)``) from t0 to t1 with events and tstops (see the module docstring).

    ``transform(hit, y_minus)`` gives the whole state after a hit (the sensitivities' jump
    for an augmented system); by default the state after the last affect. ``maxiters``
    bounds the accepted steps of all segments together.

    Example
    -------
    >>> from bridge._trace.events import traced_event
    >>> ground = traced_event(lambda u, p, t: u[0], lambda u, p, t: [u[0], -u[1]], 2, 0,
    ...                       direction=-1)
    >>> fall = lambda t, y: np.array([y[1], -1.0])
    >>> run = integrate_events(fall, 0.0, 3.5, np.array([0.5, 0.0]), "DOP853", n=2,
    ...     f=lambda u, t: fall(t, u), p=np.zeros(0), events=[ground], n_user=1,
    ...     rtol=1e-10, atol=1e-12, maxiters=1000, saveat=np.array([3.5]))
    >>> np.round(run.t_events[0], 8)      # falls 0.5 in t = 1, back up at 2, down at 3
    array([1., 3.])
    """
    direction = 1.0 if t1 > t0 else -1.0
    span = abs(t1 - t0)
    det = Detector(events, p, n, f, direction, n_user)
    bounds = [*(tstops.tolist() if tstops is not None else []), t1]
    stats = Stats()
    ts: list[float] = []
    ys: list[FloatArray] = []
    cols = len(y0) if save_cols is None else save_cols
    saves = saveat
    segments: list[Segment] = []
    hits: list[Hit] = []
    t_cur, y_cur = t0, np.asarray(y0, dtype=np.float64)
    t_nominal, hit_before = t0, None
    bi, budget, hint = 0, maxiters, None
    save_start = True
    retcode, message = retcodes.SUCCESS, ""
    zeno = 0
    if events:
        det.start(t0, y_cur[:n])
    while True:
        while bi < len(bounds) and direction * (bounds[bi] - t_cur) <= 0:
            bi += 1
        if bi == len(bounds):
            break  # an event exactly at t1
        t_end = bounds[bi]
        if budget <= 0:
            retcode, message = retcodes.MAXITERS, _maxiters(maxiters, len(segments), t_cur)
            break
        seg_saves = None
        if saves is not None:
            within = int(np.searchsorted(direction * saves, direction * t_end, side="right"))
            seg_saves = saves[:within]
        first = len(ts)
        run = integrate(
            fun, t_cur, t_end, y_cur, method, rtol=rtol, atol=atol, maxiters=budget,
            saveat=seg_saves, jac=jac, dense=dense,
            first_step=None if hint is None else min(hint, abs(t_end - t_cur)),
            save_cols=save_cols, progress=progress, stop=det if events else None,
            save_start=save_start,
        )  # fmt: skip
        add_stats(stats, run.stats)
        budget -= run.stats.naccept
        ts.extend(run.t.tolist())
        ys.extend(run.y)
        if saves is not None:
            saves = saves[len(run.t) :]
        seg = Segment(
            t_nominal, t_cur, run.t_stop, list(range(first, len(ts))), run.dense, hit_before
        )
        segments.append(seg)
        if run.retcode != retcodes.SUCCESS:
            retcode, message = run.retcode, run.message
            if retcode == retcodes.MAXITERS and len(segments) > 1:  # it names the budget left
                message = _maxiters(maxiters, len(segments), run.t_stop)
            break
        assert run.y_stop is not None
        hint = run.next_step if run.next_step and run.next_step > 0 else None
        if not run.stopped:
            t_cur, y_cur, t_nominal, hit_before = t_end, run.y_stop, t_end, None
            save_start = False
            continue
        tau = run.t_stop
        if det.lost is not None:
            if saveat is None:
                seg.saves.pop()  # the state at the stop is the last saved step's again
                ts.pop()
                ys.pop()
            retcode = retcodes.DT_LESS_THAN_MIN
            message = (
                f"events accumulate at t={tau!r}: {det.events[det.lost[0]].describe()} is "
                "met again within the resolution of float64 right after it happened (a Zeno "
                "point, such as a bouncing ball coming to rest); end the solve there with a "
                "terminal event (for example when the speed after a bounce falls below a "
                "threshold)"
            )
            break
        links, nudge = _links(det, tau, run.y_stop, span)
        hit = Hit(tau, links, terminal=any(det.events[lk.event].terminal for lk in links))
        affected = any(det.events[lk.event].has_affect for lk in links)
        if saveat is None:
            seg.saves.pop()  # the point saved at tau belongs to the hit
            hit.pre = len(ts) - 1
        y_plus = np.array(transform(hit, run.y_stop), dtype=np.float64)
        if saveat is None and affected:
            hit.post = len(ts)
            ts.append(tau)
            ys.append(y_plus[:cols].copy())
        elif saves is not None:
            here = int(np.sum(saves == tau))  # save points at tau get the state after
            for _ in range(here):
                hit.after.append(len(ts))
                ts.append(tau)
                ys.append(y_plus[:cols].copy())
            saves = saves[here:]
        hits.append(hit)
        zeno = zeno + 1 if abs(tau - t_cur) <= ZENO_SPAN * max(span, abs(tau)) else 0
        if hit.terminal:
            retcode = "Terminated"
            message = f"terminated by {det.events[links[0].event].describe()} at t={tau!r}"
            break
        if zeno >= ZENO_HITS:
            retcode = retcodes.DT_LESS_THAN_MIN
            message = (
                f"events accumulate at t={tau!r}: {ZENO_HITS} events in a row less than "
                f"{ZENO_SPAN:g}·|t| apart (a Zeno point, such as a bouncing ball coming to "
                "rest); end the solve there with a terminal event (for example when the "
                "speed after a bounce falls below a threshold)"
            )  # (an event met again within rounding is caught above, det.lost)
            break
        t_nominal, hit_before = tau, hit
        if nudge:
            eps = direction * _nudge(tau, span)
            y_pred = y_plus.copy()
            y_pred[:n] += eps * links[-1].f_a
            y_plus = y_plus + eps * np.asarray(fun(tau + eps, y_pred))
            tau = tau + eps
        t_cur, y_cur = tau, y_plus
        save_start = False
        det.start(t_cur, y_cur[:n], hit)
    y_arr = np.array(ys, dtype=np.float64).reshape(len(ys), cols)
    t_events, u_events = _records(det, hits, n_user, n)
    t_stop = segments[-1].t_end if segments else t0
    return EventRun(
        np.array(ts, dtype=np.float64), y_arr, retcode, message, stats, t_stop, segments, hits,
        t_events, u_events, direction, list(events), det.sliding,
    )  # fmt: skip


def _maxiters(maxiters: int, runs: int, t: float) -> str:
    return (
        f"reached maxiters={maxiters} steps over {runs} solver runs (restarted at events and "
        f"tstops), at t={t!r}; raise maxiters"
    )


def _records(
    det: Detector, hits: list[Hit], n_user: int, n: int
) -> tuple[list[FloatArray], list[FloatArray]]:
    times: list[list[tuple[float, FloatArray]]] = [list(r) for r in det.recorded[:n_user]]
    for hit in hits:
        for lk in hit.links:
            if lk.event < n_user:
                times[lk.event].append((hit.t, lk.u_a))
    t_events, u_events = [], []
    for rec in times:
        rec.sort(key=lambda pair: pair[0] * det.direction)
        t_events.append(np.array([t for t, _ in rec], dtype=np.float64))
        u_events.append(np.array([u for _, u in rec], dtype=np.float64).reshape(len(rec), n))
    return t_events, u_events


def add_stats(total: Stats, part: Stats) -> None:
    """Add the counts of ``part`` to ``total``."""
    for key, value in part.as_dict().items():
        setattr(total, key, getattr(total, key) + value)


__all__ = ["Detector", "EventRun", "Hit", "Link", "Segment", "integrate_events"]
