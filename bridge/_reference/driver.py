"""Drive one SciPy ``OdeSolver`` step by step: saving, maxiters, NaN detection, statistics.

``solve_ivp`` hides the step loop; driving it ourselves costs nothing extra (``solve_ivp``
runs the same Python loop) and gives what the contract needs: a hard ``maxiters`` with a
``MaxIters`` retcode, the partial trajectory when a step fails, a NaN check per step
(``Unstable``), save points from each step's own interpolant, and the accepted steps'
interpolants when the adjoint needs the whole dense trajectory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.integrate import DenseOutput, OdeSolver

from .._model import FloatArray
from .._progress import Progress
from .._solution import Stats
from .._validate import MIN_RELTOL
from . import retcodes
from .methods import DENSE_EVALS, RK_EVALS_PER_ATTEMPT, SOLVERS, TAKES_JACOBIAN

Rhs = Callable[[float, FloatArray], FloatArray]


def _degree(piece: DenseOutput) -> int:
    """Polynomial degree (or an upper bound) of one step's SciPy interpolant."""
    coeffs = getattr(piece, "F", None)  # DOP853: a 7-term nested product
    if coeffs is not None:
        return int(coeffs.shape[0])
    # RK and Radau: y_old + sum_{k=1}^{order+1} q_k x^k; BDF and LSODA: degree = order.
    return int(getattr(piece, "order", 11)) + 1


def _to_monomials(piece: DenseOutput) -> tuple[float, float, FloatArray]:
    """Rewrite an interpolant as y(t) = [1, x, x², ...] @ C, x = (t - mid) / half.

    The interpolant is a polynomial, so sampling it at deg+1 Chebyshev points and solving the
    Vandermonde system recovers it (to rounding; on [-1, 1] the system is well conditioned
    for these degrees). One vectorised call here replaces a loop of small NumPy operations
    in every later evaluation.
    """
    deg = _degree(piece)
    mid = 0.5 * (piece.t_min + piece.t_max)
    half = 0.5 * (piece.t_max - piece.t_min) or 1.0
    nodes = np.cos(np.pi * (np.arange(deg + 1) + 0.5) / (deg + 1))
    values = np.asarray(piece(mid + half * nodes)).T  # (deg+1, n)
    vander = np.vander(nodes, deg + 1, increasing=True)
    return mid, half, np.linalg.solve(vander, values)


class Trajectory:
    """The dense solution of a run: one interpolant per accepted step, callable at scalar t.

    Lookups remember the last piece used, so the monotone sweeps of the adjoint solve find
    their piece in O(1) instead of a binary search per call; each piece is turned into
    monomial coefficients on first use, so an evaluation is one power and one matmul
    (SciPy's DOP853 interpolant costs a loop of 14 small array operations per call).

    Example
    -------
    >>> from scipy.integrate import RK45
    >>> s = RK45(lambda t, y: -y, 0.0, np.array([1.0]), 1.0)
    >>> _ = s.step()
    >>> traj = Trajectory([0.0, s.t], [s.dense_output()])
    >>> bool(abs(traj(s.t / 2)[0] - np.exp(-s.t / 2)) < 1e-3)
    True
    """

    def __init__(self, breaks: list[float], pieces: list[DenseOutput]) -> None:
        self.pieces = pieces
        self._poly: list[tuple[float, float, FloatArray] | None] = [None] * len(pieces)
        # Breakpoints in ascending order whatever the direction of integration, so that
        # searchsorted works.
        self.ascending = len(breaks) < 2 or breaks[-1] >= breaks[0]
        b = np.asarray(breaks, dtype=np.float64)
        self._breaks = b if self.ascending else b[::-1].copy()
        self._last = 0
        self._powers = np.arange(16.0)

    def _locate(self, t: float) -> int:
        i = int(np.searchsorted(self._breaks, t, side="right")) - 1
        i = min(max(i, 0), len(self.pieces) - 1)
        return i if self.ascending else len(self.pieces) - 1 - i

    def __call__(self, t: float) -> FloatArray:
        piece = self.pieces[self._last]
        if not (piece.t_min <= t <= piece.t_max):
            self._last = self._locate(t)
        poly = self._poly[self._last]
        if poly is None:
            poly = self._poly[self._last] = _to_monomials(self.pieces[self._last])
        mid, half, coeffs = poly
        out: FloatArray = ((t - mid) / half) ** self._powers[: coeffs.shape[0]] @ coeffs
        return out

    def at(self, ts: FloatArray) -> FloatArray:
        """The trajectory at many times at once, shape (len(ts), n): one call per piece.

        Example
        -------
        >>> from scipy.integrate import RK45
        >>> s = RK45(lambda t, y: -y, 0.0, np.array([1.0]), 1.0)
        >>> _ = s.step()
        >>> Trajectory([0.0, s.t], [s.dense_output()]).at(np.array([0.0, s.t])).shape
        (2, 1)
        """
        ts = np.asarray(ts, dtype=np.float64)
        idx = np.clip(np.searchsorted(self._breaks, ts, side="right") - 1, 0, len(self.pieces) - 1)
        if not self.ascending:
            idx = len(self.pieces) - 1 - idx
        out: FloatArray | None = None
        for i in np.unique(idx):
            rows = np.flatnonzero(idx == i)
            values = np.asarray(self.pieces[int(i)](ts[rows])).T
            if out is None:
                out = np.empty((len(ts), values.shape[1]))
            out[rows] = values
        return out if out is not None else np.zeros((0, 0))


