"""Backend selection: ``backend=`` argument, then ``BRIDGE_BACKEND``, then auto.

Auto uses Julia when ``_julia.status()`` says it is usable, else the reference backend, with
one warning per process that says how to get Julia.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ._errors import BridgeTypeError, BridgeValueError, JuliaUnavailableError

if TYPE_CHECKING:
    from ._algorithms import Algorithm
    from ._problem import ODEProblem
    from ._solution import Gradients, Solution
    from ._validate import FloatArray, SolveOptions

BACKENDS = ("auto", "julia", "reference")
ENV_VAR = "BRIDGE_BACKEND"


class BridgeBackendWarning(UserWarning):
    """Emitted once per process when auto falls back to the reference backend."""


class Backend(Protocol):
    """What every backend implements; ``bridge._api`` validates before calling it."""

    name: str

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution: ...

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]: ...


_warned = False
_warn_lock = threading.Lock()


def requested_backend(backend: object = None) -> str:
    """The backend name asked for (argument, else environment, else "auto"), validated."""
    source = "backend"
    if backend is None:
        env = os.environ.get(ENV_VAR)
        if env is not None and env.strip():
            backend, source = env.strip(), f"the environment variable {ENV_VAR}"
        else:
            backend = "auto"
    if not isinstance(backend, str):
        raise BridgeTypeError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
        )
    name = backend.lower()
    if name not in BACKENDS:
        raise BridgeValueError(
            f"unknown backend {backend!r} (from {source}); valid backends: "
            f"{', '.join(map(repr, BACKENDS))}"
        )
    return name


def resolve_backend(backend: object = None) -> str:
    """Decide which backend runs: ``"julia"`` or ``"reference"``.

    Example
    -------
    >>> resolve_backend("reference")
    'reference'
    """
    global _warned
    from . import _julia

    name = requested_backend(backend)
    if name == "reference":
        return name
    st = _julia.status()
    if name == "julia":
        if not st.usable:
            raise JuliaUnavailableError(
                f"backend='julia' was asked for, but {st.reason}. To fix: {_julia.INSTALL_HINT}; "
                "or use backend='reference'."
            )
        return "julia"
    if st.usable:
        return "julia"
    with _warn_lock:
        if not _warned:
            _warned = True
            warnings.warn(
                f"bridge: Julia is not available ({st.reason}); using the SciPy reference "
                f"backend. To use Julia: {_julia.INSTALL_HINT}. Set {ENV_VAR}=reference to "
                "silence this warning.",
                BridgeBackendWarning,
                stacklevel=4,
            )
    return "reference"


def get_backend(name: str) -> Backend:
    """The backend object for a resolved name."""
    if name == "reference":
        from ._reference import BACKEND as ref

        return ref
    from ._julia_backend import BACKEND as jul

    return jul
