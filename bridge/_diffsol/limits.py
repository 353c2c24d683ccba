"""What the diffsol engine cannot run, each with the reason (``Backend.unsupported``).

* a ``JuliaFunction`` (Julia code) or a ``trace=False`` problem: diffsol runs compiled DiffSL
  and cannot call back into Python;
* an operation DiffSL lacks (``np.arctan``, ``np.arcsin``, ``np.arccos``, ``np.arctan2``) or
  a model traced as whole-array operations (``bridge._trace.array``);
* a model too big to compile in reasonable time. Compile time grows faster than linearly
  with the size of the scalar program (measured, docs/diffsl.md: 0.4 s at size 50, 1.7 s at
  230 (a 2-16-2 MLP), 2 s at 200 (a 50-state chain), 4 s at 500, 27 s at 1,000 (a 200-state
  chain)); above ``MAX_MODEL_SIZE`` the engine declines, so ``auto`` runs such models
  elsewhere and says why;
* gradients where this pydiffsol build has no sensitivities (the Windows wheel).

Of the extra options (``why_not_options``; events, tstops and a per-state abstol run in
``extras.py``): an event condition DiffSL cannot express (it goes into the compiled
model's ``stop`` tensor), and a per-state abstol with zero entries beside positive ones
(no scale of diffsol's one tolerance gives both, ``scaling.py``).
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from .._errors import TraceError
from . import sensitivities_available

if TYPE_CHECKING:
    from .._problem import ODEProblem
    from .._validate import SolveOptions

#: The largest model (``model_size``) the engine compiles: about 5 s of compile time here.
MAX_MODEL_SIZE = 600

_OPERATION = re.compile(r"[-+*/]|[A-Za-z][A-Za-z0-9]*\(")
#: model_size per model (this runs before every solve, as the backend is chosen).
_SIZES: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


def model_size(source: str, n_states: int, n_params: int) -> int:
    """Operations in the DiffSL equations plus states and inputs: what compile time follows.

    Example
    -------
    >>> model_size("in_i { p0 = 0, ic0 = 0 }\\nu_i { x0 = ic0 }\\nF_i { -p0*x0 }\\n", 1, 1)
    5
    """
    body = source.split("u_i", 1)[-1]
    return len(_OPERATION.findall(body)) + 2 * n_states + n_params


def why_not(prob: ODEProblem, *, gradient: bool) -> str | None:
    """None when diffsol can run ``prob`` (with gradients if asked), else the reason."""
    if prob.is_julia:
        return "its right-hand side is a bridge.JuliaFunction, which only Julia can run"
    if not prob.trace:
        return (
            "the problem was built with trace=False, and diffsol runs compiled code that "
            "cannot call a Python function; use backend='reference' (or trace=True)"
        )
    if gradient and not sensitivities_available():
        return "this pydiffsol build has no sensitivities (pydiffsol.is_sens_available())"
    from .._trace.diffsl_codegen import diffsl_source

    model = prob.model
    size = _SIZES.get(model)
    if size is None:
        try:
            source = diffsl_source(model)
        except TraceError as exc:
            return f"DiffSL cannot express its right-hand side: {exc}"
        size = model_size(source, prob.n_states, prob.n_params)
        try:
            _SIZES[model] = size
        except TypeError:  # not weak-referenceable: measured again next time
            pass
    if size > MAX_MODEL_SIZE:
        return (
            f"the model is too big to compile quickly (size {size}: operations + 2 x states + "
            f"parameters, above the limit {MAX_MODEL_SIZE}, where compiling takes about 5 s "
            "and grows faster than the size; docs/diffsl.md has the measurements)"
        )
    return None


#: Per traced event: None when its condition prints as DiffSL, else why not.
_PRINTABLE: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()


def _condition_reason(prob: ODEProblem, event: object) -> str | None:
    if event in _PRINTABLE:
        return _PRINTABLE[event]
    from .._trace.events_codegen import diffsl_stop_source

    try:
        diffsl_stop_source(prob.model, [event])
        reason = None
    except TraceError as exc:
        reason = f"DiffSL cannot express the condition of {event.describe()}: {exc}"  # type: ignore[attr-defined]
    _PRINTABLE[event] = reason
    return reason


def why_not_options(prob: ODEProblem, opts: SolveOptions, *, gradient: bool) -> str | None:
    """None when diffsol runs the extra options of ``opts`` (see the module docstring)."""
    from .scaling import why_not as abstol_reason

    if opts.abstol_vector is not None:
        reason = abstol_reason(opts.abstol_vector)
        if reason is not None:
            return reason
    for event in opts.events:
        reason = _condition_reason(prob, event.traced(prob))
        if reason is not None:
            return reason
    return None


__all__ = ["MAX_MODEL_SIZE", "model_size", "why_not", "why_not_options"]
