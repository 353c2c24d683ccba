"""Ensembles: many members of one problem, given as data, solved in one call.

Modules: ``problem`` (``EnsembleProblem``), ``solution`` (``EnsembleSolution``), ``portable``
(what crosses to a worker), ``run`` (the unit of work and the executors: in process, a
process pool, a Dask cluster), ``api`` (``bridge.solve``/``bridge.vjp`` on an ensemble).
"""

from .api import solve_ensemble, vjp_ensemble
from .problem import EnsembleProblem
from .run import ENSEMBLES
from .solution import EnsembleSolution

__all__ = ["ENSEMBLES", "EnsembleProblem", "EnsembleSolution", "solve_ensemble", "vjp_ensemble"]
