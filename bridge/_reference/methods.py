"""Which SciPy solver stands in for each DifferentialEquations.jl algorithm name.

The name table itself is ``bridge._algorithms.ALGORITHMS`` (shared with the Julia backend);
this module turns an entry into a SciPy ``OdeSolver`` class and says whether that solver
can use the model's analytic Jacobian.

=============================  ==========================================================
DifferentialEquations.jl       reference backend (SciPy)
=============================  ==========================================================
``auto``                       ``LSODA`` (Adams/BDF switching on detected stiffness)
``Tsit5``, ``Vern7``, ``Vern9``  ``DOP853`` (explicit RK 8(5,3))
``DP5``                        ``RK45`` (the same Dormand-Prince tableau)
``BS3``                        ``RK23`` (the same Bogacki-Shampine tableau)
``Rodas5P``, ``KenCarp4``,     ``Radau`` (implicit Radau IIA 5) with the analytic Jacobian
``RadauIIA5``
``FBDF``, ``QNDF``,            ``BDF`` (variable-order BDF/NDF) with the analytic Jacobian
``Rosenbrock23``, ``TRBDF2``
=============================  ==========================================================
"""

from __future__ import annotations

from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, OdeSolver, Radau

from .._algorithms import Algorithm

SOLVERS: dict[str, type[OdeSolver]] = {
    "RK23": RK23,
    "RK45": RK45,
    "DOP853": DOP853,
    "Radau": Radau,
    "BDF": BDF,
    "LSODA": LSODA,
}

#: Solvers that take ``jac=``; without one they build it by finite differences.
TAKES_JACOBIAN = frozenset({"Radau", "BDF", "LSODA"})

#: Solvers whose Jacobian may be a scipy.sparse matrix (LSODA wants dense or banded).
TAKES_SPARSE_JACOBIAN = frozenset({"Radau", "BDF"})

#: Right-hand side evaluations per step attempt of the explicit Runge-Kutta solvers
#: (the stages after the first, which is reused, plus f at the new point).
RK_EVALS_PER_ATTEMPT = {"RK23": 3, "RK45": 6, "DOP853": 12}

#: Extra evaluations each ``dense_output()`` call costs (DOP853 adds three stages).
DENSE_EVALS = {"DOP853": 3}


def scipy_method(alg: Algorithm) -> str:
    """The SciPy method name for an algorithm.

    Example
    -------
    >>> from bridge._algorithms import ALGORITHMS
    >>> scipy_method(ALGORITHMS["auto"]), scipy_method(ALGORITHMS["Rodas5P"])
    ('LSODA', 'Radau')
    """
    method = alg.scipy_method
    if method == "auto":
        return "LSODA"
    if method not in SOLVERS:  # a table edit gone wrong should fail loudly, not silently
        raise ValueError(f"algorithm {alg.name!r} maps to unknown SciPy method {method!r}")
    return method


def label(alg: Algorithm, method: str) -> str:
    """What ``Solution.alg`` says: the requested name and the SciPy method that ran.

    Example
    -------
    >>> from bridge._algorithms import ALGORITHMS
    >>> label(ALGORITHMS["Tsit5"], "DOP853")
    'Tsit5 (reference: scipy DOP853)'
    """
    return f"{alg.name} (reference: scipy {method})"


#: Above this many states, the structured Jacobians of the sensitivity systems are passed
#: as sparse matrices (a dense LU of the forward-sensitivity system grows as (n(n+m))^3).
DENSE_JACOBIAN_LIMIT = 400


def for_size(method: str, size: int) -> tuple[str, bool]:
    """``(method, sparse)`` for a sensitivity system of ``size`` states.

    LSODA only takes dense (or banded) Jacobians, so large systems that would run on LSODA
    run on BDF with a sparse Jacobian instead; ``Solution.alg`` then says BDF.

    Example
    -------
    >>> for_size("LSODA", 10), for_size("LSODA", 5000), for_size("DOP853", 5000)
    (('LSODA', False), ('BDF', True), ('DOP853', False))
    """
    if method not in TAKES_JACOBIAN or size <= DENSE_JACOBIAN_LIMIT:
        return method, False
    return ("BDF" if method == "LSODA" else method), True