@dataclass
class Run:
    """What one integration produced: saved points, retcode, counts, maybe the dense path."""

    t: FloatArray
    y: FloatArray
    retcode: str
    message: str
    stats: Stats
    dense: Trajectory | None = None
    #: The step size the solver would have tried next (a hint for a following restart).
    next_step: float | None = None
    #: Where the solver stopped: t1 on success, else the failure time (not the last save).
    t_stop: float = 0.0
    #: True when ``integrate``'s ``stop`` hook ended the run at ``t_stop`` (an event).
    stopped: bool = False
    #: The whole state at ``t_stop`` (every column, unlike the saved ``y``).
    y_stop: FloatArray | None = None


def min_step(t: float) -> float:
    """SciPy's smallest step at t: 10 spacings of floats there (``rk.py``, ``bdf.py``, ...).

    Relative to the spacing of floats at t, not to |t|, so spans far from 0 such as
    (1e8, 1e8 + 20) are judged as SciPy judges them.

    Example
    -------
    >>> min_step(1.0) == 10 * float(np.spacing(1.0)), min_step(1e8) > 1e-7, min_step(0.0) > 0
    (True, True, True)
    """
    return 10.0 * abs(float(np.spacing(t)))


def _finite_or_raised(fun: Rhs, t: float, y: FloatArray) -> bool:
    """Whether ``fun(t, y)`` is finite; a ``fun`` that raises (user code) counts as finite."""
    try:
        return retcodes.is_finite(np.asarray(fun(t, y), dtype=np.float64))
    except Exception:  # the probe is a diagnosis; the user's error is not ours to report here
        return True


def _nonfinite_near(solver: OdeSolver, fun: Rhs, t1: float) -> bool:
    """After the step size collapsed: did a NaN/inf cause it? (Runs once, off the hot path.)

    Looks at the last attempt's stages (explicit RK), the state, f at the state, and f at
    points ahead on the Euler line y + h f(t, y), h = 4^k times the last step up to t1. The
    probe makes the answer independent of which attempt the solver happened to end on:
    whether the trial that overshot into the NaN region was the last one or an earlier one
    depends on rounding, and so on the CPU.
    """
    with np.errstate(all="ignore"):
        stages = getattr(solver, "K", None)
        if stages is not None and not retcodes.is_finite(stages):
            return True
        t, y = float(solver.t), solver.y
        if not retcodes.is_finite(y):
            return True
        try:
            f0 = np.asarray(fun(t, y), dtype=np.float64)
        except Exception:
            return False
        if not retcodes.is_finite(f0):
            return True
        direction = 1.0 if t1 >= t else -1.0
        last = abs(t - float(solver.t_old)) if solver.t_old is not None else 0.0
        h, reach = max(last, min_step(t)), abs(t1 - t)
        while h <= reach:
            if not _finite_or_raised(fun, t + direction * h, y + (direction * h) * f0):
                return True
            h *= 4.0
    return False


