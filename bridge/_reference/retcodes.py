"""Return codes, named as DifferentialEquations.jl names them (``SciMLBase.ReturnCode``).

SciPy's solvers report failure as a free-text message; the driver turns that, plus what it
saw of the state and the right-hand side, into one of these names.
"""

from __future__ import annotations

import math

import numpy as np

from .._model import FloatArray

SUCCESS = "Success"
#: More steps were needed than ``maxiters`` allows.
MAXITERS = "MaxIters"
#: The state or the right-hand side became NaN or infinite.
UNSTABLE = "Unstable"
#: The step size fell below what floating point can resolve near t.
DT_LESS_THAN_MIN = "DtLessThanMin"
#: Anything else the solver gave up on (e.g. LSODA's internal error states).
FAILURE = "Failure"

#: SciPy's message when a step would be smaller than the spacing of floats at t
#: (``OdeSolver.TOO_SMALL_STEP``; Radau and BDF use the same text).
_TOO_SMALL = "Required step size is less than spacing between numbers."


def is_finite(arr: FloatArray) -> bool:
    """True when every entry is finite; sums first because that is cheaper than isfinite.

    Example
    -------
    >>> is_finite(np.array([1.0, np.inf]))
    False
    """
    # A sum is finite iff every term is (barring overflow of huge finite values, which we
    # then double-check with the exact test).
    return math.isfinite(float(np.sum(arr))) or bool(np.isfinite(arr).all())


def from_failure(message: str | None, nonfinite: bool) -> str:
    """The retcode for a solver that stopped with ``message``.

    ``nonfinite`` says whether a NaN or inf was seen in the state or the last right-hand
    side evaluation: SciPy reacts to those by shrinking the step until it is too small,
    which DifferentialEquations.jl would call an instability, not a step-size problem.

    Example
    -------
    >>> from_failure("Required step size is less than spacing between numbers.", True)
    'Unstable'
    """
    if nonfinite:
        return UNSTABLE
    if message == _TOO_SMALL:
        return DT_LESS_THAN_MIN
    return FAILURE
