"""Forward sensitivities: solve u and S = ∂u/∂(u0, p) together, contract at the save points.

The augmented system is ``u' = f(u, p, t)``, ``S' = J S + [0 | ∂f/∂p]``, ``S(t0) = [I | 0]``.
It is what ``ForwardDiffSensitivity`` computes with dual numbers in Julia. The sensitivities
are under the same error control as u (as dual partials are in OrdinaryDiffEq), so the
gradients are accurate to the requested tolerances.

Layout: S is stored transposed, ``St`` of shape (n + m, n), row j = ∂u/∂θ_j, so that the
Jacobian of the augmented system is block lower-triangular with n×n blocks J on the
diagonal. Implicit methods get only that block diagonal, ``I ⊗ J``: the dropped blocks
(second derivatives of f times S) sit strictly below the diagonal, so the simplified Newton
iteration still converges (its error-propagation matrix is nilpotent), and no second
derivatives are needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._model import FloatArray, Model
from .._solution import DensePullback, Gradients, Solution
from .driver import Rhs
from .events import EventRun, integrate_events
from .jumps import forward_transform
from .methods import TAKES_JACOBIAN, for_size, label, scipy_method
from .solve import interpolant, progress_of, to_solution, warn_sliding, watched

if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._validate import SolveOptions


def augmented_rhs(model: Model, p: FloatArray, sparse: bool) -> tuple[Rhs, Callable[..., Any]]:
    """``fun`` and ``jac`` of the forward-sensitivity system for ``model`` at ``p``.

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [2.0])
    >>> fun, _ = augmented_rhs(prob.model, prob.p, sparse=False)
    >>> fun(0.0, np.array([1.0, 1.0, 0.0]))  # u, ∂u/∂u0, ∂u/∂p
    array([-2., -2., -1.])
    """
    n, m = model.n_states, model.n_params
    k = n + m
    f, df, dfp = model.f, model.jac, model.paramjac

    def fun(t: float, y: FloatArray) -> FloatArray:
        u = y[:n]
        out = np.empty_like(y)
        out[:n] = f(u, p, t)
        dst = out[n:].reshape(k, n)
        np.matmul(y[n:].reshape(k, n), df(u, p, t).T, out=dst)
        if m:
            dst[n:] += dfp(u, p, t).T
        return out

    # Built on the first call only: explicit methods never ask, and for a neural ODE
    # (k = n + m in the thousands) a dense eye(k + 1) is hundreds of MB.
    eye: list[Any] = []

    def jac(t: float, y: FloatArray) -> Any:
        if not eye:
            eye.append(sp.identity(k + 1, format="csc") if sparse else np.eye(k + 1))
        block = df(y[:n], p, t)
        return sp.kron(eye[0], block, format="csc") if sparse else np.kron(eye[0], block)

    return fun, jac


#: Above this many floats, the sensitivities are not stored at every save point: the
#: pullback interpolates them from the dense solution instead, ``CHUNK`` save points at a
#: time (10^6 save points of Lotka–Volterra would otherwise hold 12·10^6 floats per vjp).
STORE_LIMIT = 4_000_000
CHUNK = 4096


def vjp(
    prob: ODEProblem,
    alg: Algorithm,
    opts: SolveOptions,
    label_suffix: str = " + forward sensitivities",
) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
    """Solve the augmented system; the pullback contracts the cotangent with S.

    At events and switching surfaces S jumps (``jumps.forward_transform``); a value saved
    at an event gets the derivative of the state at the (moving) event time.

    The pullback owns what it reads (S at the save points, or the dense solution and a copy
    of the save times): editing ``sol.t``, ``sol.u`` or ``prob``'s arrays afterwards does
    not change its answers. With S stored it is a picklable ``DensePullback``.

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
    model = prob.model
    n, m = prob.n_states, prob.n_params
    k = n + m
    size = n * (k + 1)
    method, sparse = for_size(scipy_method(alg), size)
    fun, jac = augmented_rhs(model, prob.p, sparse)
    y0 = np.zeros(size)
    y0[:n] = prob.u0
    y0[n : n + n * n] = np.eye(n).ravel()
    t0, t1 = prob.tspan
    events, n_user = watched(prob, opts, gradient=True)
    # Events put jumps into S, which the dense pullback below does not follow: store S.
    store = (
        opts.saveat is None
        or len(opts.saveat) * size <= STORE_LIMIT
        or bool(events)
        or opts.tstops is not None
    )
    atol: float | FloatArray = opts.abstol
    if opts.abstol_vector is not None:  # row j of S is ∂u/∂θ_j: the states' tolerances
        atol = np.tile(opts.abstol_vector, k + 1)
    p = prob.p

    def go(dense: bool, options: SolveOptions) -> EventRun:
        progress = progress_of(prob, alg, options, "solve with forward sensitivities", t0, t1)
        try:
            return integrate_events(
                fun, t0, t1, y0, method, n=n, f=lambda u, t: model.f(u, p, t), p=p,
                events=events, n_user=n_user, tstops=opts.tstops, rtol=opts.reltol,
                atol=atol, maxiters=opts.maxiters, saveat=opts.saveat,
                jac=jac if method in TAKES_JACOBIAN else None, dense=dense,
                save_cols=None if store else n, progress=progress,
                transform=forward_transform(events, p, n, m),
            )  # fmt: skip
        finally:
            progress.close()

    run = go(not store, opts)
    sol = to_solution(run, label(alg, method) + label_suffix, n)
    warn_sliding(prob, run)
    if store:
        sens = np.array(run.y[:, n:]).reshape(len(run.t), k, n)
        for hit in run.hits:  # values saved at an event move with its time
            if hit.pre is not None:
                sens[hit.pre] = hit.extra["pre"]
            if hit.post is not None:
                sens[hit.post] = hit.extra["post"]

        def dense() -> Any:  # the same steps again, keeping the interpolants
            at = go(True, dataclasses.replace(opts, progress=False)).at
            return lambda ts: at(ts)[:, :n]

        sol.interpolant = interpolant(t0, run, dense)
        return sol, DensePullback(sens, n)
    save_t = run.t.copy()
    sol.interpolant = interpolant(t0, run, lambda: lambda ts: run.at(ts)[:, :n])
    traj = run

    def pullback(cotangent: FloatArray) -> Gradients:
        g = np.zeros(k)
        for start in range(0, len(save_t), CHUNK):
            rows = slice(start, start + CHUNK)
            st = traj.at(save_t[rows])[:, n:].reshape(-1, k, n)
            g += np.einsum("tkn,tn->k", st, cotangent[rows])
        return Gradients(u0=g[:n].copy(), p=g[n:].copy())

    return sol, pullback
