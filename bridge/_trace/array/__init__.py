"""Array-level tracing: neural-network-sized right-hand sides as whole-array programs.

The scalar tracer (``bridge._trace.tracer``) unrolls ``W @ u`` into one expression per
element, so its trace, derivatives and generated code grow with the number of parameters.
This package keeps the array structure instead:

* ``values.py``: ``ArrayValue``, what the function receives; NumPy's protocols record one
  node per whole-array operation (``W @ x``, ``np.tanh(x + b)``, ``x[2:]``, ``x.sum(0)``,
  ``np.concatenate``, ``np.where``...);
* ``graph.py``: the array program (``Node``, ``Graph``), hash-consed and in order;
* ``tracer.py``: ``trace_arrays`` and ``contraction_work``;
* ``rules.py``: derivatives from one rule per operation, reverse mode (``vjp``,
  ``vjp_p``) and forward mode (``jvp``); elementwise partials come from the operation
  table (``ops.py``);
* ``program.py``: the schedule of each generated function, shared by the printers;
* ``numpy_printer.py``, ``julia_printer.py``: NumPy (the reference backend runs it) and
  Julia (``mul!``, fused broadcasts, weights as reshaped views of ``p``). A DiffSL printer
  would be one more printer of the same ``Program`` s;
* ``model.py``: ``ArrayModel``, the ``Model`` protocol.

``array_model`` is the one entry point, called by ``bridge._trace.model.trace_model``
before the scalar tracer. It decides per function, deterministically, from the trace:
the array path is taken when the function traces at the array level and its matrix
products have at least ``ARRAY_MIN_WORK`` multiply-adds (what scalar tracing would
unroll); anything else (scalar-style code, elementwise-only models, code the array tracer
does not keep whole) goes to the scalar tracer, unchanged. The array trace costs a few
milliseconds and calls the function once more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .graph import Unsupported
from .model import ArrayModel
from .tracer import contraction_work, trace_arrays

#: Fewer multiply-adds in the matrix products than this: the scalar path (its code is as
#: good there, and diffsol can run it). Measured with bench/bench_trace.py.
ARRAY_MIN_WORK = 128


def decide(
    func: Callable[..., Any],
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None,
    name: str,
) -> tuple[ArrayModel | None, str]:
    """The array model of ``func`` (or None for the scalar path) and the reason.

    Example
    -------
    >>> def lotka_volterra(u, p, t):
    ...     x, y = u
    ...     return [p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y]
    >>> decide(lotka_volterra, 2, 4, None, "lv")[1]
    'scalar path: its matrix products have 0 multiply-adds (fewer than 128)'
    """
    try:
        traced = trace_arrays(func, n_states, n_params, param_spec, name)
    except Unsupported as exc:
        return None, f"scalar path: the array tracer does not keep {exc}"
    work = contraction_work(traced)
    if work < ARRAY_MIN_WORK:
        return None, (
            f"scalar path: its matrix products have {work} multiply-adds "
            f"(fewer than {ARRAY_MIN_WORK})"
        )
    try:
        model = ArrayModel(func, traced, param_spec, name)
    except Unsupported as exc:
        return None, f"scalar path: no array derivative for {exc}"
    except Exception as exc:  # a bug here must not cost the user a model the scalar path has
        return None, f"scalar path: internal error of the array path ({type(exc).__name__}: {exc})"
    return model, f"array path: {work} multiply-adds in matrix products"


def array_model(
    func: Callable[..., Any],
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None,
    name: str,
) -> ArrayModel | None:
    """``ArrayModel`` of ``func`` when the array path is taken (see ``decide``), else None."""
    return decide(func, n_states, n_params, param_spec, name)[0]


__all__ = ["ARRAY_MIN_WORK", "ArrayModel", "array_model", "decide"]
