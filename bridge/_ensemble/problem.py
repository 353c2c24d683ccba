"""``EnsembleProblem``: one problem, many members given as data (stacked u0 and/or p).

Members are data, never a Python function per member (diffeqpy's ``prob_func`` is the
bottleneck its README warns about): ``u0`` of shape (N, n) and/or ``p`` of shape (N, m), or
for named parameters a dict of arrays stacked along a new first axis. A member that is not
given u0 (or p) uses the base problem's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._errors import BridgeTypeError, BridgeValueError
from .._model import FloatArray
from .._problem import ODEProblem


def _stacked(value: Any, name: str) -> FloatArray:
    """A finite real 2-D float64 array (N, k), copied (the ensemble owns its inputs)."""
    if isinstance(value, (str, bytes)):
        raise BridgeTypeError(f"{name} must be an array of shape (N, k), got the string {value!r}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BridgeValueError(f"{name} could not be read as a real (N, k) array: {exc}") from exc
    if arr.ndim != 2:
        raise BridgeValueError(
            f"{name} must be 2-D, one row per member (N, k), got shape {arr.shape}"
            + ("; for one member use bridge.solve on the problem itself" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0:
        raise BridgeValueError(f"{name} has no rows: an ensemble needs at least one member")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = (int(x) for x in bad[0])
        raise BridgeValueError(
            f"{name} must be finite, but {name}[{i}, {j}] is {float(arr[i, j])!r}"
        )
    return arr


def _stacked_params(p: Any, prob: ODEProblem) -> FloatArray:
    """Stacked parameters as (N, m) flat rows, in the problem's layout."""
    spec = prob.param_spec
    if isinstance(p, Mapping):
        if spec is None:
            raise BridgeTypeError(
                "p is a dict, but the problem's parameters are a flat vector: pass p as an "
                "(N, m) array"
            )
        if set(p) != set(spec):
            raise BridgeValueError(
                f"p must have the problem's parameter names {sorted(spec)}, got {sorted(p)}"
            )
        parts = []
        count = None
        for key, shape in spec.items():
            arr = np.array(p[key], dtype=np.float64)
            if arr.shape[1:] != tuple(shape) or arr.ndim != len(shape) + 1:
                raise BridgeValueError(
                    f"p[{key!r}] must have shape (N, {', '.join(map(str, shape))}) (the "
                    f"problem's {tuple(shape)} stacked per member), got {arr.shape}"
                )
            if count is not None and arr.shape[0] != count:
                raise BridgeValueError(
                    f"p[{key!r}] has {arr.shape[0]} members, but earlier entries have {count}"
                )
            count = arr.shape[0]
            parts.append(arr.reshape(arr.shape[0], math.prod(shape)))
        return _stacked(np.concatenate(parts, axis=1), "p")
    out = _stacked(p, "p")
    if out.shape[1] != prob.n_params:
        raise BridgeValueError(
            f"p has {out.shape[1]} columns, but the problem has {prob.n_params} parameters"
            + (" (flattened)" if spec is not None else "")
        )
    return out


class EnsembleProblem:
    """Many solves of one problem, each member with its own u0 and/or p.

    Parameters
    ----------
    prob : ODEProblem
        The base problem: its right-hand side, tspan, and the u0/p of members not given.
    u0 : array_like, shape (N, n), optional
        One initial state per member.
    p : array_like, shape (N, m), or dict of arrays shaped (N, *shape), optional
        One parameter vector per member (named parameters stacked along a first axis).

    Example
    -------
    >>> import numpy as np, bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    >>> eprob = bridge.EnsembleProblem(prob, p=[[0.5], [1.0], [2.0]])
    >>> len(eprob), eprob.u0.shape, eprob.p.shape
    (3, (3, 1), (3, 1))
    """

    def __init__(self, prob: ODEProblem, *, u0: Any = None, p: Any = None) -> None:
        if not isinstance(prob, ODEProblem):
            raise BridgeTypeError(f"prob must be a bridge.ODEProblem, got {type(prob).__name__}")
        if u0 is None and p is None:
            raise BridgeValueError(
                "give u0 (N, n) and/or p (N, m): the members of an ensemble are data"
            )
        U0 = None if u0 is None else _stacked(u0, "u0")
        P = None if p is None else _stacked_params(p, prob)
        if U0 is not None and U0.shape[1] != prob.n_states:
            raise BridgeValueError(
                f"u0 has {U0.shape[1]} columns, but the problem has {prob.n_states} states"
            )
        if U0 is not None and P is not None and U0.shape[0] != P.shape[0]:
            raise BridgeValueError(
                f"u0 has {U0.shape[0]} members (rows) but p has {P.shape[0]}: give one row "
                "per member in both"
            )
        count = (U0 if U0 is not None else P).shape[0]  # type: ignore[union-attr]
        self.prob = prob
        self.u0: FloatArray = U0 if U0 is not None else np.tile(prob.u0, (count, 1))
        self.p: FloatArray = P if P is not None else np.tile(prob.p, (count, 1))
        self.u0.setflags(write=False)
        self.p.setflags(write=False)

    def __len__(self) -> int:
        return int(self.u0.shape[0])

    @property
    def n_states(self) -> int:
        return self.prob.n_states

    @property
    def n_params(self) -> int:
        return self.prob.n_params

    def member(self, i: int) -> ODEProblem:
        """Member ``i`` as an ODEProblem (the traced model is shared).

        Example
        -------
        >>> import bridge
        >>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
        >>> bridge.EnsembleProblem(prob, p=[[0.5], [2.0]]).member(1).p
        array([2.])
        """
        return _member(self.prob, self.u0[i], self.p[i])

    def __repr__(self) -> str:
        return f"EnsembleProblem({self.prob.name}, {len(self)} members)"


def _member(
    base: ODEProblem, u0: FloatArray, p: FloatArray, tspan: tuple[float, float] | None = None
) -> ODEProblem:
    """``base`` with a member's u0 and flat p (and tspan); the model is shared."""
    from .._model import unflatten_params

    params: Any = unflatten_params(p, base.param_spec) if base.param_spec else p
    return base.remake(u0=u0, p=params, tspan=tspan)
