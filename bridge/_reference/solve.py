"""``solve``: one forward integration of the model with the mapped SciPy method."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import GradientWarning, user_stacklevel
from .._model import FloatArray, Model
from .._progress import Progress
from .._solution import Interpolant, Solution
from .driver import STIFF_HINT, Rhs, Run
from .events import EventRun, integrate_events
from .methods import RK_EVALS_PER_ATTEMPT, TAKES_JACOBIAN, label, scipy_method

if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._validate import SolveOptions

BACKEND_NAME = "reference"


def rhs(model: Model, p: FloatArray) -> tuple[Rhs, Any]:
    """SciPy-shaped ``fun(t, y)`` and ``jac(t, y)`` (None without derivatives) for a model.

    They bind ``p`` once and do no checking: they are the hot path.

    Example
    -------
    >>> from bridge._model import OpaqueModel
    >>> fun, jac = rhs(OpaqueModel(lambda u, p, t: -p[0] * u, 1, 1), np.array([2.0]))
    >>> fun(0.0, np.array([1.0])), jac
    (array([-2.]), None)
    """
    f = model.f

    def fun(t: float, y: FloatArray) -> FloatArray:
        return f(y, p, t)

    if not model.has_derivatives:
        return fun, None
    df = model.jac

    def jac(t: float, y: FloatArray) -> FloatArray:
        return df(y, p, t)

    return fun, jac


def to_solution(run: Run | EventRun, alg_label: str, n: int | None = None) -> Solution:
    """Wrap a run (optionally keeping only the first ``n`` columns of the state)."""
    u = run.y if n is None else np.ascontiguousarray(run.y[:, :n])
    sol = Solution(
        t=run.t,
        u=u,
        retcode=run.retcode,
        stats=run.stats,
        alg=alg_label,
        backend=BACKEND_NAME,
        message=run.message,
    )
    if isinstance(run, EventRun):
        sol.t_events, sol.u_events = run.t_events, run.u_events
    return sol


def warn_sliding(prob: ODEProblem, run: Run | EventRun) -> None:
    """Warn when a gradient's trajectory slides along a switching surface of its own
    right-hand side: the jump conditions assume a crossing, so the gradient is not exact."""
    sliding = run.sliding if isinstance(run, EventRun) else None
    if sliding:
        warnings.warn(
            f"the solution of {prob.name!r} slides along a switching surface of its "
            f"right-hand side ({'; '.join(sliding)}): it does not cross it, so the "
            "gradient there is not exact (the jump conditions assume a crossing)",
            GradientWarning,
            stacklevel=user_stacklevel(),
        )


def watched(
    prob: ODEProblem, opts: SolveOptions, *, gradient: bool = False
) -> tuple[list[Any], int]:
    """The traced events a solve watches, and how many of them are the user's (first).

    With ``gradient``, the jumping switches of the right-hand side join them, as events on
    their switching surfaces (``bridge._trace.events.switch_events``), so that the
    sensitivities jump where the solution crosses them.
    """
    user = [event.traced(prob) for event in opts.events]
    extra: tuple[Any, ...] = ()
    if gradient and prob.model.has_derivatives:
        from .._trace.events import switch_events

        extra = switch_events(prob.model) or ()
    return [*user, *extra], len(user)


def interpolant(
    t0: float, run: EventRun, make: Callable[[], Callable[[FloatArray], FloatArray]]
) -> Interpolant:
    """``sol(t)`` of a run: on its span, from the dense solve ``make`` builds on first use."""
    return Interpolant((t0, run.t_stop), make)


def progress_of(
    prob: ODEProblem, alg: Algorithm, opts: SolveOptions, what: str, t0: float, t1: float
) -> Progress:
    """The ``Progress`` of one integration (a bar with ``progress=True``, else a late notice).

    Example
    -------
    >>> import bridge
    >>> from bridge._algorithms import ALGORITHMS
    >>> from bridge._validate import check_options
    >>> prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0), trace=False)
    >>> opts = check_options(prob.tspan, None, 1e-3, 1e-6, 100)
    >>> progress_of(prob, ALGORITHMS["Tsit5"], opts, "solve", 0.0, 1.0).what
    "solve of 'rhs' with Tsit5 (reference: scipy DOP853)"
    """
    method = scipy_method(alg)
    hint = STIFF_HINT[0].upper() + STIFF_HINT[1:] + "." if method in RK_EVALS_PER_ATTEMPT else ""
    return Progress(
        t0, t1, f"{what} of {prob.name!r} with {label(alg, method)}", bar=opts.progress, hint=hint
    )


def run_forward(
    prob: ODEProblem,
    alg: Algorithm,
    opts: SolveOptions,
    *,
    dense: bool = False,
    what: str = "solve",
    gradient: bool = False,
) -> tuple[EventRun, str]:
    """Integrate the problem itself (with its events and tstops; with ``gradient``, also
    stopping at the switching surfaces); returns the run and the ``Solution.alg`` label."""
    method = scipy_method(alg)
    model, p = prob.model, prob.p
    fun, jac = rhs(model, p)
    t0, t1 = prob.tspan
    events, n_user = watched(prob, opts, gradient=gradient)
    progress = progress_of(prob, alg, opts, what, t0, t1)
    try:
        run = integrate_events(
            fun,
            t0,
            t1,
            prob.u0,
            method,
            n=prob.n_states,
            f=lambda u, t: model.f(u, p, t),
            p=p,
            events=events,
            n_user=n_user,
            tstops=opts.tstops,
            rtol=opts.reltol,
            atol=opts.atol,
            maxiters=opts.maxiters,
            saveat=opts.saveat,
            jac=jac if method in TAKES_JACOBIAN else None,
            dense=dense,
            progress=progress,
        )
    finally:
        progress.close()
    return run, label(alg, method)


def solve(prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
    """Solve ``prob`` with the SciPy stand-in for ``alg``.

    Example
    -------
    >>> import bridge
    >>> from bridge._algorithms import ALGORITHMS
    >>> from bridge._validate import check_options
    >>> prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0), trace=False)
    >>> sol = solve(prob, ALGORITHMS["Tsit5"], check_options(prob.tspan, [1.0], 1e-8, 1e-10, 10**5))
    >>> sol.retcode, sol.alg
    ('Success', 'Tsit5 (reference: scipy DOP853)')
    """
    run, alg_label = run_forward(prob, alg, opts)
    sol = to_solution(run, alg_label)
    quiet = dataclasses.replace(opts, progress=False)

    def dense() -> Callable[[FloatArray], FloatArray]:
        # The same steps again, keeping each step's interpolant: it agrees with sol.u.
        return run_forward(prob, alg, quiet, dense=True, what="dense solve for sol(t)")[0].at

    sol.interpolant = interpolant(prob.tspan[0], run, dense)
    return sol