_SPACINGS_BOUND = 10.0 * float(np.finfo(np.float64).eps)


class _NanWatch:
    """NaN/inf seen at an implicit solver's trial points, until the solver is past them.

    Implicit solvers meet a NaN inside Newton iterations, at trial points, and answer by
    shrinking the step until it is too small. The flag stays set while the accepted steps
    are shorter than the trial that met the NaN and NaNs keep coming (the solver is creeping
    up on them), and is cleared by an accepted step at least that long, or by ``QUIET``
    accepted steps without a new one (the NaN was an overshoot left behind).
    """

    QUIET = 50

    def __init__(self) -> None:
        self.seen = False
        self.reach = 0.0
        self.quiet = 0
        self.t_now = 0.0

    def wrap(self, fun: Rhs) -> Rhs:
        def watched(t: float, y: FloatArray) -> FloatArray:
            out = fun(t, y)
            if not retcodes.is_finite(np.asarray(out)):
                self.seen = True
                self.reach = max(self.reach, abs(t - self.t_now))
                self.quiet = 0
            return out

        return watched

    def accepted(self, t: float, step: float) -> None:
        self.quiet += 1
        if (step >= self.reach > 0) or self.quiet >= self.QUIET:
            self.seen, self.reach = False, 0.0
        self.t_now = t


#: The pace check starts after this many accepted steps and runs every ``PACE_EVERY`` steps.
PACE_START = 1000
PACE_EVERY = 200
#: Stop early when, at the recent step size, t1 is more than this many times the remaining
#: ``maxiters`` budget away, at ``PACE_STRIKES`` checks in a row. The margin leaves room for
#: the step size to grow again (a transient); the strikes make it a trend, not a moment.
PACE_MARGIN = 10.0
PACE_STRIKES = 3
#: A recent step size below this fraction of the largest step so far has collapsed.
COLLAPSE = 1e-8
#: Accepted steps below ``min_step`` in a row before giving up. LSODA accepts such steps at
#: a singularity, but also, harmlessly, at the start of a span far from 0: on (1e8, 1e8 + 20)
#: with a stiff transient it takes 20 in a row and then succeeds, as SciPy's LSODA does.
TINY_RUN = 100

STIFF_HINT = (
    "if the problem is stiff, use a stiff algorithm such as alg='Rodas5P' or 'FBDF' "
    "(or 'auto', which switches)"
)


class _Pace:
    """Whether the run can still reach t1 within ``maxiters`` at the pace it is going.

    Every ``PACE_EVERY`` accepted steps (after ``PACE_START``), the mean step size over the
    last window gives the steps still needed. This is how bridge stops an explicit method on
    a stiff problem (its step size is held at the stability limit) or any method whose step
    size has collapsed at a singularity, in seconds instead of after ``maxiters`` steps.

    Why a projection and not a stiffness test: OrdinaryDiffEq's auto-switching estimates
    |λ| from the last two stages (``eigen_est``) and calls a step stiff when |λ h| exceeds
    0.9 of the method's stability size for 10 steps in a row; Hairer's DOP853 stops on 15.
    Measured on SciPy's solvers, that test fired on Van der Pol (μ = 10), which DOP853 then
    finishes in 113 steps, and stayed below its threshold for RK23 on Robertson, which
    could never finish. What matters to the user is whether the run can end within
    ``maxiters``, which the projection answers for any method; the message then says what
    the likely causes are. (diffrax has no stiffness test: its ``max_steps`` is 4096.)
    """

    def __init__(self, t0: float, t1: float, maxiters: int) -> None:
        self.t1, self.maxiters = t1, maxiters
        self.t_mark, self.strikes = t0, 0
        self.h_max = 0.0
        self.h_recent = 0.0
        self.needed = 0.0

    def estimate(self, t: float, window: float, steps: int) -> None:
        self.h_recent = window / steps if steps else 0.0
        remaining = abs(self.t1 - t)
        self.needed = remaining / self.h_recent if self.h_recent > 0 else float("inf")

    def check(self, t: float, nsteps: int) -> bool:
        """Called every ``PACE_EVERY`` accepted steps; True when the run should stop now."""
        self.estimate(t, abs(t - self.t_mark), PACE_EVERY)
        self.t_mark = t
        if nsteps < PACE_START:
            return False
        budget = self.maxiters - nsteps
        self.strikes = self.strikes + 1 if self.needed > PACE_MARGIN * budget else 0
        return self.strikes >= PACE_STRIKES

    def collapsed(self, t: float) -> bool:
        return self.h_recent <= max(COLLAPSE * self.h_max, min_step(t))

    def describe(self) -> str:
        return (
            f"at the recent step size (about {self.h_recent:.2g}) reaching t={self.t1:g} "
            f"would take about {self.needed:.2g} more steps"
        )


