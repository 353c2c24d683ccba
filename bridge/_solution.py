"""Solution and Gradients: what solves and pullbacks return, identical across backends."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import BackendUnsupportedError, BridgeTypeError, BridgeValueError
from ._model import FloatArray

#: DifferentialEquations.jl's return codes that count as success (SciMLBase.successful_retcode).
SUCCESS_RETCODES = frozenset(
    {
        "Success",
        "Terminated",
        "ExactSolutionLeft",
        "ExactSolutionRight",
        "FloatingPointLimit",
        "StalledSuccess",
    }
)


@dataclass
class Stats:
    """Solver statistics, named as in SciMLBase.DEStats.

    nf: right-hand side evaluations; njacs: Jacobian evaluations; nsolve: linear solves;
    naccept / nreject: accepted and rejected steps; nw: factorisations of the Newton
    iteration matrix W = I - γhJ (LU decompositions).
    """

    nf: int = 0
    njacs: int = 0
    nsolve: int = 0
    naccept: int = 0
    nreject: int = 0
    nw: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Interpolant:
    """A solution's dense output: ``interpolant(ts)`` for an (k,) array of times in ``span``.

    ``span`` is (t0, t_end) in the direction of integration, t_end being where the solve
    stopped (t1, a terminal event, or the failure). ``make`` builds the evaluator (a
    function of the (k,) times returning (k, n) states) on first use, so an engine may
    solve again densely then (deterministically: the same steps, so it agrees with
    ``sol.u``); it is built once, under a lock. At an event time the value after the
    event's affect is returned (the solution is right-continuous).

    Example
    -------
    >>> interp = Interpolant((0.0, 1.0), lambda: (lambda ts: np.outer(ts, [1.0, 2.0])))
    >>> interp(np.array([0.5]))
    array([[0.5, 1. ]])
    """

    def __init__(
        self,
        span: tuple[float, float],
        make: Callable[[], Callable[[FloatArray], FloatArray]],
    ) -> None:
        self.span = (float(span[0]), float(span[1]))
        self._make = make
        self._evaluate: Callable[[FloatArray], FloatArray] | None = None
        self._lock = threading.Lock()

    def __call__(self, ts: FloatArray) -> FloatArray:
        with self._lock:
            if self._evaluate is None:
                self._evaluate = self._make()
            evaluate = self._evaluate
        return np.asarray(evaluate(ts), dtype=np.float64)

    def __reduce__(self) -> tuple[Any, ...]:
        # The dense solution lives with the engine that made it (closures, engine memory):
        # a pickled Solution (sent to another process) keeps its span and says so on use.
        return (_left_behind, (self.span,))


def _left_behind(span: tuple[float, float]) -> Interpolant:
    def make() -> Callable[[FloatArray], FloatArray]:
        raise BridgeValueError(
            "sol(t) is not available on a Solution that was pickled or copied to another "
            "process: the dense output stays where the solve ran. Ask for the times you "
            "need with saveat=..., or call sol(t) before sending the solution"
        )

    return Interpolant(span, make)


def _times(t: Any) -> tuple[FloatArray, bool]:
    """``sol(t)``'s argument as a 1-D float array, and whether it was a scalar."""
    if isinstance(t, (str, bytes, bool, np.bool_)):
        raise BridgeTypeError(f"sol(t) takes a time or an array of times, got {t!r}")
    try:
        arr = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BridgeTypeError(
            f"sol(t) takes a time or an array of times, got {type(t).__name__}: {exc}"
        ) from exc
    if arr.ndim > 1:
        raise BridgeValueError(
            f"sol(t) takes a time or a 1-D array of times, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise BridgeValueError(f"sol(t): the times must be finite, got {t!r}")
    return np.atleast_1d(arr), arr.ndim == 0


@dataclass
class Solution:
    """The result of ``bridge.solve``.

    Attributes
    ----------
    t : ndarray, shape (nt,)
        Save times.
    u : ndarray, shape (nt, n)
        States at those times (on the Julia backend, a view of Julia memory).
    retcode : str
        DifferentialEquations.jl's return code name: ``"Success"``, ``"MaxIters"``,
        ``"Unstable"``, ``"DtLessThanMin"``, ``"Failure"`` ...
    stats : Stats
        Evaluation and step counts.
    alg : str
        The algorithm actually used (the reference backend says which SciPy method).
    backend : str
        ``"julia"`` or ``"reference"``.
    message : str
        The solver's own message, if any.
    t_events : list of ndarray
        One array per ``bridge.Event`` passed to the solve (in order), holding the times it
        happened, as SciPy's ``solve_ivp`` gives them (empty without events).
    u_events : list of ndarray
        One (k, n) array per Event: the state at each of its times, before its affect.

    Calling the solution, ``sol(t)``, interpolates it densely: a time gives shape (n,), an
    array of k times (k, n). Times outside the solved span raise an error naming the span.

    Example
    -------
    >>> t, u = np.array([0.0, 1.0]), np.zeros((2, 1))
    >>> sol = Solution(t, u, "Success", Stats(), "Tsit5", "reference")
    >>> sol.success
    True
    """

    t: FloatArray
    u: FloatArray
    retcode: str
    stats: Stats
    alg: str
    backend: str
    message: str = ""
    t_events: list[FloatArray] = field(default_factory=list, repr=False)
    u_events: list[FloatArray] = field(default_factory=list, repr=False)
    #: The dense output (``sol(t)``); None when the engine gives none.
    interpolant: Interpolant | None = field(default=None, repr=False)

    @property
    def success(self) -> bool:
        """True when the retcode is one DifferentialEquations.jl counts as success."""
        return self.retcode in SUCCESS_RETCODES

    def __call__(self, t: Any) -> FloatArray:
        """The solution at time ``t`` (shape (n,)) or at an array of times (shape (k, n)),
        from the engine's dense output.

        Example
        -------
        >>> import bridge
        >>> prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
        >>> sol = bridge.solve(prob, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12,
        ...                    backend="reference")
        >>> round(float(sol(0.5)[0]), 8), sol([0.25, 0.5]).shape   # e^-0.5
        (0.60653066, (2, 1))
        >>> sol(2.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bridge._errors.BridgeValueError: sol(t) is defined on the solved span [0.0, 1.0], but ...
        """
        ts, scalar = _times(t)
        interp = self.interpolant
        if interp is None:
            raise BackendUnsupportedError(
                f"sol(t) needs a dense output, which this solution from the {self.backend} "
                "engine does not carry (ensemble members have none, nor does a solve that "
                "failed before its first step): ask for the times you need with saveat=..., "
                "or solve the problem alone"
            )
        a, b = interp.span
        lo, hi = min(a, b), max(a, b)
        outside = (ts < lo) | (ts > hi)
        if outside.any():
            bad = float(ts[int(np.argmax(outside))])
            ended = "" if self.retcode == "Success" else f" (the solve ended: {self.retcode})"
            raise BridgeValueError(
                f"sol(t) is defined on the solved span [{a!r}, {b!r}], but t = {bad!r} lies "
                f"outside it{ended}"
            )
        out = interp(ts)
        return out[0] if scalar else out

    def __repr__(self) -> str:
        nt, n = self.u.shape
        span = f"t=[{self.t[0]:.4g} .. {self.t[-1]:.4g}]" if nt else "t=[]"
        return (
            f"Solution(retcode={self.retcode}, {nt} points x {n} states, {span}, "
            f"alg={self.alg}, backend={self.backend}, nf={self.stats.nf})"
        )

    def _repr_html_(self) -> str:
        nt, n = self.u.shape
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in [
                ("retcode", self.retcode),
                ("points × states", f"{nt} × {n}"),
                ("t", f"{self.t[0]:.4g} … {self.t[-1]:.4g}" if nt else "—"),
                ("alg", self.alg),
                ("backend", self.backend),
                ("stats", ", ".join(f"{k}={v}" for k, v in self.stats.as_dict().items())),
            ]
        )
        return f"<table><caption>bridge.Solution</caption>{rows}</table>"

    def plot(self, ax: Any = None, labels: list[str] | None = None, **kwargs: Any) -> Any:
        """Plot every state against t with matplotlib; returns the Axes.

        Example
        -------
        >>> ax = sol.plot()  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        names = labels or [f"u[{i}]" for i in range(self.u.shape[1])]
        for i, name in enumerate(names):
            ax.plot(self.t, self.u[:, i], label=name, **kwargs)
        ax.set_xlabel("t")
        ax.legend()
        ax.set_title(f"{self.retcode} ({self.alg}, {self.backend})")
        return ax


@dataclass
class Gradients:
    """Gradients of a scalar loss with respect to the problem's ``u0`` and ``p``.

    ``p`` is flat like ``prob.p``; ``p_dict`` gives it in the user's named layout when
    the problem was built with named parameters. ``stats`` are the backward solve's counts,
    where the engine ran one and reports them.
    """

    u0: FloatArray
    p: FloatArray
    p_dict: dict[str, FloatArray] | None = None
    stats: Stats | None = None

    def __iter__(self) -> Any:
        return iter((self.u0, self.p))


@dataclass(frozen=True)
class DensePullback:
    """A pullback that is one fixed linear map: the sensitivities of every saved state.

    ``sens[i, k, j]`` is ∂u_j(t_i)/∂θ_k with θ = (u0, p), so the pullback of a cotangent c
    (shaped like ``sol.u``) is ``Σ_i sens[i] @ c[i]``. Forward-sensitivity methods produce
    this; unlike a closure it pickles, so ensembles on processes or Dask send it back from
    the workers instead of solving again at pullback time.

    Example
    -------
    >>> pb = DensePullback(np.ones((2, 3, 1)), n_states=1)  # 2 saves, θ = (u0, p1, p2)
    >>> g = pb(np.array([[1.0], [2.0]]))
    >>> g.u0, g.p
    (array([3.]), array([3., 3.]))
    """

    sens: FloatArray
    n_states: int

    def __call__(self, cotangent: FloatArray) -> Gradients:
        g = np.einsum("tkn,tn->k", self.sens, cotangent)
        n = self.n_states
        return Gradients(u0=np.ascontiguousarray(g[:n]), p=np.ascontiguousarray(g[n:]))
