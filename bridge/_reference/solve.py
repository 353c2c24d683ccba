"""``solve``: one forward integration of the model with the mapped SciPy method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._model import FloatArray, Model
from .._progress import Progress
from .._solution import Solution
from .driver import STIFF_HINT, Rhs, Run, integrate
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


def to_solution(run: Run, alg_label: str, n: int | None = None) -> Solution:
    """Wrap a run (optionally keeping only the first ``n`` columns of the state)."""
    u = run.y if n is None else np.ascontiguousarray(run.y[:, :n])
    return Solution(
        t=run.t,
        u=u,
        retcode=run.retcode,
        stats=run.stats,
        alg=alg_label,
        backend=BACKEND_NAME,
        message=run.message,
    )


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
) -> tuple[Run, str]:
    """Integrate the problem itself; returns the run and the ``Solution.alg`` label."""
    method = scipy_method(alg)
    fun, jac = rhs(prob.model, prob.p)
    t0, t1 = prob.tspan
    progress = progress_of(prob, alg, opts, what, t0, t1)
    try:
        run = integrate(
            fun,
            t0,
            t1,
            prob.u0,
            method,
            rtol=opts.reltol,
            atol=opts.abstol,
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
    return to_solution(run, alg_label)
