"""What crosses to an ensemble worker: the model as a portable payload, built once per worker.

``portable_problem(prob, engine)`` returns a small picklable ``Portable`` with a ``key`` (the
model's cache key) and ``restore()``, which rebuilds the problem in the worker. A traced
model travels as its generated NumPy source (``model.portable()``), so the worker needs
neither the user's function nor SymPy; an engine may add generated text and its own
compiled form (diffsol's DiffSL and pickled ``Ode``) through its backend's
``portable_extras(prob) -> (generated, extras)``. A model without a portable form
(an opaque ``trace=False`` function) travels as the pickled function itself, which must then
be importable by the worker (defined at module level).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .._errors import BridgeTypeError
from .._model import ParamSpec
from .._problem import ODEProblem


class Portable(Protocol):
    """A picklable payload that rebuilds a problem (with its model) in a worker process."""

    @property
    def key(self) -> str: ...

    def restore(self) -> ODEProblem: ...


def _zeros_params(n_params: int, spec: ParamSpec) -> Any:
    if spec is None:
        return np.zeros(n_params)
    return {k: np.zeros(shape) for k, shape in spec.items()}


@dataclass(frozen=True)
class ModelPortable:
    """A traced model as its generated source (``bridge._trace.portable.PortableModel``),
    with whatever the engine adds (diffsol: its compiled models, which fill the worker's
    cache when unpickled)."""

    model: Any
    extras: tuple[Any, ...] = ()

    @property
    def key(self) -> str:
        return str(self.model.key)

    def restore(self) -> ODEProblem:
        return ODEProblem._with_model(self.model.build(), (0.0, 1.0), str(self.model.name))


@dataclass(frozen=True)
class FunctionPortable:
    """The user's right-hand side itself, pickled by reference (module-level functions)."""

    key: str
    func: Any
    n_states: int
    n_params: int
    param_spec: ParamSpec
    name: str
    trace: bool

    def restore(self) -> ODEProblem:
        prob = ODEProblem(
            self.func,
            np.zeros(self.n_states),
            (0.0, 1.0),
            _zeros_params(self.n_params, self.param_spec),
            trace=self.trace,
            name=self.name,
        )
        prob.model  # noqa: B018  (build it now, once per worker)
        return prob


def portable_problem(prob: ODEProblem, engine: str) -> Portable:
    """The payload for ``engine``'s workers (see the module docstring).

    Raises BridgeTypeError when the problem cannot travel (a JuliaFunction, or an opaque
    function that does not pickle), naming what to do.
    """
    from .._backend import get_backend

    if prob.is_julia:
        raise BridgeTypeError(
            f"problem {prob.name!r} has a JuliaFunction right-hand side, which runs only in "
            "Julia: solve its ensemble with ensemble='threads' on the Julia backend"
        )
    backend = get_backend(engine)
    model = prob.model
    if hasattr(model, "portable"):
        # The engine may carry generated text and compiled forms along (its portable_extras).
        extras_of = getattr(backend, "portable_extras", None)
        generated, extras = extras_of(prob) if extras_of is not None else ({}, ())
        return ModelPortable(model.portable(generated), tuple(extras))
    key = str(getattr(model, "key", f"function:{id(prob.f)}"))
    payload = FunctionPortable(
        key, prob.f, prob.n_states, prob.n_params, prob.param_spec, str(prob.name), prob.trace
    )
    try:
        pickle.dumps(payload)
    except Exception as exc:
        raise BridgeTypeError(
            f"the right-hand side of problem {prob.name!r} cannot be sent to worker processes "
            f"({type(exc).__name__}: {exc}). Define it at module level (a lambda or a local "
            "function does not pickle), or use ensemble='serial'"
        ) from None
    return payload
