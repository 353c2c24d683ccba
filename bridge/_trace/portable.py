"""A traced model as its key and generated source: what ensemble workers rebuild it from.

``TracedModel.portable()`` and ``ArrayModel.portable()`` return a ``PortableModel``: small,
picklable, holding the generated NumPy source of every function the engines call (and,
when asked, other targets' generated text, such as the DiffSL that diffsol compiles).
``build()`` compiles that source into a model with the same numerics, in a process that
never saw the user's function and need not import SymPy.

Example
-------
>>> import pickle
>>> from bridge._trace import trace_model
>>> m = trace_model(lambda u, p, t: [-p[0] * u[0]], 1, 1)
>>> rebuilt = pickle.loads(pickle.dumps(m.portable())).build()
>>> rebuilt.jac(np.array([2.0]), np.array([0.5]), 0.0), rebuilt.key == m.key
(array([[-0.5]]), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._model import FloatArray, ParamSpec

#: The functions a scalar model's engines call, by program name.
SCALAR_FUNCTIONS = ("f", "jac", "paramjac", "vjp", "vjp_p")


@dataclass(frozen=True)
class PortableModel:
    """A model as ``kind`` ("scalar" or "array"), key, sizes and generated source."""

    kind: str
    key: str
    name: str
    n_states: int
    n_params: int
    param_spec: ParamSpec
    #: scalar: {program: (args, sizes, source, constants)}; array: (source, constants)
    numpy: Any
    #: Other targets' generated text, e.g. {"diffsl": ..., "diffsl-reflected": ...}.
    generated: dict[str, str] = field(default_factory=dict)

    def build(self) -> Any:
        """The model, compiled from the source (a ``SourceModel`` or an ``ArrayRuntime``)."""
        if self.kind == "array":
            from .array.model import _NUMPY_ONLY, _ORDER, ArrayRuntime
            from .array.numpy_printer import compile_source

            source, constants = self.numpy
            names = [*_ORDER, *_NUMPY_ONLY]
            compiled = compile_source(source, constants, f"<bridge {self.name}>", names)
            return _with_identity(ArrayRuntime(compiled, self.n_states, self.n_params), self)
        return _with_identity(SourceModel(self), self)


def _with_identity(model: Any, spec: PortableModel) -> Any:
    model.key = spec.key
    model.name = spec.name
    model.param_spec = spec.param_spec
    model.generated = dict(spec.generated)
    model.switches = ()
    return model


class SourceModel:
    """A scalar traced model rebuilt from its generated NumPy source (see the module)."""

    has_derivatives = True
    f_source = "generated"

    def __init__(self, spec: PortableModel) -> None:
        from .numpy_codegen import NumpyFunction

        self.n_states = spec.n_states
        self.n_params = spec.n_params
        fns = {
            name: NumpyFunction.from_source(name, args, sizes, source, constants, spec.name)
            for name, (args, sizes, source, constants) in spec.numpy.items()
        }
        self._f, self._jac, self._pjac = fns["f"], fns["jac"], fns["paramjac"]
        self._vjp_u, self._vjp_p = fns["vjp"], fns["vjp_p"]

    def f(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._f(u, p, t)
        return out

    def jac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._jac(u, p, t)
        return out

    def paramjac(self, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._pjac(u, p, t)
        return out

    def vjp_u(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._vjp_u(v, u, p, t)
        return out

    def vjp_p(self, v: FloatArray, u: FloatArray, p: FloatArray, t: float) -> FloatArray:
        out: FloatArray = self._vjp_p(v, u, p, t)
        return out

    def __repr__(self) -> str:
        return f"SourceModel({getattr(self, 'name', '?')!r}, n_states={self.n_states})"


def scalar_portable(model: Any, generated: dict[str, str] | None = None) -> PortableModel:
    """The ``PortableModel`` of a scalar ``TracedModel``."""
    from .numpy_codegen import python_source

    numpy: dict[str, Any] = {}
    for name in SCALAR_FUNCTIONS:
        program = model.programs[name]
        source, constants = python_source(program)
        sizes = {arg: len(syms) for arg, syms in program.inputs.items()}
        numpy[name] = (
            program.args,
            sizes,
            source,
            {k: np.asarray(v) for k, v in constants.items()},
        )
    return PortableModel(
        "scalar",
        str(model.key),
        str(model.name),
        int(model.n_states),
        int(model.n_params),
        model.param_spec,
        numpy,
        dict(generated or {}),
    )


__all__ = ["PortableModel", "SourceModel", "scalar_portable"]
