"""One integration on diffsol: solver time, saving, the maxiters budget, failures as retcodes.

**Solver time.** diffsol integrates forward only, so a reverse-time problem (t1 < t0) runs
as the time-reflected model (``diffsl_source(model, reflected=True)``) in ``s = -t``; the
inputs (p, u0) and hence the gradients are the same. Everything here is in solver time.

**Saving.** ``saveat=None`` saves t0, every step and t1 (``Ode.solve``); otherwise exactly
the save times (``Ode.solve_dense``, diffsol's own interpolant).

**maxiters.** diffsol has no step limit and reports no step counts for dense solves, so:

* saving every step, the steps are counted and a solve of more than ``maxiters`` steps is
  cut to its first ``maxiters`` steps with retcode ``MaxIters`` (as the reference backend);
* explicit methods (tsit45) are what runs away (a stiff problem: Robertson on tsit45 would
  take 10^8 steps, minutes). They run with a step-size floor of span/maxiters
  (``options.min_timestep``: diffsol fails a step rejected below it), which no solve that
  fits in ``maxiters`` steps of even size needs. When the floor stops a solve, a *counted*
  run (windows of at most the remaining budget of steps, each an every-step solve) decides:
  more than ``maxiters`` steps gives ``MaxIters`` and the trajectory up to there; a genuine
  failure gives its retcode; a solve that fits is run again without the floor;
* with ``saveat``, an implicit method's steps are not bounded by ``maxiters`` (they do not
  run away: a stiff method on a stiff problem takes few steps, and a singularity stops it).

**Failures.** diffsol raises ``RuntimeError("... Step size is too small at time = X")``
and returns nothing; tsit45 integrates a NaN right-hand side on without failing. So a
failure at X is solved again up to X to recover the trajectory (the steps before X are the
same, deterministically), and NaN or infinite states end the trajectory before the first
such row. Retcodes: ``Unstable`` when the state, the right-hand side there, or the right-hand
side a small step further is not finite (DifferentialEquations.jl's instability check; a
failed step whose trial points were NaN), else ``DtLessThanMin``; other solver errors are
``Failure``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._model import FloatArray
from . import pydiffsol
from .compiled import CompiledModel
from .methods import AUTO_FLOOR, EXPLICIT, gradient_method

if TYPE_CHECKING:
    from .._validate import SolveOptions

SUCCESS, MAXITERS, UNSTABLE = "Success", "MaxIters", "Unstable"
DT_LESS_THAN_MIN, FAILURE = "DtLessThanMin", "Failure"

#: diffsol's own default step-size floor (options.min_timestep).
DEFAULT_FLOOR = 1e-13
#: Tolerances of adjoint solves, relative to the requested ones (see ``_configure``).
ADJOINT_TIGHTEN = 1e-2
#: The adjoint runs on spans at least this many times diffsol's first-step estimate
#: (``Integrator.adjoint_starts``); shorter ones use forward sensitivities.
ADJOINT_START_MARGIN = 2.0
#: diffsol 0.16.1's solve_dense asserts that the last evaluation time was reached, but its
#: stop test accepts a last step that ends 100 eps short of it (docs/diffsl.md behaviour 10).
_LAST_STEP_PANIC = "before consuming all t_eval points"
#: The retries after that panic move the final time on by this many ulps (of the larger of
#: |t_final| and the span): the values there change by f times that, far below any tolerance.
_LAST_STEP_NUDGES = (8.0, 40.0, 200.0)
_TIME = re.compile(r"at time = ([-+0-9.eE]+|NaN|inf)")
#: Fractions of the span for the "is the right-hand side finite a little further?" check.
_PROBE_STEPS = (1e-13, 1e-10, 1e-7, 1e-4)


class BackwardFailed(Exception):
    """diffsol's adjoint backward pass gave up (or panicked) at every tolerance tried."""


class StepFailure(Exception):
    """diffsol gave up; ``time`` (solver time) where it stopped, when it said."""

    def __init__(self, message: str, time: float | None) -> None:
        super().__init__(message)
        self.message = message
        self.time = time


