"""diffsol against the reference backend on random right-hand sides (hypothesis).

The right-hand sides come from tests/test_fuzz.py's grammar (``+ - *``, squares, bounded
divisions, ``sin``/``cos``/``tanh``/``exp``, ``t``; reverse time and t0 != 0 included). For
each example, the reference backend solves it 100x tighter with Vern9 (the oracle); where
that succeeds with a moderate solution, diffsol (with the example's algorithm) must succeed
and agree within a bound from the tolerances, and its gradient (forward sensitivities and
the adjoint) must agree with the reference backend's forward sensitivities.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import event, given

import bridge
from bridge import _diffsol

from .test_fuzz import FUZZ_SETTINGS, HUGE, compile_rhs, problems

REASON = _diffsol.availability()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"needs pydiffsol: {REASON}")

RELTOL, ABSTOL = 1e-8, 1e-10
#: As in test_fuzz.py: the global error stays far below the local tolerance times this.
AMPLIFICATION = 1e3


def _quiet(call, *args, **kw):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", bridge.SolverWarning)
        return call(*args, **kw)


def check_against_reference(case: dict) -> str:
    f = compile_rhs(case["src"])
    saveat = np.linspace(*case["tspan"], 5)
    prob = bridge.ODEProblem(f, case["u0"], case["tspan"], case["p"])
    tight = {"reltol": RELTOL / 100, "abstol": ABSTOL / 100}
    ref = _quiet(bridge.solve, prob, "Vern9", saveat=saveat, backend="reference", **tight)
    sol = _quiet(
        bridge.solve, prob, case["alg"], saveat=saveat, reltol=RELTOL, abstol=ABSTOL,
        backend="diffsol",
    )  # fmt: skip
    assert sol.u.shape[1] == len(case["u0"]) and sol.backend == "diffsol"
    if not ref.success or np.abs(ref.u).max() > HUGE:
        return "reference failed or huge"
    assert sol.success, (
        f"{case}: diffsol {sol.retcode} ({sol.message}) where the reference succeeded"
    )
    np.testing.assert_array_equal(sol.t, saveat)
    bound = AMPLIFICATION * (RELTOL * np.abs(ref.u) + ABSTOL)
    err = np.abs(sol.u - ref.u)
    assert np.all(err <= bound), f"{case}: max error {err.max():.3g}\n{sol.u}\n{ref.u}"
    cot = np.random.default_rng(0).standard_normal(sol.u.shape)
    _, ref_pb = _quiet(
        bridge.vjp, prob, "Vern9", saveat=saveat, sensealg="ForwardDiffSensitivity",
        backend="reference", **tight,
    )  # fmt: skip
    want = np.concatenate(list(ref_pb(cot)))
    scale = 1.0 + np.abs(want).max()
    for sensealg in ("ForwardDiffSensitivity", "InterpolatingAdjoint"):
        _, pullback = _quiet(
            bridge.vjp, prob, case["alg"], saveat=saveat, sensealg=sensealg, reltol=RELTOL,
            abstol=ABSTOL, backend="diffsol",
        )  # fmt: skip
        got = np.concatenate(list(pullback(cot)))
        np.testing.assert_allclose(
            got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=f"{case} {sensealg}"
        )
    return "agreed"


@FUZZ_SETTINGS
@given(case=problems())
def test_diffsol_agrees_with_the_reference_backend(case):
    event(check_against_reference(case))


def test_a_fixed_example_agrees():
    # The fuzz above accepts "reference failed"; this pins a case that must be compared.
    case = {
        "src": "lambda u, p, t: [np.sin(u[0]) * p[0] + np.cos(t) - u[1] ** 2, "
        "np.tanh(u[1] - p[1]) + np.exp(np.sin(u[0] * t)) / (1.5 + np.sin(u[1]))]",
        "u0": [0.3, -0.7],
        "p": [1.2, -0.4],
        "tspan": (0.5, -1.0),
        "alg": "Rodas5P",
    }
    for alg in ("Tsit5", "auto", "Rodas5P", "FBDF"):
        assert check_against_reference({**case, "alg": alg}) == "agreed", alg
