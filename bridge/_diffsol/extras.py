"""``solve`` and ``vjp`` on diffsol with events, tstops, a per-state abstol, or (for
gradients) switches in the right-hand side: the segmented solve of ``segments.py``.

Gradients through events:

* **forward** (``ForwardDiffSensitivity``, and ``auto`` up to ``FORWARD_MAX_INPUTS``):
  diffsol's sensitivities of each segment, chained through the saltation jumps (``drive``
  with ``kind="fwd_sens"``); the pullback is a ``DensePullback`` (it pickles);
* **adjoint** (every adjoint name): each segment's discrete adjoint (``solve_adjoint_bkwd``
  from its checkpoint; diffsol treats the segment's end time as fixed, measured: the
  gradient of v(τ) of a falling ball stopped at the ground is -τ for g, not -τ/2), and the
  transposed jumps (``bridge._reference.jumps.adjoint_jump``) between segments, which put
  in the event times' dependence on u0 and p. If a backward pass fails, the pullback falls
  back to forward sensitivities at the same save points, once, with a ``SolverWarning``.

Saving every step, a gradient takes two passes: the plain segmented solve finds the steps,
then the sensitivity solve runs at those times (as ``gradients.vjp_run`` does without
events), its own events giving the points saved before and after each affect.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .._errors import GradientWarning, SolveFailedError, SolverWarning, user_stacklevel
from .._model import FloatArray
from .._solution import DensePullback, Gradients, Solution, Stats
from .dense import Piece, interpolant
from .methods import diffsol_method, label, sensitivity_mode
from .run import SUCCESS, BackwardFailed
from .segments import Plan, SegmentRun, drive, plan

if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._progress import Progress
    from .._validate import SolveOptions

BACKEND_NAME = "diffsol"


def _solution(pl: Plan, run: SegmentRun, alg: str, suffix: str) -> Solution:
    sol = Solution(
        t=run.t,
        u=np.ascontiguousarray(run.y),
        retcode=run.retcode,
        stats=Stats(naccept=run.steps or 0),
        alg=label(alg, run.method, run.note) + suffix,
        backend=BACKEND_NAME,
        message=run.message,
        t_events=run.t_events,
        u_events=run.u_events,
    )
    if run.segments:
        pieces = []
        for i, seg in enumerate(run.segments):
            final = i == len(run.segments) - 1
            ok = seg.run.retcode == SUCCESS
            pieces.append(
                Piece(
                    seg.integ,
                    seg.kind,
                    seg.run.method,
                    seg.integ.s1 if ok else seg.s_end,
                    seg.s_end,
                    seg.u_after if (ok and final) else None,
                )
            )
        sol.interpolant = interpolant(pieces, pl.sign, pl.prob.tspan[0], pl.to_u)
    return sol


def _grid(pl: Plan) -> FloatArray | None:
    saveat = pl.opts.saveat
    return None if saveat is None else pl.sign * np.asarray(saveat, dtype=np.float64)


def _progress(pl: Plan, what: str) -> Progress:
    from .._progress import Progress

    t0, t1 = pl.prob.tspan
    return Progress(t0, t1, f"{what} of {pl.prob.name!r} on diffsol", bar=pl.opts.progress)


def solve(prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
    """A solve with events, tstops or a per-state abstol (see the module docstring).

    Example
    -------
    >>> import bridge
    >>> ground = bridge.Event(lambda u, p, t: u[0], direction=-1,
    ...                       affect=lambda u, p, t: [u[0], -0.9 * u[1]])
    >>> prob = bridge.ODEProblem(lambda u, p, t: [u[1], -9.81], [1.0, 0.0], (0.0, 1.0))
    >>> sol = bridge.solve(prob, "Tsit5", events=[ground], saveat=[1.0], reltol=1e-10,
    ...                    abstol=1e-12, backend="diffsol")
    >>> round(float(sol.t_events[0][0]), 8)     # sqrt(2 / 9.81)
    0.45152364
    """
    pl = plan(prob, opts, gradient=False)
    grid = _grid(pl)
    bar = _progress(pl, f"solve with {alg.name}")
    try:
        run = drive(pl, "every" if grid is None else "dense", diffsol_method(alg.name),
                    every=grid is None, grid=grid, progress=bar)  # fmt: skip
    finally:
        bar.close()
    return _solution(pl, run, alg.name, "")


def _warn_sliding(prob: ODEProblem, run: SegmentRun) -> None:
    if run.sliding:
        warnings.warn(
            f"the solution of {prob.name!r} slides along a switching surface of its "
            f"right-hand side ({'; '.join(run.sliding)}): it does not cross it, so the "
            "gradient there is not exact (the jump conditions assume a crossing)",
            GradientWarning,
            stacklevel=user_stacklevel(),
        )


def vjp(
    prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
) -> tuple[Solution, Callable[[FloatArray], Gradients] | None]:
    """A solve with sensitivities through events (see the module docstring); a failed
    solve comes back with no pullback."""
    pl = plan(prob, opts, gradient=True)
    mode = sensitivity_mode(sensealg, prob.n_states + prob.n_params)
    requested = diffsol_method(alg.name)
    bar = _progress(pl, f"solve with sensitivities with {alg.name}")
    try:
        grid, every, base = _grid(pl), False, None
        if grid is None:
            base = drive(pl, "every", requested, every=True, grid=None, progress=bar)
            if base.retcode not in (SUCCESS, "Terminated"):
                return _solution(pl, base, alg.name, ""), None
            grid, every, requested = base.inner_s, True, base.method or requested
        kind = "fwd_sens" if mode == "forward" else "adjoint"
        run = drive(pl, kind, requested, every=every, grid=grid)
    finally:
        bar.close()
    if base is not None:
        run.steps, run.note = base.steps, base.note or run.note
    what = "forward sensitivities" if mode == "forward" else "discrete adjoint"
    if sensealg not in ("auto", "ForwardDiffSensitivity"):
        what += f" (for {sensealg})"
    if pl.events and mode != "forward":
        what += " through the events' jumps"
    sol = _solution(pl, run, alg.name, f" + {what}")
    if run.retcode not in (SUCCESS, "Terminated"):
        return sol, None
    _warn_sliding(prob, run)
    if mode == "forward":
        assert run.sens is not None
        return sol, DensePullback(np.ascontiguousarray(run.sens), prob.n_states)

    def forward() -> DensePullback:
        again = drive(pl, "fwd_sens", requested, every=every, grid=grid)
        if again.retcode not in (SUCCESS, "Terminated") or again.t.shape != run.t.shape:
            raise SolveFailedError(
                f"forward sensitivities at the same save points ended with retcode "
                f"{again.retcode} ({again.message or 'other save points'}); try tighter "
                "tolerances or another algorithm",
                retcode=again.retcode,
            )
        assert again.sens is not None
        return DensePullback(np.ascontiguousarray(again.sens), prob.n_states)

    return sol, SegmentAdjoint(pl, run, forward)


class SegmentAdjoint:
    """The pullback of a segmented adjoint solve: each segment's discrete adjoint, last to
    first, and the transposed jumps between them (``adjoint_jump``)."""

    def __init__(self, pl: Plan, run: SegmentRun, forward: Callable[[], DensePullback]) -> None:
        self.pl = pl
        self.run = run
        self._forward = forward
        self.fallback: DensePullback | None = None
        self._lock = threading.Lock()

    def __call__(self, cotangent: FloatArray) -> Gradients:
        if self.fallback is None:
            try:
                return self._backward(cotangent)
            except BackwardFailed as exc:
                with self._lock:
                    if self.fallback is None:
                        self.fallback = self._forward()
                        warnings.warn(
                            f"{exc}; the gradient comes from forward sensitivities at the "
                            "same save points instead",
                            SolverWarning,
                            stacklevel=4,
                        )
        return self.fallback(cotangent)

    def _backward(self, c: FloatArray) -> Gradients:
        from .._reference.jumps import adjoint_jump

        pl, run = self.pl, self.run
        n, m = pl.n, pl.m
        p = pl.prob.p
        lam = np.zeros(n)
        mu = np.zeros(m)

        def row(i: int | None) -> FloatArray | None:
            return None if i is None else c[i]

        for seg in reversed(run.segments):
            hit = seg.hit
            if hit is not None:
                for i in hit.after:  # values saved at τ, after the events
                    lam = lam + c[i]
                c_pre, c_post = row(hit.pre), row(hit.post)
                if np.any(lam != 0) or any(
                    x is not None and np.any(x != 0) for x in (c_pre, c_post)
                ):
                    lam = adjoint_jump(pl.events, p, hit, lam, mu, c_pre, c_post)
            end = lam + sum((c[i] for i in seg.fixed_end), np.zeros(n))
            dgdu = np.zeros((len(seg.run.s), n))
            for col, i in enumerate(seg.inner):
                dgdu[col] += c[i]
            dgdu[-1] += end
            if np.any(dgdu != 0):
                if pl.scaling is not None:
                    dgdu = pl.scaling.cotangent_to_v(dgdu)
                if seg.run.sens is not None:  # a segment too short for diffsol's adjoint
                    g = np.einsum("tkn,tn->k", seg.run.sens, dgdu)
                else:
                    assert seg.run.adjoint is not None
                    g = seg.integ.backward(
                        seg.run.method, seg.run.adjoint, np.ascontiguousarray(dgdu.T)
                    )
                mu += g[:m]
                lam = g[m:] if pl.scaling is None else pl.scaling.gradient_to_u(g[m:])
            else:
                lam = np.zeros(n)
            for i in seg.start_rows:
                lam = lam + c[i]
        return Gradients(u0=np.ascontiguousarray(lam), p=np.ascontiguousarray(mu))


__all__ = ["SegmentAdjoint", "solve", "vjp"]