@dataclass
class Run:
    """An integration's result in solver time: ``s`` (nt,), ``y`` (nt, n)."""

    s: FloatArray
    y: FloatArray
    retcode: str = SUCCESS
    message: str = ""
    #: Accepted steps, when they were counted (saving every step).
    steps: int | None = None
    #: Forward sensitivities (nt, n_inputs, n) in diffsol's input order (p, then u0).
    sens: FloatArray | None = None
    #: The raw pydiffsol (Solution, AdjointCheckpoint) of an adjoint forward pass.
    adjoint: tuple[Any, Any] | None = field(default=None, repr=False)
    #: The diffsol method that produced it, and why if auto changed its mind.
    method: str = ""
    note: str = ""
    #: The model's ``stop`` tensor ended it before the end of the span (at ``s[-1]``).
    stopped: bool = False
    #: Where a failed run got to (solver time), when that is known.
    s_reached: float | None = None


class _Relabelled:
    """A pydiffsol solution whose last time is the asked one (``ts``), not the nudged one."""

    def __init__(self, raw: Any, t_eval: FloatArray) -> None:
        self._raw = raw
        ts = np.array(raw.ts, dtype=np.float64)
        if len(ts) == len(t_eval):
            ts[-1] = t_eval[-1]
        self.ts = ts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _at_asked_times(kind: str, raw: Any, t_eval: FloatArray) -> Any:
    if kind == "adjoint":
        return (_Relabelled(raw[0], t_eval), *raw[1:])
    return _Relabelled(raw, t_eval)


def _parse(exc: RuntimeError) -> StepFailure:
    message = str(exc).strip()
    match = _TIME.search(message)
    time = float(match.group(1)) if match else None
    return StepFailure(message, time)


