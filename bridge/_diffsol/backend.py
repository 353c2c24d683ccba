"""``DiffsolBackend``: the Backend protocol on pydiffsol (see the package docstring).

Example
-------
>>> import bridge
>>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
>>> sol = bridge.solve(prob, "Rodas5P", saveat=[1.0], reltol=1e-8, backend="diffsol")
>>> sol.alg, round(float(sol.u[-1, 0]), 4)
('Rodas5P (diffsol: bdf)', 0.3679)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._model import FloatArray
from .._solution import Gradients, Interpolant, Solution, Stats
from .compiled import CompiledModel, compiled
from .dense import Piece, interpolant
from .gradients import vjp_run
from .limits import why_not, why_not_options
from .methods import diffsol_method, label, sensitivity_mode
from .run import SUCCESS, Integrator, Run, execute, execute_in_windows

if TYPE_CHECKING:
    from .._algorithms import Algorithm
    from .._problem import ODEProblem
    from .._validate import SolveOptions

BACKEND_NAME = "diffsol"


def compiled_model(prob: ODEProblem, *, reflected: bool = False) -> CompiledModel:
    """The compiled model of a problem (compiled on first use, then cached per model).

    ``reflected=True`` is the time-reflected model that reverse-time solves run. It pickles:
    ship it to worker processes, where unpickling fills their cache (see ``compiled``).
    """
    from .._trace.diffsl_codegen import diffsl_source

    model = prob.model
    per_model = _COMPILED.get(model)
    if per_model is None:
        per_model = {}
        try:
            _COMPILED[model] = per_model
        except TypeError:  # not weak-referenceable: looked up by source each time
            pass
    found = per_model.get(reflected)
    if found is None:
        found = per_model[reflected] = compiled(diffsl_source(model, reflected=reflected))
    return found


#: The compiled models of each traced model (the source's sha256 is not taken per solve).
_COMPILED: weakref.WeakKeyDictionary[object, dict[bool, CompiledModel]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Setup:
    """A problem's integration in solver time (reflected when t1 < t0)."""

    integ: Integrator
    saveat: FloatArray | None

    def solution(self, run: Run, alg: str, suffix: str = "", kind: str = "every") -> Solution:
        integ = self.integ
        if self.saveat is None:
            t = run.s if integ.sign > 0 else -run.s
        else:
            t = self.saveat[: len(run.s)]  # the requested times exactly, not -(-t)
        return Solution(
            t=np.ascontiguousarray(t, dtype=np.float64),
            u=run.y,
            retcode=run.retcode,
            stats=Stats(naccept=run.steps or 0),
            alg=label(alg, run.method, run.note) + suffix,
            backend=BACKEND_NAME,
            message=run.message,
            interpolant=self.dense(run, kind),
        )

    def dense(self, run: Run, kind: str) -> Interpolant | None:
        """``sol(t)``: the same diffsol call again at the asked times (``dense.py``)."""
        integ = self.integ
        if not run.method or (not len(run.s) and run.s_reached is None):
            return None
        if run.retcode == SUCCESS:
            s_end = integ.s1 if kind == "every" else float(run.s[-1])
            s_final, u_end = s_end, run.y[-1]
        else:
            s_end = float(run.s_reached if run.s_reached is not None else run.s[-1])
            s_final = s_end
            u_end = run.y[-1] if len(run.s) and run.s[-1] == s_end else None
        if s_end <= integ.s0:
            return None
        piece = Piece(integ, kind, run.method, s_final, s_end, u_end)
        return interpolant([piece], integ.sign, integ.t_of(integ.s0), lambda v: v)


def setup(prob: ODEProblem, opts: SolveOptions) -> Setup:
    t0, t1 = prob.tspan
    sign = 1.0 if t1 > t0 else -1.0
    model = compiled_model(prob, reflected=sign < 0)
    grid = None if opts.saveat is None else sign * opts.saveat
    integ = Integrator(model, prob.p, prob.u0, sign * t0, sign * t1, grid, opts, sign)
    return Setup(integ, opts.saveat)


