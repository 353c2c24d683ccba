"""``EnsembleSolution``: every member's saved states in one (N, nt, n) array, in member order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._model import FloatArray
from .._solution import SUCCESS_RETCODES, Solution, Stats


@dataclass
class EnsembleSolution:
    """The result of ``bridge.solve`` on an ``EnsembleProblem``.

    Attributes
    ----------
    t : ndarray, shape (nt,)
        The save times, shared by every member.
    u : ndarray, shape (N, nt, n)
        Member i's states at those times; a failed member's rows after its failure are NaN.
    retcodes : list of str
        One retcode per member; a failed member never fails the others.
    stats : list of Stats
        One per member.
    alg, backend : str
        What ran (as in ``Solution``).
    ensemble : str
        Where it ran: ``"serial"``, ``"processes"``, ``"threads"`` or ``"dask"``.
    messages : list of str
        The solver's message per member (empty when there was none).

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> eprob = bridge.EnsembleProblem(prob, p=[[0.5], [2.0]])
    >>> esol = bridge.solve(eprob, "Tsit5", saveat=[0.0, 1.0], backend="reference")
    >>> esol.u.shape, esol.retcodes, esol[1].u.shape
    ((2, 2, 1), ['Success', 'Success'], (2, 1))
    """

    t: FloatArray
    u: FloatArray
    retcodes: list[str]
    stats: list[Stats]
    alg: str
    backend: str
    ensemble: str
    messages: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @property
    def success(self) -> bool:
        """True when every member succeeded."""
        return not self.failed

    @property
    def failed(self) -> list[int]:
        """The indices of the members whose solve did not succeed."""
        return [i for i, rc in enumerate(self.retcodes) if rc not in SUCCESS_RETCODES]

    def __getitem__(self, i: int) -> Solution:
        """Member ``i``'s result as a ``Solution`` (its rows up to a failure)."""
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"an EnsembleSolution is indexed by member number, got {i!r}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"member {i} out of range for {len(self)} members")
        u = self.u[i]
        keep = int(np.argmin(np.all(np.isfinite(u), axis=1))) if not np.isfinite(u).all() else None
        t = self.t if keep is None else self.t[:keep]
        u = u if keep is None else u[:keep]
        return Solution(
            t=t,
            u=u,
            retcode=self.retcodes[i],
            stats=self.stats[i],
            alg=self.alg,
            backend=self.backend,
            message=self.messages[i] if self.messages else "",
        )

    def __iter__(self) -> Iterator[Solution]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        n, nt, k = self.u.shape
        bad = len(self.failed)
        return (
            f"EnsembleSolution({n} members x {nt} points x {k} states, {bad} failed, "
            f"alg={self.alg}, backend={self.backend}, ensemble={self.ensemble})"
        )
