"""``ReferenceBackend``: the Backend protocol on SciPy, and the sensealg mapping.

SciMLSensitivity name        what the reference backend runs
===========================  ==============================================================
``ForwardDiffSensitivity``   forward sensitivities (``forward.py``)
``InterpolatingAdjoint``     interpolating adjoint (``adjoint.py``): this is the method
``QuadratureAdjoint``        alias of the interpolating adjoint (μ is integrated with λ
                             rather than by a separate quadrature afterwards)
``GaussAdjoint``             alias of the interpolating adjoint (no Gauss-Kronrod
                             quadrature per interval)
``BacksolveAdjoint``         alias of the interpolating adjoint: u(t) comes from the
                             forward interpolant, never from re-solving u backwards (which
                             is what makes BacksolveAdjoint unstable on stiff problems)
``auto``                     forward when n + m ≤ 100 (SciMLSensitivity's rule), else adjoint
===========================  ==============================================================

Every adjoint name switches to forward sensitivities when the save points far outnumber the
forward steps (``adjoint.prefers_forward``: a dense ``saveat`` would cost the adjoint one
backward step per save point); ``sol.alg`` then says "forward sensitivities (for ...)". So
``auto`` accounts for the save count as well as for n + m.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._errors import GradientUnavailableError
from .._model import FloatArray
from .._solution import Gradients, Solution
from . import adjoint, forward
from .solve import BACKEND_NAME, solve

if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._validate import SolveOptions

#: SciMLSensitivity's threshold for choosing forward mode automatically.
FORWARD_MAX_SIZE = 100

SENSEALG_MODE = {
    "ForwardDiffSensitivity": "forward",
    "InterpolatingAdjoint": "adjoint",
    "QuadratureAdjoint": "adjoint",
    "GaussAdjoint": "adjoint",
    "BacksolveAdjoint": "adjoint",
}


def sensitivity_mode(sensealg: str, n_states: int, n_params: int) -> str:
    """``"forward"`` or ``"adjoint"`` for a sensealg name and problem size.

    Example
    -------
    >>> sensitivity_mode("auto", 2, 4), sensitivity_mode("auto", 50, 60)
    ('forward', 'adjoint')
    """
    if sensealg == "auto":
        return "forward" if n_states + n_params <= FORWARD_MAX_SIZE else "adjoint"
    return SENSEALG_MODE[sensealg]


class ReferenceBackend:
    """The SciPy backend. ``bridge._api`` validates every input before calling it.

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0), trace=False)
    >>> bridge.solve(prob, "Tsit5", saveat=[1.0], backend="reference").alg
    'Tsit5 (reference: scipy DOP853)'
    """

    name = BACKEND_NAME

    def unsupported(self, prob: ODEProblem, *, gradient: bool) -> str | None:
        if prob.is_julia:
            return (
                "its right-hand side is a bridge.JuliaFunction, which only Julia can run (to "
                "get Julia: `python -m bridge install`, or write f in Python)"
            )
        return None

    def unsupported_options(
        self, prob: ODEProblem, opts: SolveOptions, *, gradient: bool
    ) -> str | None:
        """Events, tstops and a per-state abstol all run here (docs/events.md)."""
        return None

    def handles_switches(self, model: object) -> bool:
        """Jumping switches of scalar-traced models become events in the gradients."""
        from .._trace.events import switch_events

        return switch_events(model) is not None

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
        return solve(prob, alg, opts)

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
        model = prob.model
        # Refuse before solving: a long solve followed by this error would waste the user's time.
        if not model.has_derivatives:
            raise GradientUnavailableError(
                f"gradients of problem {prob.name!r} are not available: it was built with "
                "trace=False, so bridge has no derivatives of the right-hand side. Build it "
                "with trace=True (the default) to use bridge.vjp."
            )
        mode = sensitivity_mode(sensealg, prob.n_states, prob.n_params)
        if mode == "forward":
            sol, pullback = forward.vjp(prob, alg, opts)
        else:
            suffix = " + interpolating adjoint"
            if sensealg not in ("auto", "InterpolatingAdjoint"):
                suffix += f" (for {sensealg})"
            sol, pullback = adjoint.vjp(prob, alg, opts, suffix, sensealg)
        return sol, pullback
