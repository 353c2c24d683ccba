"""Names of algorithms and sensitivity methods, as DifferentialEquations.jl spells them.

Both backends accept exactly these names. The Julia backend builds the algorithm from a fixed
table in ``julia/DiffBridge/src/algorithms.jl`` (never by evaluating user text); the reference
backend maps each name to the closest SciPy method (table ``REFERENCE_METHODS``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ._errors import BridgeTypeError, BridgeValueError


@dataclass(frozen=True)
class Algorithm:
    """One algorithm name, whether it is for stiff problems, and its SciPy stand-in."""

    name: str
    stiff: bool
    scipy_method: str
    note: str


#: DifferentialEquations.jl name -> SciPy method used by the reference backend.
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "auto", False, "auto", "Julia: DefaultODEAlgorithm; reference: LSODA-style switching"
        ),
        Algorithm("Tsit5", False, "DOP853", "explicit Runge-Kutta 5(4)"),
        Algorithm("Vern7", False, "DOP853", "explicit Runge-Kutta 7(6)"),
        Algorithm("Vern9", False, "DOP853", "explicit Runge-Kutta 9(8)"),
        Algorithm("DP5", False, "RK45", "Dormand-Prince 5(4), same tableau as RK45"),
        Algorithm("BS3", False, "RK23", "Bogacki-Shampine 3(2), same tableau as RK23"),
        Algorithm("Rodas5P", True, "Radau", "Rosenbrock 5; reference: Radau IIA with analytic J"),
        Algorithm("Rosenbrock23", True, "BDF", "Rosenbrock 2(3); reference: BDF with analytic J"),
        Algorithm("FBDF", True, "BDF", "variable-order BDF"),
        Algorithm("QNDF", True, "BDF", "quasi-constant NDF; reference: BDF"),
        Algorithm("KenCarp4", True, "Radau", "ESDIRK 4; reference: Radau IIA"),
        Algorithm("TRBDF2", True, "BDF", "TR-BDF2; reference: BDF"),
        Algorithm("RadauIIA5", True, "Radau", "Radau IIA 5, same method as SciPy's Radau"),
    ]
}

#: SciMLSensitivity names accepted by ``sensealg=``.
SENSEALGS = (
    "auto",
    "ForwardDiffSensitivity",
    "GaussAdjoint",
    "InterpolatingAdjoint",
    "QuadratureAdjoint",
    "BacksolveAdjoint",
)


#: SciPy's ``solve_ivp`` method names -> the bridge name to use, and why. The reference
#: backend runs exactly that SciPy method for each of these names.
SCIPY_NAMES = {
    "RK45": ("DP5", "the same Dormand-Prince 5(4) tableau"),
    "RK23": ("BS3", "the same Bogacki-Shampine 3(2) tableau"),
    "DOP853": ("Vern7", "a high-order explicit Runge-Kutta method like DOP853"),
    "Radau": ("RadauIIA5", "the same Radau IIA method of order 5"),
    "BDF": ("FBDF", "variable-order BDF, as scipy's BDF"),
    "LSODA": ("auto", "switches between stiff and nonstiff methods, as LSODA does"),
}


def suggest_alg(alg: str) -> str:
    """A hint for an unknown algorithm name: the bridge name to use, or "".

    SciPy's names map to the bridge name for the same method; otherwise the closest known
    name, ignoring case (``tsit5`` -> ``Tsit5``, ``Rodas5`` -> ``Rodas5P``).

    Example
    -------
    >>> suggest_alg("RK45").split(" (")[0]
    "scipy's RK45 is alg='DP5' here"
    >>> suggest_alg("tsit5"), suggest_alg("Rodas5"), suggest_alg("RK4000")
    ("did you mean alg='Tsit5'?", "did you mean alg='Rodas5P'?", '')
    """
    for scipy_name, (name, why) in SCIPY_NAMES.items():
        if alg.lower() == scipy_name.lower():
            return (
                f"scipy's {scipy_name} is alg={name!r} here ({why}; the reference backend runs "
                f"scipy's {scipy_name} for it)"
            )
    by_lower = {name.lower(): name for name in ALGORITHMS}
    if alg.lower() in by_lower:
        return f"did you mean alg={by_lower[alg.lower()]!r}?"
    close = difflib.get_close_matches(alg.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean alg={by_lower[close[0]]!r}?" if close else ""


def check_alg(alg: object) -> Algorithm:
    """Look up an algorithm name; unknown names get a suggestion and the valid names.

    Example
    -------
    >>> check_alg("Tsit5").scipy_method
    'DOP853'
    """
    if not isinstance(alg, str):
        raise BridgeTypeError(
            f"alg must be an algorithm name (a string such as 'Tsit5'), got {alg!r}"
        )
    try:
        return ALGORITHMS[alg]
    except KeyError:
        hint = suggest_alg(alg)
        raise BridgeValueError(
            f"alg={alg!r} is not a known algorithm{'; ' + hint if hint else ''}; valid names "
            f"(DifferentialEquations.jl's): {', '.join(ALGORITHMS)}"
        ) from None


def check_sensealg(sensealg: object) -> str:
    """Validate a sensitivity-method name.

    Example
    -------
    >>> check_sensealg("GaussAdjoint")
    'GaussAdjoint'
    """
    if not isinstance(sensealg, str) or sensealg not in SENSEALGS:
        raise BridgeValueError(
            f"sensealg={sensealg!r} is not a known sensitivity method; valid names: "
            f"{', '.join(SENSEALGS)}"
        )
    return sensealg
