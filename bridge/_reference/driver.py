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
from .._solution import Stats
from . import retcodes
from .methods import DENSE_EVALS, RK_EVALS_PER_ATTEMPT, SOLVERS, TAKES_JACOBIAN

#: SciPy refuses rtol below 100 machine epsilons (and warns); clamp quietly instead.
MIN_RTOL = 100 * np.finfo(float).eps

#: A step shorter than this times |t| is at the resolution of floats (about 10 ulp).
_TINY = 10 * np.finfo(float).eps

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


def _nonfinite_seen(solver: OdeSolver, fun: Rhs) -> bool:
    """After a failed step: did a NaN/inf cause it? (Only runs once, off the hot path.)"""
    stages = getattr(solver, "K", None)  # explicit RK: the stages of the last attempt
    if stages is not None and not retcodes.is_finite(stages):
        return True
    if not retcodes.is_finite(solver.y):
        return True
    return not retcodes.is_finite(np.asarray(fun(solver.t, solver.y), dtype=np.float64))


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
    atol: float,
    maxiters: int,
    saveat: FloatArray | None = None,
    jac: Any = None,
    dense: bool = False,
    first_step: float | None = None,
) -> Run:
    """Integrate ``y' = fun(t, y)`` from t0 to t1 (either direction) with a SciPy solver.

    ``saveat=None`` saves t0 and every accepted step; otherwise exactly the given times
    (sorted in the direction of integration), from each step's interpolant. ``maxiters``
    bounds the accepted steps. Solver trouble never raises: it ends the run with a retcode
    and the points saved so far. Exceptions raised by ``fun`` itself propagate unchanged.

    Example
    -------
    >>> run = integrate(lambda t, y: -y, 0.0, 1.0, np.array([1.0]), "DOP853",
    ...                 rtol=1e-8, atol=1e-10, maxiters=1000, saveat=np.array([1.0]))
    >>> run.retcode, bool(abs(run.y[0, 0] - np.exp(-1)) < 1e-8)
    ('Success', True)
    """
    # Implicit solvers meet a NaN inside Newton iterations, at trial points, and answer by
    # shrinking the step until it is too small; to call that "Unstable" (as Julia does) we
    # must see it. The check costs ~1 µs per evaluation, small beside an implicit step's
    # linear algebra. Explicit RK keeps its stages (``solver.K``) and LSODA accepts the NaN
    # into its state (caught below), so they need no wrapper.
    nan_seen = [False]
    user_fun = fun
    if method in ("Radau", "BDF"):

        def fun(t: float, y: FloatArray) -> FloatArray:
            out = user_fun(t, y)
            if not retcodes.is_finite(np.asarray(out)):
                nan_seen[0] = True
            return out

    kwargs: dict[str, Any] = {"rtol": max(rtol, MIN_RTOL), "atol": atol}
    if first_step is not None:
        kwargs["first_step"] = first_step
    if jac is not None and method in TAKES_JACOBIAN:
        kwargs["jac"] = jac
    solver = SOLVERS[method](fun, t0, y0, t1, **kwargs)

    direction = 1.0 if t1 > t0 else -1.0
    ts: list[float] = []
    ys: list[FloatArray] = []
    nsave = 0 if saveat is None else len(saveat)
    k = 0  # next save point
    if saveat is None:
        ts.append(t0)
        ys.append(np.array(y0, dtype=np.float64))
    elif nsave and saveat[0] == t0:
        ts.append(t0)
        ys.append(np.array(y0, dtype=np.float64))
        k = 1
    breaks: list[float] = [t0]
    pieces: list[DenseOutput] = []

    nsteps = ndense = 0
    t_prev = t0
    retcode, message = retcodes.SUCCESS, ""
    while solver.status == "running":
        if nsteps >= maxiters:
            retcode = retcodes.MAXITERS
            message = f"reached maxiters={maxiters} steps at t={float(solver.t)!r}; raise maxiters"
            break
        try:
            msg = solver.step()
        except (ValueError, ArithmeticError) as exc:
            # The user's (or generated) code raising is the user's business: re-raise it
            # untouched. SciPy's own linear algebra refusing a NaN Jacobian is solver trouble.
            if _raised_in(exc, (user_fun, jac)):
                raise
            nonfinite = (
                nan_seen[0]
                or "inf" in str(exc)
                or "NaN" in str(exc)
                or _nonfinite_seen(solver, user_fun)
            )
            retcode = retcodes.UNSTABLE if nonfinite else retcodes.FAILURE
            message = f"scipy {method} failed at t={float(solver.t)!r}: {exc}"
            break
        if solver.status == "failed":
            retcode = retcodes.from_failure(msg, nan_seen[0] or _nonfinite_seen(solver, user_fun))
            message = f"{msg} (t={float(solver.t)!r})"
            break
        nsteps += 1
        t, y = solver.t, solver.y.copy()
        if not retcodes.is_finite(y):
            retcode, message = retcodes.UNSTABLE, f"the state became NaN or inf at t={float(t)!r}"
            break
        if abs(t - t_prev) < _TINY * abs(t) and t != t1:
            # LSODA keeps accepting steps at the resolution of floats near a singularity
            # (SciPy's other solvers stop there with TOO_SMALL_STEP); stop it the same way.
            # A NaN met at this step's rejected trial points is the cause: say so.
            retcode = retcodes.UNSTABLE if nan_seen[0] else retcodes.DT_LESS_THAN_MIN
            message = f"the step size fell below the spacing of floats at t={float(t)!r}"
            break
        t_prev = t
        nan_seen[0] = False  # a NaN at a rejected trial point that the solver got past
        piece = None
        if dense:
            piece = solver.dense_output()
            ndense += 1
            pieces.append(piece)
            breaks.append(t)
        if saveat is None:
            ts.append(t)
            ys.append(y)
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
            ys.extend(np.asarray(piece(inside)).T)
        if j < nsave and saveat[j] == t:
            ts.append(t)
            ys.append(y)
            j += 1
        k = j
    if retcode == retcodes.SUCCESS and k < nsave:
        # The last step may land a rounding error away from t1; the save points that
        # remain lie within that error, so the final state is the right value for them.
        for tk in saveat[k:]:  # type: ignore[index]
            ts.append(float(tk))
            ys.append(solver.y.copy())

    n = len(y0)
    y_arr = np.array(ys, dtype=np.float64).reshape(len(ys), n)
    return Run(
        t=np.array(ts, dtype=np.float64),
        y=y_arr,
        retcode=retcode,
        message=message,
        stats=_stats(solver, method, nsteps, ndense, first_step is None),
        dense=Trajectory(breaks, pieces) if dense else None,
        next_step=getattr(solver, "h_abs", None),
    )
