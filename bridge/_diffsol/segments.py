"""Events, tstops and a per-state abstol on diffsol: the solve in segments (docs/events.md).

pydiffsol 0.6 has no ``reset``: a compiled model with a ``stop`` tensor (every watched
event's condition, ``diffsl_stop_source``) ends ``solve``/``solve_dense``/
``solve_fwd_sens``/``solve_adjoint_fwd`` at the first root of any element, the root being
the last point returned (diffsol's secant search to 100 eps, on the side where the sign
has changed). So a solve with events runs in segments, each one diffsol call:

* a segment runs from its start to the next bound (a tstop or t1); diffsol steps exactly
  onto the bound (its stop time);
* at the segment's end the engine evaluates every condition with NumPy (``TracedEvent.g``)
  and compares its sign with the sign at the segment's start; signs within rounding of
  zero are taken from where g is heading (``g_u f + g_t``), as on the reference engine
  (``bridge._reference.events.Detector.heading``): so a state left on its surface by an
  affect, or a restart a few ulps on the wrong side of it, is not an event;
* events whose sign changed in their ``direction`` and that change something (an affect,
  ``terminal``, a switching surface) are a ``Hit``: their affects are applied with NumPy in
  the order of ``events=`` (``bridge._reference.events._links``), and the next segment
  starts at the event time with the new state as its ``ic`` inputs (``ode.t0 = τ``); a
  terminal hit ends the solve with retcode ``Terminated``;
* an event without affect is recorded (``t_events``) and the solve restarts where it
  stopped, unchanged; so does a crossing in the wrong direction, or a stop caused by the
  restart's own rounding (diffsol stops there too);
* events that accumulate (a ball coming to rest) end the solve with ``DtLessThanMin``.

Every segment is an ``Integrator`` run through ``run.execute`` (so maxiters floors,
failures and ``auto`` behave as without events; auto's choice is kept for the later
segments). maxiters counts the steps of every segment together when saving every step; with
``saveat`` (diffsol reports no counts), each segment counts at least one.

Gradients: ``kind="fwd_sens"`` chains diffsol's per-segment sensitivities (w.r.t. the
segment's inputs p and start state) into S = ∂u/∂(u0, p), through the saltation jumps of
``bridge._reference.jumps.forward_transform`` at each hit; ``kind="adjoint"`` keeps each
segment's checkpoint for ``extras.SegmentAdjoint``, except on segments too short for
diffsol's backward pass (``Integrator.adjoint_starts``: it would panic), which run forward
sensitivities of their own (``Segment.kind``).

A per-state abstol runs the scaled model (``scaling.py``): everything diffsol sees is in the
scaled states v = u / s, and this module converts at the boundary.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._model import FloatArray
from .._reference.events import Detector, Hit, _links, _maxiters, _records
from .._reference.jumps import forward_transform
from .compiled import CompiledModel, compiled
from .run import DT_LESS_THAN_MIN, MAXITERS, SUCCESS, Integrator, Run, execute
from .scaling import Scaling

if TYPE_CHECKING:
    from .._problem import ODEProblem
    from .._progress import Progress
    from .._validate import SolveOptions

#: This many stops in a row, each less than ``ZENO_SPAN`` (relative) after the previous one,
#: end the run: events accumulate (the reference engine's ZENO_HITS, doubled because diffsol
#: may stop once more right after each restart, on the restart's own rounding).
ZENO_STOPS = 100
ZENO_SPAN = 1e-12


# -- the compiled models ------------------------------------------------------------------------
#: Per traced model: the compiled stop models of recent (reflected, events, scales) choices.
_STOP_MODELS: weakref.WeakKeyDictionary[Any, OrderedDict[Any, CompiledModel]] = (
    weakref.WeakKeyDictionary()
)
_STOP_KEEP = 32


def stop_model(
    prob: ODEProblem, events: Sequence[Any], *, reflected: bool, scaling: Scaling | None
) -> CompiledModel:
    """The compiled model with a ``stop`` tensor of ``events`` (and scaled states with a
    per-state abstol): one compiled model per DiffSL source (``compiled``); the source is
    kept per traced model for the last few event sets, so a solve does not print it again.

    Raises ``TraceError`` when a condition uses an operation DiffSL cannot express.
    """
    from .._trace.events_codegen import diffsl_stop_source

    model = prob.model
    key = (reflected, tuple(events), None if scaling is None else scaling.key())
    try:
        recent = _STOP_MODELS.setdefault(model, OrderedDict())
    except TypeError:  # not weak-referenceable: printed each time
        recent = OrderedDict()
    found = recent.get(key)
    if found is None:
        source = diffsl_stop_source(model, list(events), reflected=reflected)
        if scaling is not None:
            source = scaling.source(source)
        found = recent[key] = compiled(source)
        while len(recent) > _STOP_KEEP:
            recent.popitem(last=False)
    else:
        recent.move_to_end(key)
    return found


# -- what one solve needs -----------------------------------------------------------------------
@dataclass
class Plan:
    """A problem's segmented solve in solver time s = sign * t (see the module docstring).

    ``events`` are the watched traced events (the user's first, then switching surfaces);
    ``bounds`` the tstops then s1, in solver time; ``scaling`` None without a per-state abstol.
    """

    prob: ODEProblem
    opts: SolveOptions
    events: list[Any]
    n_user: int
    scaling: Scaling | None
    sign: float
    s0: float
    s1: float
    bounds: list[float]
    models: dict[tuple[bool, ...], CompiledModel] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.prob.n_states

    @property
    def m(self) -> int:
        return self.prob.n_params

    def model(self, active: Sequence[bool]) -> CompiledModel:
        """The compiled model watching the ``active`` events (a sliding switch drops out)."""
        key = tuple(active)
        found = self.models.get(key)
        if found is None:
            watched = [ev for ev, on in zip(self.events, key, strict=True) if on]
            found = self.models[key] = stop_model(
                self.prob, watched, reflected=self.sign < 0, scaling=self.scaling
            )
        return found

    def to_u(self, v: FloatArray) -> FloatArray:
        return v if self.scaling is None else self.scaling.to_u(v)

    def to_v(self, u: FloatArray) -> FloatArray:
        return u if self.scaling is None else self.scaling.to_v(u)

    def f(self, u: FloatArray, t: float) -> FloatArray:
        return np.asarray(self.prob.model.f(u, self.prob.p, t), dtype=np.float64)


def plan(prob: ODEProblem, opts: SolveOptions, *, gradient: bool) -> Plan:
    """The segmented solve of ``prob`` with ``opts`` (with ``gradient``, the switching
    surfaces of the right-hand side are watched too, as on the reference engine)."""
    from .._reference.solve import watched

    events, n_user = watched(prob, opts, gradient=gradient)
    t0, t1 = prob.tspan
    sign = 1.0 if t1 > t0 else -1.0
    scaling = None if opts.abstol_vector is None else Scaling.of(opts.abstol_vector)
    tstops = [] if opts.tstops is None else [sign * float(t) for t in opts.tstops]
    return Plan(prob, opts, events, n_user, scaling, sign, sign * t0, sign * t1,
                [*tstops, sign * t1])  # fmt: skip


# -- what a segmented solve gives back ----------------------------------------------------------
@dataclass
class Segment:
    """One diffsol call of a segmented solve, and where its results went.

    ``inner`` are the rows (indices into the saved points) filled from diffsol's output, in
    its order; ``fixed_end`` rows hold the end state at a fixed time (a bound saved, a save
    time at a boundary without affect); ``start_rows`` hold the start state (at t0). ``hit``
    are the events that ended it (None: a bound, or a stop that changed nothing).
    """

    integ: Integrator
    kind: str
    run: Run
    s_end: float
    #: The state (u) right after the segment's end: after the hit's affects, if any.
    u_after: FloatArray
    inner: list[int] = field(default_factory=list)
    fixed_end: list[int] = field(default_factory=list)
    start_rows: list[int] = field(default_factory=list)
    hit: Hit | None = None


@dataclass
class SegmentRun:
    """A segmented solve: saved points (bridge time, u), outcome, segments, events."""

    t: FloatArray
    y: FloatArray
    retcode: str
    message: str
    steps: int | None
    segments: list[Segment]
    hits: list[Hit]
    t_events: list[FloatArray]
    u_events: list[FloatArray]
    #: Where the solve ended (solver time): t1, a terminal event, or the failure.
    s_stop: float
    method: str
    note: str
    sliding: list[str]
    #: ∂u/∂θ at each saved point, (nt, n + m, n) rows θ = (u0, p) (``kind="fwd_sens"``).
    sens: FloatArray | None = None
    #: Rows of ``t``/``y`` solved again by a later pass (saving every step): the inner ones.
    inner_s: FloatArray | None = None


class _Rows:
    """The saved points as they are made: bridge time, state (u), sensitivity rows."""

    def __init__(self, sens: bool) -> None:
        self.t: list[float] = []
        self.y: list[FloatArray] = []
        self.st: list[FloatArray] | None = [] if sens else None
        self.inner_s: list[float] = []

    def mark(self) -> tuple[int, int]:
        return len(self.t), len(self.inner_s)

    def truncate(self, mark: tuple[int, int]) -> None:
        """Forget the points made since ``mark``."""
        del self.t[mark[0] :], self.y[mark[0] :], self.inner_s[mark[1] :]
        if self.st is not None:
            del self.st[mark[0] :]

    def add(self, t: float, u: FloatArray, st: FloatArray | None = None) -> int:
        self.t.append(t)
        self.y.append(np.array(u, dtype=np.float64))
        if self.st is not None:
            assert st is not None
            self.st.append(st)
        return len(self.t) - 1


def _crossed(det: Detector, t: float, u: FloatArray) -> list[int]:
    """The events whose sign changed, in their direction, since ``det.start``."""
    out = []
    for i, ev in enumerate(det.events):
        before = det.signs[i]
        if not det.active[i] or before == 0.0:
            continue
        after = det.heading(i, u, t)
        if after == 0.0 or after == before:
            continue
        up = before < 0  # along the integration
        if ev.direction == 0 or (ev.direction > 0) == up:
            out.append(i)
    return out


def _raw_signs(det: Detector, t: float, u: FloatArray) -> list[float]:
    """The signs of the conditions themselves (what diffsol's root finding sees)."""
    return [float(np.sign(ev.g(u, det.p, t))) for ev in det.events]


def _lost(
    det: Detector, crossed: list[int], raw: list[float], t: float, u: FloatArray
) -> int | None:
    """An event that changes the state and crossed where diffsol could not see it: at the
    start its condition was within rounding of zero on the wrong side (a ball at rest,
    bouncing ever lower), and it never changed sign for diffsol. None if there is none."""
    for i in crossed:
        if det.stops(i):
            end = float(np.sign(det.events[i].g(u, det.p, t)))
            if end == raw[i] == det.heading(i, u, t):
                return i
    return None


def _chain(st_start: FloatArray, su: FloatArray, n: int, m: int) -> FloatArray:
    """∂u/∂θ (rows θ) from a segment's ∂u/∂(p, u_start) (rows) and ∂u_start/∂θ."""
    out = st_start @ su[m:, :]
    out[n:] += su[:m, :]
    return out


def drive(
    pl: Plan,
    kind: str,
    requested: str,
    *,
    every: bool,
    grid: FloatArray | None,
    progress: Progress | None = None,
) -> SegmentRun:
    """Run the segmented solve.

    ``kind``: ``"every"`` (every step saved; ``grid`` None), ``"dense"``, ``"fwd_sens"`` or
    ``"adjoint"``. ``every``: saving every step (points before and after each affect);
    then ``grid`` (solver time) holds the steps of an earlier plain pass to solve again at
    (a gradient pass). Otherwise ``grid`` is the save times (``saveat``, solver time).
    """
    prob, opts, sign = pl.prob, pl.opts, pl.sign
    n, m = pl.n, pl.m
    k = n + m
    p = prob.p
    det = Detector(pl.events, p, n, pl.f, sign, pl.n_user)
    span = abs(pl.s1 - pl.s0)
    forward = kind == "fwd_sens"
    transform = forward_transform(pl.events, p, n, m) if forward else None
    rows = _Rows(forward)
    segments: list[Segment] = []
    hits: list[Hit] = []
    s_cur = pl.s0
    v_cur = pl.to_v(np.asarray(prob.u0, dtype=np.float64))
    u_cur = np.asarray(prob.u0, dtype=np.float64)
    st_cur = np.vstack([np.eye(n), np.zeros((m, n))]) if forward else None
    saves = grid
    si = 0  # the next save time (grid index) not yet used
    if pl.events:
        det.start(sign * s_cur, u_cur)
    switches = any(ev.kind == "switch" for ev in pl.events)
    budget = opts.maxiters
    steps = 0
    retcode, message = SUCCESS, ""
    method_note = ""
    bi = 0
    stalls = 0
    hint: float | None = None
    first = True
    start_hit: Hit | None = None

    def save_time(i: int) -> float:  # the user's own value (no -(-t) rounding)
        assert opts.saveat is not None
        return float(opts.saveat[i])

    def take_saves(s: float, u: FloatArray, st: FloatArray | None, into: list[int]) -> None:
        """Save times equal to ``s`` hold ``u`` (``every`` pass: none are at boundaries)."""
        nonlocal si
        if every or saves is None:
            return
        while si < len(saves) and saves[si] == s:
            into.append(rows.add(save_time(si), u, st))
            si += 1

    start_rows: list[int] = []
    if every:
        start_rows.append(rows.add(sign * s_cur, u_cur, st_cur))
    else:
        take_saves(s_cur, u_cur, st_cur, start_rows)
    while True:
        while bi < len(pl.bounds) and pl.bounds[bi] <= s_cur:
            bi += 1
        if bi == len(pl.bounds):
            break  # an event exactly at t1
        s_b = pl.bounds[bi]
        mark = rows.mark()
        raw_start = _raw_signs(det, sign * s_cur, u_cur) if pl.events else []
        if budget <= 0:
            retcode, message = MAXITERS, _maxiters(opts.maxiters, len(segments), sign * s_cur)
            break
        seg_grid = None
        run_kind = kind
        if grid is not None:
            j = int(np.searchsorted(grid, s_b, side="left"))
            lo = max(si, int(np.searchsorted(grid, s_cur, side="right")))
            seg_grid = np.append(grid[lo:j], s_b)
            if every:
                si = lo
        elif kind != "every":
            seg_grid = np.array([s_b])
        seg_opts = dataclasses.replace(opts, maxiters=max(budget, 1), saveat=None)
        integ = Integrator(pl.model(det.active), p, v_cur, s_cur, s_b, seg_grid, seg_opts, sign)
        if not first:
            integ.h0 = hint if hint is not None else integ.initial_step(s_cur, v_cur)
        if run_kind == "adjoint" and not integ.adjoint_starts(s_b):
            run_kind = "fwd_sens"  # diffsol's backward pass would panic on this segment
        run = execute(integ, requested, run_kind, seg_grid)
        if switches and run.retcode == SUCCESS and run.stopped:
            # The last step crossed a jump of f: solve again to the surface, so that no
            # step straddles it (diffsol steps exactly onto its final time).
            tau0 = float(run.s[-1])
            if any(
                pl.events[i].kind == "switch"
                for i in _crossed(det, sign * tau0, pl.to_u(run.y[-1]))
            ):
                grid2 = None
                if seg_grid is not None:
                    inner = seg_grid[:-1]
                    grid2 = np.append(inner[inner < tau0], tau0)
                again_integ = Integrator(integ.model, p, v_cur, s_cur, tau0, grid2, seg_opts, sign)
                again_integ.h0 = integ.h0
                again = execute(again_integ, requested, run_kind, grid2)
                if again.retcode == SUCCESS and len(again.s):
                    integ, run, seg_grid = again_integ, again, grid2
        if run_kind == "adjoint" and run.retcode == SUCCESS and not integ.adjoint_starts(run.s[-1]):
            run_kind = "fwd_sens"  # it stopped early: too short for diffsol's backward pass
            run = execute(integ, requested, run_kind, seg_grid)
        first = False
        requested = run.method or requested  # auto's choice holds for the later segments
        method_note = method_note or run.note
        used = run.steps if run.steps is not None else 1
        steps += run.steps or 0
        budget -= max(used, 1)
        seg = Segment(integ, run_kind, run, s_b, u_cur, start_rows=start_rows)
        start_rows = []
        segments.append(seg)
        u_rows = pl.to_u(run.y)
        su = None
        if forward and run.sens is not None:
            su = run.sens if pl.scaling is None else pl.scaling.sens_to_u(run.sens, m)
        if run_kind == "every":
            inner_idx = range(1, len(run.s) - 1 if run.retcode == SUCCESS else len(run.s))
            inner_t = [float(run.s[r]) for r in inner_idx]
        else:
            assert seg_grid is not None
            end_at = run.s[-1] if run.retcode == SUCCESS and len(run.s) else np.inf
            n_inner = int(np.sum(seg_grid[:-1] < end_at)) if len(run.s) else 0
            if run.retcode != SUCCESS:
                n_inner = min(len(run.s), int(np.sum(seg_grid < s_b)))
            inner_idx = range(n_inner)
            inner_t = [float(seg_grid[r]) for r in inner_idx]
        for r, s_row in zip(inner_idx, inner_t, strict=True):
            st_row = None if su is None or st_cur is None else _chain(st_cur, su[r], n, m)
            t_row = sign * s_row if (every or saves is None) else save_time(si)
            seg.inner.append(rows.add(float(t_row), u_rows[r], st_row))
            rows.inner_s.append(s_row)
            if not every and saves is not None:
                si += 1
        if progress is not None and len(run.s):
            progress.update(sign * float(run.s[-1]), steps)
        if run.retcode != SUCCESS:
            retcode = run.retcode
            message = run.message
            if retcode == MAXITERS and len(segments) > 1:
                last = run.s[-1] if len(run.s) else s_cur
                message = _maxiters(opts.maxiters, len(segments), sign * float(last))
            reached = run.s_reached if run.s_reached is not None else (
                float(run.s[-1]) if len(run.s) else s_cur)  # fmt: skip
            seg.s_end = float(reached)
            break
        tau = float(run.s[-1])
        t_tau = sign * tau
        v_end = run.y[-1]
        u_end = u_rows[-1]
        st_end = None if su is None or st_cur is None else _chain(st_cur, su[-1], n, m)
        seg.s_end = tau
        if run_kind == "every" and len(run.s) >= 2:
            hint = float(run.s[-1] - run.s[-2]) or None
        else:
            hint = None
        crossed = _crossed(det, t_tau, u_end) if pl.events else []
        lost = _lost(det, crossed, raw_start, t_tau, u_end) if crossed else None
        if lost is not None:
            # Following it is beyond float64 (the reference engine ends the same way):
            # the segment's points are not the solution; the solve ends where it began.
            rows.truncate(mark)
            segments.pop()
            retcode = DT_LESS_THAN_MIN
            message = (
                f"events accumulate at t={sign * s_cur!r}: {pl.events[lost].describe()} is met "
                "again within the resolution of float64 right after it happened (a Zeno point, "
                "such as a bouncing ball coming to rest); end the solve there with a terminal "
                "event (for example when the speed after a bounce falls below a threshold)"
            )
            break
        fired = [i for i in crossed if det.stops(i)]
        for i in crossed:
            if not det.stops(i) and i < pl.n_user:
                det.recorded[i].append((t_tau, np.array(u_end)))
        is_bound = tau == s_b
        if fired:
            det.fired = fired
            f_end = pl.f(u_end, t_tau)
            det.piece = _line(u_end, f_end, t_tau)
            links, _ = _links(det, t_tau, u_end, span)  # already past a switch: no nudge
            # A sliding switch stays watched: diffsol cannot integrate a sliding motion (it
            # chatters across the surface without end), so its stops accumulate instead.
            det.active = [True] * len(det.active)
            hit = Hit(t_tau, links, terminal=any(pl.events[lk.event].terminal for lk in links))
            affected = any(pl.events[lk.event].has_affect for lk in links)
            if transform is not None and st_end is not None:
                y_plus = transform(hit, np.concatenate([u_end, st_end.ravel()]))
                u_plus, st_plus = y_plus[:n], y_plus[n:].reshape(k, n)
            else:
                u_plus, st_plus = np.array(links[-1].u_b, dtype=np.float64), None
            if every:
                hit.pre = rows.add(t_tau, u_end, hit.extra.get("pre"))
                if affected:
                    hit.post = rows.add(t_tau, u_plus, hit.extra.get("post"))
            else:
                take_saves(tau, u_plus, st_plus, hit.after)
            seg.hit = hit
            seg.u_after = u_plus
            hits.append(hit)
            if hit.terminal:
                retcode = "Terminated"
                message = f"terminated by {pl.events[links[0].event].describe()} at t={t_tau!r}"
                break
            u_cur, st_cur = u_plus, st_plus
            v_cur = pl.to_v(u_plus) if affected else v_end
            start_hit = hit
        else:
            if every:
                if is_bound:
                    seg.fixed_end.append(rows.add(t_tau, u_end, st_end))
            else:
                take_saves(tau, u_end, st_end, seg.fixed_end)
            seg.u_after = u_end
            u_cur, v_cur, st_cur = u_end, v_end, st_end
            start_hit = None
        if not is_bound:
            near = abs(tau - s_cur) <= ZENO_SPAN * max(span, abs(tau))
            stalls = stalls + 1 if near else 0
            if stalls >= ZENO_STOPS and det.sliding:
                retcode = DT_LESS_THAN_MIN
                message = (
                    f"the solution slides along a switching surface of its right-hand side "
                    f"({det.sliding[0]}): diffsol cannot integrate a sliding motion (it "
                    "chatters across the surface); use backend='reference'"
                )
                break
            if stalls >= ZENO_STOPS:
                retcode = DT_LESS_THAN_MIN
                message = (
                    f"events accumulate at t={t_tau!r}: diffsol stopped {ZENO_STOPS} times in a "
                    f"row less than {ZENO_SPAN:g}·|t| apart (a Zeno point, such as a bouncing "
                    "ball coming to rest); end the solve there with a terminal event (for "
                    "example when the speed after a bounce falls below a threshold)"
                )
                break
        else:
            stalls = 0
        s_cur = tau
        if pl.events:
            det.start(t_tau, u_cur, start_hit)
    t_events, u_events = _records(det, hits, pl.n_user, n)
    last = segments[-1] if segments else None
    sens = None
    if rows.st is not None:
        sens = np.array(rows.st, dtype=np.float64).reshape(len(rows.st), k, n)
    method = segments[0].run.method if segments else ""
    return SegmentRun(
        t=np.array(rows.t, dtype=np.float64),
        y=np.array(rows.y, dtype=np.float64).reshape(len(rows.y), n),
        retcode=retcode,
        message=message,
        steps=steps if kind == "every" else None,
        segments=segments,
        hits=hits,
        t_events=t_events,
        u_events=u_events,
        s_stop=last.s_end if last is not None else pl.s0,
        method=method,
        note=method_note,
        sliding=det.sliding,
        sens=sens,
        inner_s=np.array(rows.inner_s, dtype=np.float64),
    )


def _line(u: FloatArray, f: FloatArray, t: float) -> Callable[[float], FloatArray]:
    """The state near the stop along f, for ``_links``' sides of a switching surface."""

    def piece(s: float) -> FloatArray:
        return np.asarray(u + (s - t) * f, dtype=np.float64)

    return piece


__all__ = ["Plan", "Segment", "SegmentRun", "drive", "plan", "stop_model"]
