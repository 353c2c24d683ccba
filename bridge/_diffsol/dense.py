"""``sol(t)`` on diffsol: the solve again, densely, at the asked times (docs/events.md).

diffsol keeps no interpolant across calls, so a ``Piece`` records how one diffsol call ran
(its ``Integrator``: start, state, inputs, first step; the kind of solve, the method and the
final time it was asked for) and ``interpolant`` solves each piece again on the first
``sol(t)``: ``solve_dense`` (or the sensitivity solve the piece was, whose steps include the
sensitivities' error control) from the same start to the same final time, with the asked
times as its evaluation points. diffsol's steps do not depend on the evaluation points
(measured: the same values to the last bit), so the values agree with ``sol.u`` to rounding
(a piece first solved saving every step is within ~1e-13 of those steps).

A segmented solve (``segments.py``) is one piece per segment; a time at a segment boundary
gets the next segment's start, the state after the events there, so ``sol(t)`` is
right-continuous; the solve's end gets the state after a terminal event's affect.

Example
-------
>>> import bridge
>>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
>>> sol = bridge.solve(prob, "Tsit5", saveat=[1.0], reltol=1e-10, abstol=1e-12,
...                    backend="diffsol")
>>> round(float(sol(0.5)[0]), 8)   # e^-0.5
0.60653066
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import SolveFailedError
from .._model import FloatArray
from .._solution import Interpolant
from .run import Integrator, StepFailure


@dataclass(frozen=True)
class Piece:
    """One diffsol call to repeat: ``integ`` from its start, to ``s_final`` (as asked then),
    covering [integ.s0, s_end) of the span, and ``u_end`` (the user's states) at s_end for
    the last piece (None: solved for, as after a failure)."""

    integ: Integrator
    kind: str
    method: str
    s_final: float
    s_end: float
    u_end: FloatArray | None


def _states(kind: str, raw: Any) -> FloatArray:
    solution = raw[0] if kind == "adjoint" else raw
    return np.asarray(solution.ys, dtype=np.float64).T


def _solve_at(piece: Piece, q: FloatArray) -> FloatArray:
    """The piece's states (v) at the sorted times q inside [s0, s_end)."""
    kind = "dense" if piece.kind == "every" else piece.kind
    grid = q if q[-1] >= piece.s_final else np.append(q, piece.s_final)
    try:
        raw = piece.integ.call(kind, piece.method, None, grid=grid)
    except StepFailure as exc:
        raise SolveFailedError(
            f"sol(t): solving again for the dense output failed ({exc.message}); ask for the "
            "times you need with saveat=... instead",
            retcode="Failure",
        ) from None
    y = _states(kind, raw)
    if len(y) < len(q):  # the stop came a rounding earlier than in the first solve
        y = np.concatenate([y, np.repeat(y[-1:], len(q) - len(y), axis=0)])
    return y[: len(q)]


def interpolant(
    pieces: Sequence[Piece],
    sign: float,
    t0: float,
    to_u: Callable[[FloatArray], FloatArray],
) -> Interpolant:
    """``sol(t)`` from ``pieces`` (in order, solver time s = sign * t); ``to_u`` maps
    diffsol's states to the user's (a per-state abstol scales them)."""
    last = pieces[-1]
    t_end = sign * last.s_end

    def make() -> Callable[[FloatArray], FloatArray]:
        def evaluate(ts: FloatArray) -> FloatArray:
            s = sign * np.asarray(ts, dtype=np.float64)
            out = np.empty((len(s), len(last.integ.y0)))
            for i, piece in enumerate(pieces):
                lo, hi = piece.integ.s0, piece.s_end
                final = i == len(pieces) - 1
                inside = (s >= lo) & ((s < hi) | (final & (s <= hi)))
                if not inside.any():
                    continue
                at_start = inside & (s == lo)
                at_end = inside & final & (s == hi) & ~at_start & (piece.u_end is not None)
                out[at_start] = to_u(piece.integ.y0)
                if at_end.any():
                    out[at_end] = piece.u_end
                rest = inside & ~at_start & ~at_end
                if rest.any():
                    q = np.unique(s[rest])
                    values = to_u(_solve_at(piece, q))
                    out[rest] = values[np.searchsorted(q, s[rest])]
            return out

        return evaluate

    return Interpolant((t0, t_end), make)


__all__ = ["Piece", "interpolant"]