class DiffsolBackend:
    """The diffsol engine. ``bridge._api`` validates every input before calling it."""

    name = BACKEND_NAME

    def unsupported(self, prob: ODEProblem, *, gradient: bool) -> str | None:
        return why_not(prob, gradient=gradient)

    def unsupported_options(
        self, prob: ODEProblem, opts: SolveOptions, *, gradient: bool
    ) -> str | None:
        """Events, tstops and a per-state abstol run here (``extras.py``), gradients through
        events included; refused: conditions DiffSL cannot express, and a per-state abstol
        with zero entries beside positive ones (``limits.why_not_options``)."""
        return why_not_options(prob, opts, gradient=gradient)

    def handles_switches(self, model: object) -> bool:
        """Jumping switches of scalar-traced models become events in the gradients."""
        from .._trace.events import switch_events

        return switch_events(model) is not None

    def portable_extras(self, prob: ODEProblem) -> tuple[dict[str, str], tuple[CompiledModel, ...]]:
        return portable_extras(prob)

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
        if opts.extras():
            from . import extras

            return extras.solve(prob, alg, opts)
        run_setup = setup(prob, opts)
        kind = "every" if opts.saveat is None else "dense"
        method = diffsol_method(alg.name)
        if not opts.progress:
            return run_setup.solution(execute(run_setup.integ, method, kind), alg.name, kind=kind)
        from .._progress import Progress

        t0, t1 = prob.tspan
        bar = Progress(t0, t1, f"solve of {prob.name!r} with {alg.name} on diffsol", bar=True)
        try:
            run = execute_in_windows(run_setup.integ, method, kind, bar.update)
        finally:
            bar.close()
        return run_setup.solution(run, alg.name, " in windows (progress=True)", kind=kind)

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
        if opts.extras() or _switches(prob):
            from . import extras

            sol, raw = extras.vjp(prob, alg, opts, sensealg)
            return sol, raw if raw is not None else _failed_pullback
        run_setup = setup(prob, opts)
        mode = sensitivity_mode(sensealg, prob.n_states + prob.n_params)
        bar = None
        if opts.progress:  # one diffsol call: the bar can only show it done
            from .._progress import Progress

            t0, t1 = prob.tspan
            what = f"solve with sensitivities of {prob.name!r} with {alg.name} on diffsol"
            bar = Progress(t0, t1, what, bar=True)
        try:
            run, pullback, used = vjp_run(run_setup.integ, diffsol_method(alg.name), mode)
            if bar is not None and len(run.s):
                bar.update(run_setup.integ.t_of(run.s[-1]), run.steps or 0)
        finally:
            if bar is not None:
                bar.close()
        what = "forward sensitivities" if used == "forward" else "discrete adjoint"
        if sensealg not in ("auto", "ForwardDiffSensitivity"):
            what += f" (for {sensealg})"
        if used != mode:
            what += ": the span is too short for diffsol's adjoint backward pass"
        kind = "fwd_sens" if used == "forward" else "adjoint"
        sol = run_setup.solution(run, alg.name, f" + {what}", kind=kind)
        if pullback is None:
            return sol, _failed_pullback
        return sol, pullback


def portable_extras(prob: ODEProblem) -> tuple[dict[str, str], tuple[CompiledModel, ...]]:
    """What an ensemble worker needs besides the traced model's NumPy source: the DiffSL text
    (forward, and reflected when tspan runs backwards) and the compiled model, whose
    unpickling fills the worker's cache, so workers restore diffsol's bytes (milliseconds)
    instead of compiling (``bridge._ensemble.portable``)."""
    from .._trace.diffsl_codegen import diffsl_source

    t0, t1 = prob.tspan
    generated = {"diffsl": diffsl_source(prob.model)}
    if t1 < t0:
        generated["diffsl-reflected"] = diffsl_source(prob.model, reflected=True)
    return generated, (compiled_model(prob, reflected=t1 < t0),)


def _switches(prob: ODEProblem) -> bool:
    """Whether the right-hand side has jumping switches on u or p (watched as events)."""
    from .._trace.events import switch_events

    return bool(switch_events(prob.model))


def _failed_pullback(cotangent: FloatArray) -> Gradients:  # pragma: no cover - _api refuses
    raise AssertionError("no pullback of a failed solve")


BACKEND = DiffsolBackend()

__all__ = ["BACKEND", "BACKEND_NAME", "DiffsolBackend", "compiled_model", "portable_extras"]
