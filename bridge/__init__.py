"""bridge: differentiable ODE solves from Python, on Julia's SciML stack or a SciPy reference.

The whole public API is re-exported here.

Example
-------
>>> import bridge
>>> prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [0.5])
>>> sol = bridge.solve(prob, "Tsit5", saveat=0.5, backend="reference")
>>> sol.retcode
'Success'
"""

from __future__ import annotations

from . import zygote
from ._algorithms import ALGORITHMS, SENSEALGS
from ._api import solve, value_and_grad, vjp
from ._backend import BACKENDS, BackendChoice, choose_backend, resolve_backend
from ._ensemble import ENSEMBLES, EnsembleProblem, EnsembleSolution
from ._errors import (
    BackendUnavailableError,
    BackendUnsupportedError,
    BridgeBackendWarning,
    BridgeError,
    BridgeTypeError,
    BridgeValueError,
    BridgeWarning,
    GradientUnavailableError,
    GradientWarning,
    JuliaError,
    JuliaUnavailableError,
    SolveFailedError,
    SolverWarning,
    TraceError,
)
from ._events import Event
from ._julia import start_julia
from ._problem import JuliaFunction, ODEProblem
from ._solution import Gradients, Solution, Stats

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "BACKENDS",
    "ENSEMBLES",
    "SENSEALGS",
    "BackendChoice",
    "BackendUnavailableError",
    "BackendUnsupportedError",
    "BridgeBackendWarning",
    "BridgeError",
    "BridgeTypeError",
    "BridgeValueError",
    "BridgeWarning",
    "EnsembleProblem",
    "EnsembleSolution",
    "Event",
    "GradientUnavailableError",
    "GradientWarning",
    "Gradients",
    "JuliaError",
    "JuliaFunction",
    "JuliaUnavailableError",
    "ODEProblem",
    "Solution",
    "SolveFailedError",
    "SolverWarning",
    "Stats",
    "TraceError",
    "__version__",
    "choose_backend",
    "resolve_backend",
    "solve",
    "start_julia",
    "value_and_grad",
    "vjp",
    "zygote",
]
