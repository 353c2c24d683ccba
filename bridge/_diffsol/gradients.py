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

from collections.abc import Callable

import numpy as np

from .._model import FloatArray
from .._solution import DensePullback, Gradients
from .run import SUCCESS, Integrator, Run, execute


class AdjointPullback:
    """The pullback of an adjoint forward pass: one diffsol backward solve per call."""

    def __init__(self, integ: Integrator, method: str, adjoint: tuple[object, object]) -> None:
        self.integ = integ
        self.method = method
        self.adjoint = adjoint
        self.m = len(integ.p)

    def __call__(self, cotangent: FloatArray) -> Gradients:
        dgdu = np.ascontiguousarray(cotangent.T)  # diffsol wants (nout, nt)
        g = self.integ.backward(self.method, self.adjoint, dgdu)
        return Gradients(u0=np.ascontiguousarray(g[self.m :]), p=np.ascontiguousarray(g[: self.m]))


def forward_pullback(run: Run, n: int, m: int) -> DensePullback:
    """``DensePullback`` from diffsol's sensitivities (inputs p, u0 -> θ = (u0, p))."""
    assert run.sens is not None
    sens = np.concatenate([run.sens[:, m:, :], run.sens[:, :m, :]], axis=1)
    return DensePullback(np.ascontiguousarray(sens), n_states=n)


def vjp_run(
    integ: Integrator, requested: str, mode: str
) -> tuple[Run, Callable[[FloatArray], Gradients] | None]:
    """The solve with sensitivities (``mode``: "forward" or "adjoint") and its pullback.

    A failed run comes back with no pullback (``bridge.vjp`` raises ``SolveFailedError``).
    """
    grid = integ.grid
    base: Run | None = None
    if grid is None:
        base = execute(integ, requested, "every")
        if base.retcode != SUCCESS:
            return base, None
        grid, requested = base.s, base.method
    kind = "fwd_sens" if mode == "forward" else "adjoint"
    run = execute(integ, requested, kind, grid)
    if base is not None:
        run.steps, run.note = base.steps, base.note or run.note
    if run.retcode != SUCCESS:
        return run, None
    if mode == "forward":
        return run, forward_pullback(run, integ.n, len(integ.p))
    assert run.adjoint is not None
    return run, AdjointPullback(integ, run.method, run.adjoint)


__all__ = ["AdjointPullback", "forward_pullback", "vjp_run"]
