"""The entry points ``solve``, ``vjp`` and ``value_and_grad``: validate, choose, dispatch."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, overload

import numpy as np

from ._algorithms import check_alg, check_sensealg
from ._backend import choose_backend, get_backend
from ._ensemble import EnsembleProblem, EnsembleSolution, solve_ensemble, vjp_ensemble
from ._errors import (
    BridgeTypeError,
    BridgeValueError,
    GradientUnavailableError,
    SolveFailedError,
    SolverWarning,
)
from ._events import check_events
from ._problem import ODEProblem
from ._solution import Gradients, Solution
from ._validate import (
    DEFAULT_ABSTOL,
    DEFAULT_MAXITERS,
    DEFAULT_RELTOL,
    SolveOptions,
    check_cotangent,
    check_options,
)


def _check_problem(prob: Any) -> ODEProblem | EnsembleProblem:
    if not isinstance(prob, (ODEProblem, EnsembleProblem)):
        raise BridgeTypeError(
            f"prob must be a bridge.ODEProblem or bridge.EnsembleProblem, got "
            f"{type(prob).__name__}; build one with bridge.ODEProblem(f, u0, tspan, p)"
        )
    return prob


def _check_ensemble(prob: Any, ensemble: Any) -> None:
    if ensemble is not None and not isinstance(prob, EnsembleProblem):
        raise BridgeTypeError(
            f"ensemble={ensemble!r} is only for a bridge.EnsembleProblem; prob is an "
            "ODEProblem (build bridge.EnsembleProblem(prob, u0=U0, p=P) for many members)"
        )


def _check_differentiable(prob: ODEProblem) -> None:
    """Refuse gradients of an opaque problem before any solve, the same way on every engine."""
    if not prob.is_julia and not prob.trace:
        raise GradientUnavailableError(
            f"gradients of problem {prob.name!r} are not available: it was built with "
            "trace=False, so bridge has no derivatives of the right-hand side. Build it "
            "with trace=True (the default) to use bridge.vjp."
        )


def _options(
    prob: ODEProblem | EnsembleProblem,
    saveat: Any,
    reltol: Any,
    abstol: Any,
    maxiters: Any,
    progress: Any,
    events: Any,
    tstops: Any,
) -> SolveOptions:
    """Validate every option of ``solve``/``vjp`` for ``prob`` (events are traced now)."""
    single = prob.prob if isinstance(prob, EnsembleProblem) else prob
    opts = check_options(
        single.tspan,
        saveat,
        reltol,
        abstol,
        maxiters,
        progress,
        events=check_events(events, single),
        tstops=tstops,
        n_states=single.n_states,
    )
    if isinstance(prob, EnsembleProblem) and opts.events:
        # (tstops and a per-state abstol are data, and travel to workers with the options)
        raise BridgeValueError(
            "events cannot be used with an EnsembleProblem yet: solve the members one by one "
            "(bridge.solve(prob.remake(u0=..., p=...), ...))"
        )
    return opts


def _warn_failure(sol: Solution) -> None:
    """One SolverWarning for a failed solve, at the caller's line.

    The engine's message says where the solver stopped ("... at t=0.37"); the last saved
    time can be far earlier (or absent, with saveat), so it is only the fallback for engines
    that give no message.
    """
    if sol.success:
        return
    if sol.message:
        detail = sol.message
    elif len(sol.t):
        detail = f"no message from the engine; the last saved time is t={float(sol.t[-1])!r}"
    else:
        detail = "no message from the engine, and no time was saved"
    warnings.warn(f"solve ended with retcode {sol.retcode}: {detail}", SolverWarning, stacklevel=3)


@overload
def solve(
    prob: ODEProblem,
    alg: str = ...,
    *,
    saveat: Any = ...,
    reltol: float = ...,
    abstol: Any = ...,
    maxiters: int = ...,
    progress: bool = ...,
    backend: str | None = ...,
    ensemble: Any = ...,
    events: Any = ...,
    tstops: Any = ...,
) -> Solution: ...


@overload
def solve(
    prob: EnsembleProblem,
    alg: str = ...,
    *,
    saveat: Any = ...,
    reltol: float = ...,
    abstol: Any = ...,
    maxiters: int = ...,
    progress: bool = ...,
    backend: str | None = ...,
    ensemble: Any = ...,
    events: Any = ...,
    tstops: Any = ...,
) -> EnsembleSolution: ...


def solve(
    prob: ODEProblem | EnsembleProblem,
    alg: str = "auto",
    *,
    saveat: Any = None,
    reltol: float = DEFAULT_RELTOL,
    abstol: Any = DEFAULT_ABSTOL,
    maxiters: int = DEFAULT_MAXITERS,
    progress: bool = False,
    backend: str | None = None,
    ensemble: Any = None,
    events: Any = None,
    tstops: Any = None,
) -> Solution | EnsembleSolution:
    """Solve an ODE problem.

    Parameters
    ----------
    prob : ODEProblem
    alg : str
        A DifferentialEquations.jl algorithm name (``"Tsit5"``, ``"Rodas5P"``, ``"auto"``...);
        see ``bridge.ALGORITHMS``.
    saveat : float or array_like, optional
        A step (saves t0, t0+Δ, ..., t1) or the times to save at; default: every step.
    reltol, abstol : float
        Tolerances (DifferentialEquations.jl's defaults 1e-3 and 1e-6); ``abstol`` may also
        be one number per state (length n).
    maxiters : int
        Maximum number of steps before giving up with retcode ``"MaxIters"``.
    progress : bool
        Show a progress bar over t (needs ``tqdm``) on the engines that can report progress.
    backend : {"auto", "julia", "diffsol", "reference"}, optional
        Defaults to the ``BRIDGE_BACKEND`` environment variable, then ``"auto"`` (the best
        engine installed that can run the problem; ``sol.backend`` says which ran).
    ensemble : {"serial", "threads", "processes"} or dask.distributed.Client, optional
        Only for an ``EnsembleProblem`` (default ``"serial"``): where its members run.
        ``"threads"`` is parallel on the Julia backend; the other engines hold the GIL and
        use processes instead (with a warning). ``saveat`` is required.
    events : bridge.Event or list of bridge.Event, optional
        Where a condition of (u, p, t) crosses zero: record the time (``sol.t_events``),
        change the state (``affect``), or end the solve (``terminal``; retcode
        ``"Terminated"``). See docs/events.md for how points are saved at events.
    tstops : array_like, optional
        Times the solver must step exactly onto (a dose, a switch on t), inside tspan.

    ``sol(t)`` interpolates the solution densely at any time (or array of times) of the
    solved span.

    Returns
    -------
    Solution, or EnsembleSolution for an EnsembleProblem
        A failed solve returns its retcode and partial trajectory, with a SolverWarning
        (for an ensemble, one warning naming how many members failed).

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> sol = bridge.solve(prob, "Tsit5", saveat=0.5, backend="reference")
    >>> sol.u.shape
    (3, 1)
    """
    prob = _check_problem(prob)
    _check_ensemble(prob, ensemble)
    algorithm = check_alg(alg)
    opts = _options(prob, saveat, reltol, abstol, maxiters, progress, events, tstops)
    if isinstance(prob, EnsembleProblem):
        return solve_ensemble(prob, algorithm, opts, backend, ensemble or "serial")
    be = get_backend(choose_backend(backend, prob, opts=opts).name)
    sol = be.solve(prob, algorithm, opts)
    _warn_failure(sol)
    return sol


def vjp(
    prob: ODEProblem | EnsembleProblem,
    alg: str = "auto",
    *,
    saveat: Any = None,
    sensealg: str = "auto",
    reltol: float = DEFAULT_RELTOL,
    abstol: Any = DEFAULT_ABSTOL,
    maxiters: int = DEFAULT_MAXITERS,
    progress: bool = False,
    backend: str | None = None,
    ensemble: Any = None,
    events: Any = None,
    tstops: Any = None,
) -> tuple[Any, Callable[[Any], Gradients]]:
    """Solve and return a pullback: gradients of a loss of ``sol.u`` w.r.t. ``u0`` and ``p``.

    ``pullback(cotangent)`` takes dL/d(sol.u), shaped like ``sol.u``, and returns
    ``Gradients(u0=dL/du0, p=dL/dp)``.

    Parameters
    ----------
    sensealg : str
        A SciMLSensitivity method name: ``"auto"``, ``"ForwardDiffSensitivity"``,
        ``"GaussAdjoint"``, ``"InterpolatingAdjoint"``, ``"QuadratureAdjoint"``,
        ``"BacksolveAdjoint"``. Other arguments are as in ``solve``.

    Gradients include the dependence of every event's time on u0 and p (the jump, or
    saltation, conditions: docs/events.md), and on the reference engine the switching
    surfaces of ``np.where``/``np.sign`` on u or p in the right-hand side are handled the
    same way, internally. A value saved at an event time is the state at the event, which
    moves with u0 and p.

    For an ``EnsembleProblem`` it returns ``(EnsembleSolution, pullback)``: the pullback
    takes a cotangent shaped like ``esol.u`` (N, nt, n) and returns ``Gradients`` with
    ``u0`` (N, n) and ``p`` (N, m); it refuses (SolveFailedError naming the members) when
    any member failed.

    Raises
    ------
    SolveFailedError
        If the solve did not succeed (gradients of a failed solve would be wrong).

    Example
    -------
    >>> import bridge, numpy as np
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> sol, pullback = bridge.vjp(prob, "Tsit5", saveat=[1.0], reltol=1e-8, abstol=1e-10,
    ...                            backend="reference")
    >>> g = pullback(np.ones_like(sol.u))   # d u(1) / d(u0, p) = (e^-1, -e^-1)
    >>> np.round(g.u0, 6), np.round(g.p, 6)
    (array([0.367879]), array([-0.367879]))
    """
    prob = _check_problem(prob)
    _check_ensemble(prob, ensemble)
    algorithm = check_alg(alg)
    sense = check_sensealg(sensealg)
    opts = _options(prob, saveat, reltol, abstol, maxiters, progress, events, tstops)
    if isinstance(prob, EnsembleProblem):
        _check_differentiable(prob.prob)
        return vjp_ensemble(prob, algorithm, opts, sense, backend, ensemble or "serial")
    _check_differentiable(prob)
    choice = choose_backend(backend, prob, gradient=True, opts=opts)
    be = get_backend(choice.name)
    if not prob.is_julia:  # a jump on u or p that the solution crosses, not differentiated
        handles = getattr(be, "handles_switches", None)
        if handles is None or not handles(prob.model):
            from ._trace.switches import warn_if_jumps

            warn_if_jumps(prob.model, stacklevel=2, engine=choice.name)
    sol, raw_pullback = be.vjp(prob, algorithm, opts, sense)
    if not sol.success:
        _warn_failure(sol)
        raise SolveFailedError.of(sol.retcode, "its gradients would be wrong")
    shape = sol.u.shape

    def pullback(cotangent: Any) -> Gradients:
        grads = raw_pullback(check_cotangent(cotangent, shape))
        if prob.param_spec is not None and grads.p_dict is None:
            from ._model import unflatten_params

            grads.p_dict = unflatten_params(grads.p, prob.param_spec)
        return grads

    pullback.__doc__ = f"Pullback of the solve: cotangent of shape {shape} -> Gradients(u0, p)."
    return sol, pullback


def value_and_grad(
    loss: Callable[..., Any],
    prob: ODEProblem,
    alg: str = "auto",
    *,
    saveat: Any,
    sensealg: str = "auto",
    backend: str | None = None,
    **solver_options: Any,
) -> tuple[float, Gradients]:
    """The value of ``loss(sol.u)`` and its gradient with respect to ``prob.u0`` and ``prob.p``.

    ``loss(u)`` is NumPy-style code of the saved states ``u`` (shape ``(len(saveat), n)``)
    returning a scalar. It is traced like a right-hand side (once per function and shape;
    the same NumPy functions work, and branching on ``u`` raises ``TraceError``), its exact
    gradient dL/du is generated, and that cotangent goes through the solve's pullback.

    The value is the user's own ``loss`` evaluated on ``sol.u``; when the traced loss
    disagrees with it (say a closed-over array changed since the trace), the loss is traced
    again, so a changed closure is not served stale (a change that leaves the value as it was
    but changes the gradient would go unnoticed: pass data that changes as a fresh function).
    Terms that depend on ``p`` directly (regularisation) are not seen: add their gradient
    yourself.

    Parameters
    ----------
    loss : callable
        ``loss(u) -> float``.
    prob, alg, sensealg, backend, **solver_options
        As in ``bridge.vjp`` (``reltol``, ``abstol``, ``maxiters``).
    saveat : float or array_like
        Required: the times at which ``u`` is saved (a step or explicit times).

    Returns
    -------
    (float, Gradients)
        ``Gradients.u0`` and ``.p`` (flat; ``.p_dict`` for named parameters).

    Example
    -------
    >>> import numpy as np, bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> value, g = bridge.value_and_grad(lambda u: np.sum(u[-1] ** 2), prob, saveat=[1.0],
    ...                                  reltol=1e-10, abstol=1e-10, backend="reference")
    >>> round(value, 6), np.round(g.p, 6)   # e^{-2p} and -2 e^{-2p} at p = 1
    (0.135335, array([-0.270671]))
    """
    from ._odeint import check_solver_options
    from ._trace.loss import cached_trace_loss

    if not callable(loss):
        raise BridgeTypeError(
            f"loss must be a callable loss(u) returning a scalar, got {type(loss).__name__}"
        )
    check_solver_options(solver_options, "value_and_grad")
    sol, pullback = vjp(
        prob, alg, saveat=saveat, sensealg=sensealg, backend=backend, **solver_options
    )
    u = np.asarray(sol.u)
    shape = (int(u.shape[0]), int(u.shape[1]))
    value, cotangent = cached_trace_loss(loss, shape)(u)
    expected = float(loss(u.copy()))  # a copy: the user's code must not be able to edit sol.u
    if not _same(value, expected):  # e.g. a closed-over array changed: trace afresh
        value, cotangent = cached_trace_loss(loss, shape, fresh=True)(u)
    return expected, pullback(cotangent)


def _same(a: float, b: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300) + 1e-300
