"""Solution and Gradients: what solves and pullbacks return, identical across backends."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def success(self) -> bool:
        """True when the retcode is one DifferentialEquations.jl counts as success."""
        return self.retcode in SUCCESS_RETCODES

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
    the problem was built with named parameters.
    """

    u0: FloatArray
    p: FloatArray
    p_dict: dict[str, FloatArray] | None = None

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


def empty_like_failure(n: int) -> FloatArray:
    """An empty (0, n) state array for solves that fail before the first save."""
    return np.zeros((0, n))