def _raised_in(exc: BaseException, funcs: tuple[Any, ...]) -> bool:
    """Whether ``exc`` passed through one of ``funcs`` (the RHS or Jacobian we handed SciPy)."""
    codes = {getattr(f, "__code__", None) for f in funcs}
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return True
        tb = tb.tb_next
    return False


def _stats(solver: OdeSolver, method: str, nsteps: int, ndense: int, auto_h0: bool) -> Stats:
    nreject = 0
    per_attempt = RK_EVALS_PER_ATTEMPT.get(method)
    if per_attempt is not None:
        # Explicit RK: every attempt costs exactly ``per_attempt`` evaluations after the
        # initial f(t0) (and the initial-step probe), so attempts - accepted = rejected.
        setup = 1 + (1 if auto_h0 else 0)
        attempts = (solver.nfev - setup - DENSE_EVALS.get(method, 0) * ndense) // per_attempt
        nreject = max(0, attempts - nsteps)
    return Stats(
        nf=int(solver.nfev),
        njacs=int(solver.njev),
        nw=int(solver.nlu),
        naccept=nsteps,
        nreject=nreject,
    )


def integrate(
    fun: Rhs,
    t0: float,
    t1: float,
    y0: FloatArray,
    method: str,
    *,
    rtol: float,
    atol: float | FloatArray,
    maxiters: int,
    saveat: FloatArray | None = None,
    jac: Any = None,
    dense: bool = False,
    first_step: float | None = None,
    save_cols: int | None = None,
    progress: Progress | None = None,
    stop: Callable[[float, float, DenseOutput], float | None] | None = None,
    save_start: bool = True,
) -> Run:
    """Integrate ``y' = fun(t, y)`` from t0 to t1 (either direction) with a SciPy solver.

    ``saveat=None`` saves t0 and every accepted step; otherwise exactly the given times
    (sorted in the direction of integration), from each step's interpolant. ``save_cols``
    keeps only the first columns of y at the save points (the dense path keeps all).
    ``maxiters`` bounds the accepted steps, and a run that clearly cannot reach t1 within
    them stops early (``_Pace``). Solver trouble never raises: it ends the run with a
    retcode, a message naming the failure time, and the points saved so far. Exceptions
    raised by ``fun`` itself propagate unchanged. ``progress`` hears of every accepted step.

    ``stop(t_prev, t, piece)`` (events, ``bridge/_reference/events.py``) is asked after every
    accepted step, with the step's interpolant; when it returns a time in (t_prev, t], the
    run ends there (``Run.stopped``, ``t_stop``, ``y_stop``), having saved the save points
    strictly before it (with ``saveat=None``, the stop time itself). ``save_start=False``
    does not save t0 when ``saveat`` is None (a restart whose start is saved already).

    Example
    -------
    >>> run = integrate(lambda t, y: -y, 0.0, 1.0, np.array([1.0]), "DOP853",
    ...                 rtol=1e-8, atol=1e-10, maxiters=1000, saveat=np.array([1.0]))
    >>> run.retcode, bool(abs(run.y[0, 0] - np.exp(-1)) < 1e-8)
    ('Success', True)
    """
    # Implicit solvers meet NaNs at trial points inside Newton iterations; the watch costs
    # ~1 µs per evaluation, small beside an implicit step's linear algebra. Explicit RK keeps
    # its stages (``solver.K``) and LSODA accepts a NaN into its state, so they need none.
    watch = _NanWatch()
    user_fun = fun
    if method in ("Radau", "BDF"):
        fun = watch.wrap(user_fun)
    explicit = method in RK_EVALS_PER_ATTEMPT

    # check_options clamps (and warns about) a user's reltol below MIN_RELTOL; the clamp here
    # covers the backward pass, whose tolerance is derived, and keeps SciPy from warning.
    kwargs: dict[str, Any] = {"rtol": max(rtol, MIN_RELTOL), "atol": atol}
    if first_step is not None:
        kwargs["first_step"] = first_step
    if jac is not None and method in TAKES_JACOBIAN:
        kwargs["jac"] = jac
    solver = SOLVERS[method](fun, t0, y0, t1, **kwargs)
    watch.t_now = t0

    cols = len(y0) if save_cols is None else save_cols
    direction = 1.0 if t1 > t0 else -1.0
    ts: list[float] = []
    ys: list[FloatArray] = []
    nsave = 0 if saveat is None else len(saveat)
    k = 0  # next save point
    if saveat is None:
        if save_start:
            ts.append(t0)
            ys.append(np.array(y0[:cols], dtype=np.float64))
    elif nsave and saveat[0] == t0:
        ts.append(t0)
        ys.append(np.array(y0[:cols], dtype=np.float64))
        k = 1
    breaks: list[float] = [t0]
    pieces: list[DenseOutput] = []

    pace = _Pace(t0, t1, maxiters)
    nsteps = ndense = tiny = 0
    t_prev = t0
    retcode, message = retcodes.SUCCESS, ""
    stopped_at: float | None = None
    y_stop: FloatArray | None = None

    def collapse_code(code: str) -> str:
        nonfinite = watch.seen or _nonfinite_near(solver, user_fun, t1)
        return retcodes.UNSTABLE if nonfinite else code

    while solver.status == "running":
        if nsteps >= maxiters:
            retcode = retcodes.MAXITERS
            pace.estimate(float(solver.t), abs(float(solver.t) - t_prev), 1)
            message = (
                f"reached maxiters={maxiters} steps at t={float(solver.t)!r}; "
                f"{pace.describe()}; raise maxiters" + (f", or {STIFF_HINT}" if explicit else "")
            )
            break
        try:
            msg = solver.step()
        except (ValueError, ArithmeticError) as exc:
            # The user's (or generated) code raising is the user's business: re-raise it
            # untouched. SciPy's own linear algebra refusing a NaN Jacobian is solver trouble.
            if _raised_in(exc, (user_fun, jac)):
                raise
            nonfinite = (
                watch.seen
                or "inf" in str(exc)
                or "NaN" in str(exc)
                or _nonfinite_near(solver, user_fun, t1)
            )
            retcode = retcodes.UNSTABLE if nonfinite else retcodes.FAILURE
            message = f"scipy {method} failed at t={float(solver.t)!r}: {exc}"
            break
        if solver.status == "failed":
            code = retcodes.from_failure(msg, False)
            retcode = collapse_code(code) if code == retcodes.DT_LESS_THAN_MIN else code
            if retcode == retcodes.FAILURE and watch.seen:
                retcode = retcodes.UNSTABLE
            message = f"{msg} (at t={float(solver.t)!r})"
            break
        nsteps += 1
        t, y = float(solver.t), solver.y
        if not retcodes.is_finite(y):
            retcode, message = retcodes.UNSTABLE, f"the state became NaN or inf at t={t!r}"
            break
        step = abs(t - t_prev)
        if watch.seen:
            watch.accepted(t, step)
        watch.t_now = t
        # The first test is a cheap bound (10 spacings <= 10 eps |t|) that skips the exact
        # one on almost every step.
        if step <= _SPACINGS_BOUND * abs(t) + 1e-322 and step < min_step(t) and t != t1:
            # LSODA keeps accepting steps at the resolution of floats near a singularity
            # (SciPy's other solvers stop there with TOO_SMALL_STEP); stop it the same way.
            tiny += 1
            if tiny >= TINY_RUN:
                retcode = collapse_code(retcodes.DT_LESS_THAN_MIN)
                message = f"the step size fell below the spacing of floats at t={t!r}"
                break
        else:
            tiny = 0
        pace.h_max = max(pace.h_max, step)
        if progress is not None:
            progress.update(t, nsteps)
        if nsteps % PACE_EVERY == 0 and pace.check(t, nsteps):
            if pace.collapsed(t):
                retcode = collapse_code(retcodes.DT_LESS_THAN_MIN)
                message = (
                    f"stopped early at t={t!r} after {nsteps} steps: the step size collapsed "
                    f"from {pace.h_max:.2g} (the largest step) to about {pace.h_recent:.2g}, "
                    f"so reaching t={t1:g} would take about {pace.needed:.2g} more steps; the "
                    f"solution is probably singular near "
                    f"t={t:.6g} (it blows up, or its derivative is unbounded, e.g. a "
                    "division by a state that reaches 0): check the model there"
                    + (f"; {STIFF_HINT}" if explicit else "")
                )
            else:
                retcode = retcodes.MAXITERS
                message = (
                    f"stopped early at t={t!r} after {nsteps} steps: {pace.describe()}, "
                    f"far more than maxiters={maxiters} allows"
                    + (f"; {STIFF_HINT}" if explicit else "")
                    + "; or raise maxiters to run it to the end"
                )
            break
        if step == 0.0:
            continue  # t did not move: nothing to save, no interval to interpolate
        t_start, t_prev = t_prev, t
        piece = None
        if dense or stop is not None:
            piece = solver.dense_output()
            ndense += 1
        if stop is not None:
            assert piece is not None
            stopped_at = stop(t_start, t, piece)
            if stopped_at is not None:
                y_stop = _state_at(stopped_at, solver, piece)
                k = _save_until(stopped_at, y_stop, piece, saveat, k, direction, cols, ts, ys)
                if dense:
                    pieces.append(piece)
                    breaks.append(stopped_at)
                break
        if dense:
            pieces.append(piece)
            breaks.append(t)
        if saveat is None:
            ts.append(t)
            ys.append(y[:cols].copy())
            continue
        j = k
        while j < nsave and direction * (saveat[j] - t) < 0:
            j += 1
        if j > k:
            if piece is None:
                piece = solver.dense_output()
                ndense += 1
            inside = saveat[k:j]
            ts.extend(inside.tolist())
            ys.extend(np.asarray(piece(inside))[:cols].T)
        if j < nsave and saveat[j] == t:
            ts.append(t)
            ys.append(y[:cols].copy())
            j += 1
        k = j
    if retcode == retcodes.SUCCESS and k < nsave and stopped_at is None:
        # The last step may land a rounding error away from t1; the save points that
        # remain lie within that error, so the final state is the right value for them.
        for tk in saveat[k:]:  # type: ignore[index]
            ts.append(float(tk))
            ys.append(solver.y[:cols].copy())

    y_arr = np.array(ys, dtype=np.float64).reshape(len(ys), cols)
    return Run(
        t=np.array(ts, dtype=np.float64),
        y=y_arr,
        retcode=retcode,
        message=message,
        stats=_stats(solver, method, nsteps, ndense, first_step is None),
        dense=Trajectory(breaks, pieces) if dense else None,
        next_step=getattr(solver, "h_abs", None),
        t_stop=float(solver.t) if stopped_at is None else stopped_at,
        stopped=stopped_at is not None,
        y_stop=np.array(solver.y, dtype=np.float64) if y_stop is None else y_stop,
    )


def _state_at(t: float, solver: OdeSolver, piece: Any) -> FloatArray:
    """The whole state at ``t`` within the last step: exact at its end, else interpolated."""
    if t == float(solver.t):
        return np.array(solver.y, dtype=np.float64)
    return np.asarray(piece(t), dtype=np.float64).copy()


def _save_until(
    t_stop: float,
    y_stop: FloatArray,
    piece: Any,
    saveat: FloatArray | None,
    k: int,
    direction: float,
    cols: int,
    ts: list[float],
    ys: list[FloatArray],
) -> int:
    """Save what a run stopped at ``t_stop`` owes: the save points strictly before it, or,
    saving every step, ``t_stop`` itself. Returns the next save point's index."""
    if saveat is None:
        ts.append(t_stop)
        ys.append(y_stop[:cols].copy())
        return k
    j = k
    while j < len(saveat) and direction * (saveat[j] - t_stop) < 0:
        j += 1
    if j > k:
        inside = saveat[k:j]
        ts.extend(inside.tolist())
        ys.extend(np.asarray(piece(inside))[:cols].T)
    return j