class Integrator:
    """Runs one problem's integrations on a compiled model (see the module docstring).

    ``s0``, ``s1``: the span in solver time (s1 > s0); ``y0``: the initial state;
    ``params``: diffsol's input vector (p, then u0); ``grid``: the save times in solver time
    (None: every step); ``sign``: -1 when solver time is reflected bridge time.
    """

    def __init__(
        self,
        model: CompiledModel,
        p: FloatArray,
        y0: FloatArray,
        s0: float,
        s1: float,
        grid: FloatArray | None,
        opts: SolveOptions,
        sign: float = 1.0,
    ) -> None:
        self.model = model
        self.sign = sign
        self.p = p
        self.y0 = y0
        self.n = len(y0)
        self.s0, self.s1 = float(s0), float(s1)
        self.span = self.s1 - self.s0
        self.grid = grid
        self.opts = opts
        self.params = np.concatenate([p, y0])
        #: The first step diffsol tries (None: min(1, span)); a restart carries the last one.
        self.h0: float | None = None

    # -- one pydiffsol call -----------------------------------------------------------------
    def call(
        self,
        kind: str,
        method: str,
        floor: float | None,
        *,
        grid: FloatArray | None = None,
        start: tuple[float, FloatArray] | None = None,
        end: float | None = None,
        h0: float | None = None,
    ) -> Any:
        """One pydiffsol solve: ``kind`` is "every", "dense", "fwd_sens" or "adjoint"."""
        s_start, params = self.s0, self.params
        if start is not None:
            s_start, params = start[0], np.concatenate([self.p, start[1]])
        first_step = h0 if h0 is not None else (self.h0 or min(1.0, self.span))
        t_eval = (
            None if kind == "every" else np.ascontiguousarray(self.grid if grid is None else grid)
        )
        nudged = None
        with self.model.lock:
            for attempt in range(1 + len(_LAST_STEP_NUDGES)):
                self._configure(method, sens=kind == "fwd_sens", adjoint=kind == "adjoint")
                ode = self.model.ode  # (a new Ode after a recovered panic)
                ode.t0 = s_start
                ode.h0 = first_step
                ode.options.min_timestep = DEFAULT_FLOOR if floor is None else floor
                try:
                    if kind == "every":
                        return ode.solve(params, self.s1 if end is None else end)
                    assert t_eval is not None
                    if kind == "dense":
                        raw = ode.solve_dense(params, nudged if nudged is not None else t_eval)
                    elif kind == "fwd_sens":
                        raw = ode.solve_fwd_sens(params, nudged if nudged is not None else t_eval)
                    elif kind == "adjoint":
                        raw = ode.solve_adjoint_fwd(
                            params, nudged if nudged is not None else t_eval
                        )
                    else:
                        break
                    return raw if nudged is None else _at_asked_times(kind, raw, t_eval)
                except RuntimeError as exc:
                    raise _parse(exc) from None
                except BaseException as exc:  # a Rust panic (pyo3's PanicException)
                    if type(exc).__name__ != "PanicException":
                        raise
                    self.model.recover()
                    if (
                        t_eval is not None
                        and _LAST_STEP_PANIC in str(exc)
                        and attempt < len(_LAST_STEP_NUDGES)
                    ):
                        # docs/diffsl.md behaviour 10: the last step landed a rounding short
                        # of the final time; a final time a few ulps on rounds differently.
                        last = float(t_eval[-1])
                        ulp = float(np.spacing(max(abs(last), self.span)))
                        nudged = t_eval.copy()
                        nudged[-1] = last + _LAST_STEP_NUDGES[attempt] * ulp
                        continue
                    raise StepFailure(f"diffsol panicked: {exc}", None) from None
        raise ValueError(f"unknown kind of solve {kind!r}")

    def _configure(
        self,
        method: str,
        *,
        sens: bool,
        adjoint: bool = False,
        loosen: float = 1.0,
        param_loosen: float = 1.0,
    ) -> None:
        # Measured (docs/diffsl.md): forward sensitivities are left out of the error control
        # unless given tolerances (2e-6 instead of 3e-10 relative error at rtol 1e-10); so is
        # the adjoint's parameter quadrature, which is then wrong where a save time falls
        # inside a step (u' = p saved at 0.5 and 1: 3% off at any rtol). The adjoint state's
        # own tolerances stay diffsol's (set to atol they made Robertson's backward pass
        # fail), and the discrete adjoint needs tighter tolerances than the forward solve
        # for the same accuracy (LV saved at every step: 1e-6 error at rtol 1e-9).
        ode = self.model.ode
        rtol, atol = self.tolerances((ADJOINT_TIGHTEN if adjoint else 1.0) * loosen)
        ode.ode_solver = getattr(pydiffsol(), method)
        ode.rtol, ode.atol = rtol, atol
        ode.sens_rtol, ode.sens_atol = (rtol, atol) if sens else (None, None)
        ode.param_rtol, ode.param_atol = (rtol, atol * param_loosen) if adjoint else (None, None)

    def tolerances(self, factor: float = 1.0) -> tuple[float, float]:
        """(rtol, atol) of a solve whose tolerances are ``factor`` times the requested ones."""
        rtol = min(max(self.opts.reltol * factor, 1e-14), 0.1)
        return rtol, max(self.opts.abstol * factor, 1e-300)

    def adjoint_starts(self, s_end: float) -> bool:
        """Whether diffsol's adjoint backward pass can run on [s0, s_end] (measured).

        diffsol 0.16.1's backward pass re-initialises the forward solver at the start of the
        checkpoints with Hairer's first-step estimate, 0.01 |y0| / |f(y0)| in the error norm
        (1e-6 when either is below 1e-5), and evaluates f that far on: when that lies past
        ``s_end`` it panics ("t is outside of the checkpoints"). Measured: u' = -k u panics
        on spans below 0.01 / k whatever the cotangent and tolerances; a falling ball from
        (1, 3.9) below 0.00305 = 0.01 / rms(3.9, 9.81 / 3.9); u' = 50 u^2 from 1 between
        1.99e-4 and 2.1e-4 (the estimate at the start: 2e-4, at the end: 1.98e-4).
        """
        y = self.y0
        with self.model.lock:
            f = np.asarray(self.model.ode.rhs(self.params, self.s0, y), dtype=np.float64)
        rtol, atol = self.tolerances(ADJOINT_TIGHTEN)
        w = atol + rtol * np.abs(y)
        d0 = float(np.sqrt(np.mean((y / w) ** 2)))
        d1 = float(np.sqrt(np.mean((f / w) ** 2)))
        if not (math.isfinite(d0) and math.isfinite(d1)):
            return False
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        return s_end - self.s0 >= ADJOINT_START_MARGIN * h0

    def backward(self, method: str, adjoint: tuple[Any, Any], dgdu: FloatArray) -> FloatArray:
        """diffsol's adjoint backward pass: d(sum dgdu * y)/d(inputs), shape (n_inputs,).

        It runs at the forward pass's tightened tolerances, which the accuracy needs; the
        implicit methods' backward pass can fail there, or with a tight absolute tolerance
        on the parameter quadrature (Robertson: at 1e-12, not at 1e-10), so the quadrature's
        atol is loosened up to 10^4x, then the tolerances are the requested ones. It never
        runs the quadrature without error control (that gradient can be wrong); if every
        try fails, the error says so (the forward solve succeeded).
        """
        failures = []
        for loosen in (1.0, 1.0 / ADJOINT_TIGHTEN):
            for param_loosen in (1.0, 1e2, 1e4):
                with self.model.lock:
                    self._configure(
                        method, sens=False, adjoint=True, loosen=loosen, param_loosen=param_loosen
                    )
                    self.model.ode.options.min_timestep = DEFAULT_FLOOR
                    self.model.ode.t0 = self.s0  # the backward pass ends there (a segment's start)
                    try:
                        out = self.model.ode.solve_adjoint_bkwd(adjoint[0], adjoint[1], dgdu)
                    except RuntimeError as exc:
                        failures.append(str(exc).strip())
                        continue
                    except BaseException as exc:  # a Rust panic (pyo3's PanicException)
                        if type(exc).__name__ != "PanicException":
                            raise
                        self.model.recover()  # the checkpoint went with the panicked solver
                        raise BackwardFailed(
                            f"diffsol's adjoint backward pass ({method}) panicked: {exc}"
                        ) from None
                grad = np.asarray(out, dtype=np.float64).ravel()
                if np.isfinite(grad).all():
                    return grad
                failures.append("the gradient was not finite")
        raise BackwardFailed(f"diffsol's adjoint backward pass ({method}) failed: {failures[-1]}")

    def maxiters_floor(self) -> float:
        return self.span / self.opts.maxiters

    # -- what a result means ----------------------------------------------------------------
    def finish(self, kind: str, raw: Any, grid: FloatArray | None) -> Run:
        """A successful call as a Run: NaN rows cut (Unstable), maxiters applied (every step)."""
        solution = raw[0] if kind == "adjoint" else raw
        y = np.ascontiguousarray(np.asarray(solution.ys, dtype=np.float64).T)
        ts = np.asarray(solution.ts, dtype=np.float64)
        if kind == "every":
            s, stopped = ts, bool(len(ts) and ts[-1] < self.s1)
        else:  # exactly the requested times, up to where a stop tensor ended the solve
            s = np.asarray(grid)
            stopped = len(ts) < len(s) or bool(len(ts) and ts[-1] != s[-1])
            if stopped:
                s = np.concatenate([s[: len(ts) - 1], ts[-1:]])
        run = Run(s, y, steps=len(s) - 1 if kind == "every" else None, stopped=stopped)
        if kind == "fwd_sens":
            sens = np.stack([np.asarray(a, dtype=np.float64) for a in raw.sens])  # (k, n, nt)
            run.sens = np.ascontiguousarray(sens.transpose(2, 0, 1))
        if kind == "adjoint":
            run.adjoint = tuple(x._raw if isinstance(x, _Relabelled) else x for x in raw)
        # A sum is finite when every term is: cheaper than isfinite (overflow is rechecked).
        finite = math.isfinite(float(y.sum())) and (
            run.sens is None or math.isfinite(float(run.sens.sum()))
        )
        rows: Any = True if finite else np.isfinite(y).all(axis=1)
        if not finite and run.sens is not None:
            rows = rows & np.isfinite(run.sens).all(axis=(1, 2))
        if not np.all(rows):
            k = int(np.argmin(rows))
            where = f"t={self.t_of(s[k]):.6g}"
            return self.cut(run, k, UNSTABLE, f"the state became NaN or infinite at {where}")
        if kind == "every" and run.steps is not None and run.steps > self.opts.maxiters:
            k = self.opts.maxiters + 1
            return self.cut(run, k, MAXITERS, self.maxiters_message(s[k - 1]))
        return run

    def cut(self, run: Run, k: int, retcode: str, message: str) -> Run:
        return Run(
            run.s[:k],
            run.y[:k],
            retcode,
            message,
            steps=None if run.steps is None else max(k - 1, 0),
            sens=None if run.sens is None else run.sens[:k],
            method=run.method,
            s_reached=float(run.s[k - 1]) if k else None,
        )

    def t_of(self, s: float) -> float:
        """Bridge time of a solver time (``sign`` is -1 for reflected problems)."""
        return float(s) * self.sign

    def maxiters_message(self, s: float) -> str:
        return (
            f"reached maxiters={self.opts.maxiters} steps at t={self.t_of(s):.6g} before the "
            "end of tspan; raise maxiters, or use a stiff algorithm (Rodas5P, FBDF) if the "
            "problem is stiff"
        )

    def classify(self, failure: StepFailure, s: float, y: FloatArray) -> str:
        if "step size is too small" not in failure.message.lower():
            return FAILURE
        return UNSTABLE if self.blows_up(s, y) else DT_LESS_THAN_MIN

    def blows_up(self, s: float, y: FloatArray) -> bool:
        """True when y, f(y) or f a small step further is NaN or infinite."""
        if not np.isfinite(y).all():
            return True
        with self.model.lock:
            ode = self.model.ode
            f0 = np.asarray(ode.rhs(self.params, s, y), dtype=np.float64)
            if not np.isfinite(f0).all():
                return True
            for frac in _PROBE_STEPS:
                h = frac * self.span
                trial = np.asarray(ode.rhs(self.params, s + h, y + h * f0), dtype=np.float64)
                if not np.isfinite(trial).all():
                    return True
        return False

    def failure_message(self, failure: StepFailure, retcode: str) -> str:
        where = f" at t={self.t_of(failure.time):.6g}" if failure.time is not None else ""
        if retcode == UNSTABLE:
            return f"the solution became NaN or infinite{where} (diffsol: {failure.message})"
        if retcode == DT_LESS_THAN_MIN:
            return (
                f"the step size fell below the minimum{where}: a singularity or a blow-up "
                f"(diffsol: {failure.message})"
            )
        return f"diffsol failed{where}: {failure.message}"

    # -- failures: recover the trajectory ---------------------------------------------------
    def up_to(
        self, method: str, s_end: float, start: tuple[float, FloatArray] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Every step from ``start`` (default t0) up to ``s_end``, without t0's row."""
        for _ in range(3):
            if s_end <= (start[0] if start else self.s0):
                break
            try:
                raw = self.call("every", method, None, start=start, end=s_end)
            except StepFailure as again:
                if again.time is None or again.time >= s_end:
                    break
                s_end = again.time
                continue
            y = np.asarray(raw.ys, dtype=np.float64).T
            return np.asarray(raw.ts, dtype=np.float64)[1:], y[1:]
        return np.zeros(0), np.zeros((0, self.n))

    def failed(self, kind: str, method: str, failure: StepFailure, grid: FloatArray | None) -> Run:
        """The Run of a solve that failed for real (unguarded) at ``failure.time``."""
        x = failure.time
        if x is None or not math.isfinite(x):
            x = self.s0
        s, y = self.up_to(method, x)
        s = np.concatenate([[self.s0], s])
        y = np.concatenate([self.y0[None, :], y])
        retcode = self.classify(failure, float(s[-1]), y[-1])
        run = Run(s, y, retcode, self.failure_message(failure, retcode), steps=len(s) - 1)
        run.s_reached = float(s[-1])
        return run if kind == "every" else self.prefix(method, run, grid)

    def prefix(self, method: str, run: Run, grid: FloatArray | None) -> Run:
        """The dense save points a failed or stopped every-step run reached."""
        assert grid is not None
        keep = grid[grid <= run.s[-1]] if len(run.s) else grid[:0]
        y = np.zeros((0, self.n))
        if len(keep):
            try:
                y = np.asarray(self.call("dense", method, None, grid=keep).ys, dtype=np.float64).T
            except StepFailure:
                keep = keep[:0]
        bad = ~np.isfinite(y).all(axis=1)
        if bad.any():
            keep, y = keep[: int(np.argmax(bad))], y[: int(np.argmax(bad))]
        reached = run.s_reached
        if reached is None and len(run.s):
            reached = float(run.s[-1])
        out = Run(np.asarray(keep), np.ascontiguousarray(y), run.retcode, run.message)
        out.s_reached = reached
        return out

    # -- the counted run: maxiters on an explicit method ------------------------------------
    def initial_step(self, s: float, y: FloatArray) -> float:
        """Hairer's first-step estimate, 0.01 |y| / |f| in the error norm."""
        with self.model.lock:
            f0 = np.asarray(self.model.ode.rhs(self.params, s, y), dtype=np.float64)
        scale = self.opts.abstol + self.opts.reltol * np.abs(y)
        scale = np.where(scale > 0, scale, 1.0)
        d0 = float(np.sqrt(np.mean((y / scale) ** 2)))
        d1 = float(np.sqrt(np.mean((f0 / scale) ** 2)))
        h = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 and math.isfinite(d1) else 1e-6
        return max(min(h, self.span), self.span * 1e-12)

    def counted(self, method: str) -> Run:
        """Every step in windows of at most the remaining budget (see the module docstring)."""
        budget = self.opts.maxiters
        s, y = self.s0, self.y0
        S: list[FloatArray] = [np.array([s])]
        Y: list[FloatArray] = [y[None, :]]
        steps = 0
        h = self.initial_step(s, y)
        retcode, message = SUCCESS, ""
        stopped = False
        while True:
            end = min(self.s1, s + h * (budget - steps))
            if end <= s:
                end = self.s1
            try:
                raw = self.call("every", method, None, start=(s, y), end=end, h0=h)
            except StepFailure as failure:
                new_s, new_y = self.up_to(method, failure.time or s, start=(s, y))
                S.append(new_s)
                Y.append(new_y)
                last_s = float(new_s[-1]) if len(new_s) else s
                last_y = new_y[-1] if len(new_y) else y
                retcode = self.classify(failure, last_s, last_y)
                message = self.failure_message(failure, retcode)
                break
            new_s = np.asarray(raw.ts, dtype=np.float64)[1:]
            new_y = np.asarray(raw.ys, dtype=np.float64).T[1:]
            S.append(new_s)
            Y.append(new_y)
            steps += len(new_s)
            if len(new_s) and new_s[-1] < end and steps < budget:
                stopped = True  # the model's stop tensor ended it: it fits up to there
                break
            if steps >= budget or end >= self.s1 or not np.isfinite(new_y).all():
                break
            s, y = float(new_s[-1]), new_y[-1]
            diffs = np.diff(new_s)
            h = float(diffs[-2] if len(diffs) >= 2 else (diffs[-1] if len(diffs) else h))
        run = Run(np.concatenate(S), np.ascontiguousarray(np.concatenate(Y)), retcode, message)
        run.steps = len(run.s) - 1
        rows = np.isfinite(run.y).all(axis=1)
        if not rows.all():
            k = int(np.argmin(rows))
            return self.cut(run, k, UNSTABLE, f"the state became NaN or infinite at "
                            f"t={self.t_of(run.s[k]):.6g}")  # fmt: skip
        if run.steps > budget:
            return self.cut(run, budget + 1, MAXITERS, self.maxiters_message(run.s[budget]))
        if retcode == SUCCESS and run.s[-1] < self.s1 and not stopped:  # the budget, short of t1
            run.retcode, run.message = MAXITERS, self.maxiters_message(run.s[-1])
        return run


def _attempt(
    integ: Integrator, kind: str, method: str, floor: float | None, grid: FloatArray | None
) -> Run | StepFailure:
    """One call as a Run, or the StepFailure diffsol gave up with."""
    try:
        run = integ.finish(kind, integ.call(kind, method, floor, grid=grid), grid)
    except StepFailure as failure:
        return failure
    run.method = method
    return run


def execute(integ: Integrator, requested: str, kind: str, grid: FloatArray | None = None) -> Run:
    """Run ``kind`` with the requested diffsol method (or ``"auto"``); failures as data.

    ``grid``: the save times for dense kinds (default ``integ.grid``).
    """
    grid = integ.grid if grid is None else grid
    if requested == "auto":
        floor = max(integ.span * AUTO_FLOOR, integ.maxiters_floor())
        first = _attempt(integ, kind, "tsit45", floor, grid)
        if isinstance(first, Run):
            return first
        where = f"t={integ.t_of(first.time):.4g}" if first.time is not None else "start"
        run = execute(integ, "bdf", kind, grid)
        stiff = f"tsit45 rejected a step below {AUTO_FLOOR:g} of the span at {where}: stiff"
        run.note = stiff + (f"; {run.note}" if run.note else "")
        return run
    method, note = gradient_method(requested, kind)
    guard = integ.maxiters_floor() if method in EXPLICIT else None
    outcome = _attempt(integ, kind, method, guard, grid)
    if isinstance(outcome, StepFailure) and guard is not None:
        # The floor stopped it: count the steps to tell MaxIters from a failure.
        counted = integ.counted(method)
        if counted.retcode != SUCCESS:
            run = counted if kind == "every" else integ.prefix(method, counted, grid)
            run.method, run.note = method, note
            return run
        outcome = _attempt(integ, kind, method, None, grid)  # it fits in maxiters
    if isinstance(outcome, StepFailure):
        outcome = integ.failed(kind, method, outcome, grid)
        outcome.method = method
    outcome.note = note
    return outcome


#: How many windows a solve with ``progress=True`` runs in (diffsol reports nothing from
#: inside one solve, so the bar moves once per window).
PROGRESS_WINDOWS = 32


def execute_in_windows(
    integ: Integrator,
    requested: str,
    kind: str,
    on_window: Callable[[float, int], None],
    windows: int = PROGRESS_WINDOWS,
) -> Run:
    """``execute`` of a plain solve ("every" or "dense") in equal windows of solver time,
    each restarted from the last window's end state, reporting ``on_window(t, steps)``
    after each. The results agree with one solve to the tolerances, not bit for bit (each
    window restarts the integrator); a failure in a window ends the run there."""
    edges = np.linspace(integ.s0, integ.s1, windows + 1)
    edges[-1] = integ.s1
    S: list[FloatArray] = [np.array([integ.s0])] if kind == "every" else []
    Y: list[FloatArray] = [integ.y0[None, :]] if kind == "every" else []
    y, steps, last = integ.y0, 0, Run(np.zeros(0), np.zeros((0, integ.n)))
    for a, b in itertools.pairwise(edges):
        opts = integ.opts
        grid, n_saved = None, 0
        if kind == "every":
            opts = dataclasses.replace(opts, maxiters=max(opts.maxiters - steps, 1))
        else:
            assert integ.grid is not None
            first = (integ.grid > a) | ((integ.grid == a) & (a == integ.s0))
            inside = integ.grid[first & (integ.grid <= b)]
            n_saved = len(inside)
            grid = inside if n_saved and inside[-1] == b else np.append(inside, b)
        window = Integrator(integ.model, integ.p, y, a, b, grid, opts, integ.sign)
        last = execute(window, requested, kind)
        keep = slice(1, None) if kind == "every" else slice(0, min(n_saved, len(last.s)))
        S.append(last.s[keep])
        Y.append(last.y[keep])
        steps += last.steps or 0
        if last.retcode != SUCCESS:
            break
        y = last.y[-1]
        on_window(integ.t_of(b), steps)
    run = Run(np.concatenate(S), np.ascontiguousarray(np.concatenate(Y)), last.retcode,
              last.message, steps=steps if kind == "every" else None, method=last.method,
              note=last.note)  # fmt: skip
    return run


__all__ = ["BackwardFailed", "Integrator", "Run", "StepFailure", "execute", "execute_in_windows"]
