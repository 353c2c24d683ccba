"""Interpolating adjoint: a dense forward solve, then λ and μ backwards with jumps.

For a loss L of the saved states u(t_i), with c_i = ∂L/∂u(t_i)::

    λ' = -Jᵀ λ          (vjp_u),  λ(t_N) = c_N,  λ ← λ + c_i  on reaching t_i
    μ' = -(∂f/∂p)ᵀ λ    (vjp_p),  μ(t_N) = 0
    dL/du0 = λ(t0),  dL/dp = μ(t0)

integrated from the last save point back to t0 (for reverse-time spans "back" means
increasing t; the formulas are the same). u(t) comes from the forward solve's interpolants,
as in SciMLSensitivity's ``InterpolatingAdjoint`` without checkpointing. μ is integrated
alongside λ, under the same error control, instead of by a separate quadrature. The
absolute tolerance is ``abstol * max(1, max|cotangent|)``: the adjoint is linear in the
cotangent, so its tolerance scales with it (SciMLSensitivity uses abstol as is).

A jump changes the state, so each segment between save points starts a fresh solver
(as a callback's ``u_modified!`` restarts the step in OrdinaryDiffEq); the step size the
previous segment ended with is the next one's first step.

The jumps make the backward pass take at least one step per save point, however smooth
the problem: with a dense ``saveat`` (10^6 points over 20 forward steps) that is 10^6
steps of 12 evaluations each. So when the save points outnumber ``SAVES_PER_STEP × n``
times the forward steps, ``vjp`` computes the same vector-Jacobian product by forward
sensitivities instead (``forward.py``), whose cost grows with the steps and not with the
save points, as long as the forward system (n(n+m+1) states) is not too large; ``sol.alg``
says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._errors import SolveFailedError
from .._model import FloatArray, Model
from .._progress import Progress
from .._solution import Gradients, Solution, Stats
from . import forward
from .driver import Rhs, Trajectory, integrate
from .events import EventRun, Hit, add_stats
from .jumps import adjoint_jump
from .methods import TAKES_JACOBIAN, for_size, scipy_method
from .solve import interpolant, run_forward, to_solution, warn_sliding

#: Forward sensitivities replace the jumps when there are more than this many save points
#: per forward step and state. Measured (vjp + pullback, shared 2-core machine): on
#: Lotka–Volterra (n = 2, 61 steps) the two cost the same at 0.2 save points per step and
#: state, and forward is 1.4x cheaper at 0.7, 2x at 1.3, 6x at 5; on a 49-species chain
#: (n = m = 49, 10 steps) forward is 3x cheaper at 0.4 and 4x at 2.
SAVES_PER_STEP = 1
#: ... unless the forward-sensitivity system would have more states than this.
FORWARD_SIZE_LIMIT = 20_000


def prefers_forward(n_save: int, n_steps: int, n: int, m: int) -> bool:
    """Whether a pullback with ``n_save`` jumps is cheaper by forward sensitivities.

    Example
    -------
    >>> prefers_forward(10**6, 60, 2, 4), prefers_forward(100, 60, 2, 4)
    (True, False)
    """
    # A save per step (saveat=None) is n_steps + 1 points: never a reason to switch.
    return n_save > SAVES_PER_STEP * max(n, 1) * (n_steps + 1) and (
        n * (n + m + 1) <= FORWARD_SIZE_LIMIT
    )


if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._validate import SolveOptions


def adjoint_rhs(
    model: Model, p: FloatArray, traj: Trajectory, sparse: bool
) -> tuple[Rhs, Callable[..., Any]]:
    """``fun`` and ``jac`` of the backward system in y = [λ, μ].

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> traj = lambda t: np.array([np.exp(-t)])   # anything callable at t works
    >>> fun, _ = adjoint_rhs(prob.model, prob.p, traj, sparse=False)
    >>> fun(0.0, np.array([2.0, 0.0]))             # λ' = p λ, μ' = u λ
    array([2., 2.])
    """
    n, m = model.n_states, model.n_params
    vjp_u, vjp_p, df, dfp = model.vjp_u, model.vjp_p, model.jac, model.paramjac

    def fun(t: float, y: FloatArray) -> FloatArray:
        u = traj(t)
        lam = y[:n]
        out = np.empty_like(y)
        out[:n] = vjp_u(lam, u, p, t)
        if m:
            out[n:] = vjp_p(lam, u, p, t)
        np.negative(out, out=out)
        return out

    def jac(t: float, y: FloatArray) -> Any:
        u = traj(t)
        top = -df(u, p, t).T
        if sparse:
            left = sp.vstack([sp.csc_matrix(top), sp.csc_matrix(-dfp(u, p, t).T)])
            return sp.hstack([left, sp.csc_matrix((n + m, m))], format="csc")
        out = np.zeros((n + m, n + m))
        out[:n, :n] = top
        if m:
            out[n:, :n] = -dfp(u, p, t).T
        return out

    return fun, jac


def backward(
    model: Model,
    p: FloatArray,
    run: EventRun,
    save_t: FloatArray,
    cotangent: FloatArray,
    method: str,
    opts: SolveOptions,
    progress: Progress | None = None,
) -> tuple[Gradients, Stats]:
    """Run the adjoint from the last save point with a non-zero cotangent back to t0.

    It walks the forward run's segments backwards, each with its own trajectory, adding
    each save point's cotangent on reaching it and taking each event's transposed jump
    (``jumps.adjoint_jump``) at the start of the segment it began.

    Raises SolveFailedError when a backward segment fails (the gradient would be wrong).
    """
    n, m = model.n_states, model.n_params
    method, sparse = for_size(method, n + m)
    stats = Stats()
    y = np.zeros(n + m)
    if not np.any(cotangent != 0):
        return Gradients(u0=np.zeros(n), p=np.zeros(m)), stats
    # λ and μ are linear in the cotangent, so the absolute tolerance scales with it: scaling
    # the loss by 1e4 must not demand 1e4 times more relative accuracy. (With the raw
    # abstol, BDF cannot even start on Robertson with cotangents ~1e4 and abstol 1e-12.)
    atol = opts.abstol * max(1.0, float(np.max(np.abs(cotangent))))
    live = False  # y is zero until the first non-zero cotangent: no backward solve needed
    hint: float | None = None

    def cotangent_at(i: int | None) -> FloatArray | None:
        return None if i is None else cotangent[i]

    def jump(hit: Hit) -> None:
        nonlocal live
        for i in hit.after:  # values saved at t⁺, after the events
            y[:n] += cotangent[i]
        c_pre, c_post = cotangent_at(hit.pre), cotangent_at(hit.post)
        if live or any(
            c is not None and np.any(c != 0) for c in (c_pre, c_post, *map(cotangent_at, hit.after))
        ):
            y[:n] = adjoint_jump(run.events, p, hit, y[:n], y[n:], c_pre, c_post)
            live = True

    def leg(fun: Rhs, jac: Any, t_start: float, t_end: float) -> None:
        nonlocal hint, y
        if not live or t_end == t_start:
            return
        span = abs(t_end - t_start)
        part = integrate(
            fun, t_start, t_end, y, method, rtol=opts.reltol, atol=atol,
            maxiters=opts.maxiters, saveat=np.array([t_end]), jac=jac,
            first_step=None if hint is None else min(hint, span), progress=progress,
        )  # fmt: skip
        add_stats(stats, part.stats)
        if part.retcode != "Success":
            raise SolveFailedError(
                f"the adjoint (backward) solve ended with retcode {part.retcode} between "
                f"t={float(t_start)!r} and t={float(t_end)!r}: {part.message}",
                retcode=part.retcode,
            )
        y = part.y[-1].copy()
        hint = part.next_step if part.next_step and part.next_step > 0 else None

    if run.hits and run.hits[-1].terminal:
        jump(run.hits[-1])
    for seg in reversed(run.segments):
        assert seg.traj is not None
        fun, jac = adjoint_rhs(model, p, seg.traj, sparse)
        jac_arg = jac if method in TAKES_JACOBIAN else None
        t_cur = seg.t_end
        for i in reversed(seg.saves):
            leg(fun, jac_arg, t_cur, float(save_t[i]))
            y[:n] += cotangent[i]
            live = live or bool(np.any(cotangent[i] != 0))
            t_cur = float(save_t[i])
        leg(fun, jac_arg, t_cur, seg.t_start)
        if seg.hit is not None:
            jump(seg.hit)
    return Gradients(u0=y[:n].copy(), p=y[n:].copy()), stats


def vjp(
    prob: ODEProblem,
    alg: Algorithm,
    opts: SolveOptions,
    label_suffix: str = " + adjoint",
    sensealg: str = "InterpolatingAdjoint",
) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
    """Dense forward solve now; the pullback runs the backward solve per cotangent.

    The pullback's ``Gradients.stats`` are the backward solve's counts.
    It owns what it reads (the dense solution, a copy of the save times, the problem's own
    copy of p): editing ``sol.t``, ``sol.u`` or the arrays the problem was built from after
    ``vjp`` does not change its answers.

    With many more save points than forward steps, forward sensitivities run instead
    (``prefers_forward``): the jumps cost at least one backward step per save point, the
    forward sensitivities only the forward steps.

    Example
    -------
    >>> import bridge
    >>> from bridge._algorithms import ALGORITHMS
    >>> from bridge._validate import check_options
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> opts = check_options((0.0, 1.0), [1.0], 1e-10, 1e-12, 10**5)
    >>> sol, pb = vjp(prob, ALGORITHMS["Tsit5"], opts)
    >>> g = pb(np.ones((1, 1)))
    >>> bool(abs(g.u0[0] - np.exp(-1)) < 1e-8), bool(abs(g.p[0] + np.exp(-1)) < 1e-8)
    (True, True)
    """
    run, alg_label = run_forward(
        prob, alg, opts, dense=True, what="solve for the adjoint", gradient=True
    )
    n_save, n_steps = len(run.t), run.stats.naccept
    dense_saves = opts.saveat is not None and prefers_forward(
        n_save, n_steps, prob.n_states, prob.n_params
    )
    if run.retcode == "Success" and dense_saves:
        return forward.vjp(
            prob,
            alg,
            opts,
            f" + forward sensitivities (for {sensealg}: {n_save} save points over {n_steps} "
            "steps make the adjoint's jumps dearer)",
        )
    sol = to_solution(run, alg_label + label_suffix)
    warn_sliding(prob, run)
    model, p, t0 = prob.model, prob.p, prob.tspan[0]
    sol.interpolant = interpolant(t0, run, lambda: run.at)
    save_t = run.t.copy()
    method = scipy_method(alg)

    def pullback(cotangent: FloatArray) -> Gradients:
        nonzero = np.flatnonzero(np.any(cotangent != 0, axis=1))
        t_last = float(save_t[nonzero[-1]]) if nonzero.size else t0
        progress = Progress(
            t_last, t0, f"adjoint of {prob.name!r} with {alg.name}", bar=opts.progress
        )
        try:
            grads, stats = backward(model, p, run, save_t, cotangent, method, opts, progress)
        finally:
            progress.close()
        grads.stats = stats
        return grads

    return sol, pullback
