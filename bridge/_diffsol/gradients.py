"""Gradients on diffsol: forward sensitivities or the discrete adjoint, as a pullback.

u0 are inputs of the DiffSL model (``ic0..``) beside p (``p0..``), so diffsol's
sensitivities with respect to its inputs are d/dp and d/du0 at once, in the input order
(p, then u0); the pullbacks return them as ``Gradients(u0, p)``.

* **forward** (``ForwardDiffSensitivity``): one solve of the state and its n + m
  sensitivities at the save times; the pullback is the fixed linear map
  ``bridge._solution.DensePullback`` (it pickles, so ensembles ship it back from workers);
* **adjoint** (every adjoint name): ``solve_adjoint_fwd`` keeps diffsol's checkpoints, and
  each pullback runs ``solve_adjoint_bkwd`` with the cotangent as dg/du at the save times.

Saving every step (``saveat=None``), the steps of a plain solve become the save times of
the sensitivity solve, so the cotangent has one row per step as ``sol.u`` has.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import numpy as np

from .._errors import SolveFailedError, SolverWarning
from .._model import FloatArray
from .._solution import DensePullback, Gradients
from .run import SUCCESS, BackwardFailed, Integrator, Run, execute


class AdjointPullback:
    """The pullback of an adjoint forward pass: one diffsol backward solve per call.

    diffsol's backward pass can fail where the forward solve did not, or panic (a right-hand
    side that depends on t but not on the state, started at t0 != 0: "t is outside of the
    checkpoints"); the pullback then computes the gradient from forward sensitivities at
    the same save times, once, says so with a ``SolverWarning``, and uses them from then on.
    """

    def __init__(
        self,
        integ: Integrator,
        method: str,
        adjoint: tuple[object, object],
        grid: FloatArray,
        *,
        forward_method: str,
    ) -> None:
        self.integ = integ
        self.method = method
        self.forward_method = forward_method
        self.adjoint = adjoint
        self.grid = grid
        self.m = len(integ.p)
        self.fallback: DensePullback | None = None
        self._lock = threading.Lock()

    def __call__(self, cotangent: FloatArray) -> Gradients:
        if self.fallback is None:
            dgdu = np.ascontiguousarray(cotangent.T)  # diffsol wants (nout, nt)
            try:
                g = self.integ.backward(self.method, self.adjoint, dgdu)
            except BackwardFailed as exc:
                return self._forward(exc)(cotangent)
            m = self.m
            return Gradients(u0=np.ascontiguousarray(g[m:]), p=np.ascontiguousarray(g[:m]))
        return self.fallback(cotangent)

    def _forward(self, why: BackwardFailed) -> DensePullback:
        with self._lock:
            if self.fallback is None:
                run = execute(self.integ, self.forward_method, "fwd_sens", self.grid)
                if run.retcode != SUCCESS:
                    raise SolveFailedError(
                        f"{why}, and forward sensitivities at the same save times ended with "
                        f"retcode {run.retcode} ({run.message}); try tighter tolerances or "
                        "another algorithm",
                        retcode=run.retcode,
                    )
                self.fallback = forward_pullback(run, self.integ.n, self.m)
                warnings.warn(
                    f"{why}; the gradient comes from forward sensitivities ({run.method}) at "
                    "the same save times instead",
                    SolverWarning,
                    stacklevel=4,
                )
        return self.fallback


def forward_pullback(run: Run, n: int, m: int) -> DensePullback:
    """``DensePullback`` from diffsol's sensitivities (inputs p, u0 -> θ = (u0, p))."""
    assert run.sens is not None
    sens = np.concatenate([run.sens[:, m:, :], run.sens[:, :m, :]], axis=1)
    return DensePullback(np.ascontiguousarray(sens), n_states=n)


def vjp_run(
    integ: Integrator, requested: str, mode: str
) -> tuple[Run, Callable[[FloatArray], Gradients] | None, str]:
    """The solve with sensitivities (``mode``: "forward" or "adjoint"), its pullback, and
    the mode that ran: a span too short for diffsol's adjoint backward pass (it would panic,
    ``Integrator.adjoint_starts``) runs forward sensitivities instead.

    A failed run comes back with no pullback (``bridge.vjp`` raises ``SolveFailedError``).
    """
    grid = integ.grid
    base: Run | None = None
    if grid is None:
        base = execute(integ, requested, "every")
        if base.retcode != SUCCESS:
            return base, None, mode
        grid, requested = base.s, base.method
    kind = "fwd_sens" if mode == "forward" else "adjoint"
    run = execute(integ, requested, kind, grid)
    if base is not None:
        run.steps, run.note = base.steps, base.note or run.note
    if run.retcode == SUCCESS and mode == "adjoint" and not integ.adjoint_starts(run.s[-1]):
        mode = "forward"
        note = run.note
        run = execute(integ, requested, "fwd_sens", grid)
        run.note = note or run.note
        if base is not None:
            run.steps = base.steps
    if run.retcode != SUCCESS:
        return run, None, mode
    if mode == "forward":
        return run, forward_pullback(run, integ.n, len(integ.p)), mode
    assert run.adjoint is not None
    pullback = AdjointPullback(integ, run.method, run.adjoint, grid, forward_method=requested)
    return run, pullback, mode


__all__ = ["AdjointPullback", "forward_pullback", "vjp_run"]
