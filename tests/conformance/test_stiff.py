"""Stiff problems solved correctly and efficiently (a non-stiff method would need far more steps).

References were computed independently with SciPy's Radau at rtol 1e-10 (Robertson: atol
1e-14; Van der Pol: atol 1e-10) and checked against a 1e-8 run.
"""

from __future__ import annotations

import numpy as np
import pytest

import bridge

from .problems import ROBERTSON, VAN_DER_POL

ROBERTSON_T = np.array([1e-2, 1.0, 1e2, 1e4, 1e5])
ROBERTSON_REF = np.array(
    [
        [9.99600683e-01, 3.64504789e-05, 3.62866833e-04],
        [9.66459737e-01, 3.07462658e-05, 3.35095164e-02],
        [6.17234882e-01, 6.15359127e-06, 3.82758964e-01],
        [1.07300429e-01, 4.80016697e-07, 8.92699091e-01],
        [1.78659211e-02, 7.27475147e-08, 9.82134006e-01],
    ]
)

VDP_T = np.array([500.0, 1000.0, 2000.0, 3000.0])
VDP_REF = np.array(
    [
        [1.59676895e00, -1.03039119e-03],
        [-1.86364625e00, 7.53543086e-04],
        [1.70616773e00, -8.92809701e-04],
        [-1.51060694e00, 1.17838000e-03],
    ]
)


@pytest.mark.parametrize("alg", ["Rodas5P", "FBDF", "auto"])
def test_robertson_to_1e5(backend, alg):
    prob = ROBERTSON.problem(backend)
    sol = bridge.solve(prob, alg, saveat=ROBERTSON_T, reltol=1e-6, abstol=1e-10, backend=backend)
    assert sol.retcode == "Success", sol.message
    rel = np.abs(sol.u - ROBERTSON_REF) / np.abs(ROBERTSON_REF)
    assert rel.max() < 1e-4, rel
    np.testing.assert_allclose(sol.u.sum(axis=1), 1.0, atol=1e-6)  # mass is conserved
    assert sol.stats.naccept < 2000  # stiff-capable: an explicit method needs ~10^6 steps


@pytest.mark.parametrize("alg", [pytest.param("Rodas5P", marks=pytest.mark.slow), "FBDF", "auto"])
def test_van_der_pol_mu_1000(backend, alg):
    prob = VAN_DER_POL.problem(backend)
    sol = bridge.solve(prob, alg, saveat=VDP_T, reltol=1e-6, abstol=1e-8, backend=backend)
    assert sol.retcode == "Success", sol.message
    # Errors concentrate in the phase of the fast transitions: 1e-6 local -> ~1e-4 global.
    np.testing.assert_allclose(sol.u[:, 0], VDP_REF[:, 0], rtol=1e-3)
    np.testing.assert_allclose(sol.u[:, 1], VDP_REF[:, 1], rtol=2e-3)
    assert sol.stats.naccept < 5000


def test_stiff_solver_uses_the_analytic_jacobian(backend):
    if backend != "reference":
        pytest.skip("Jacobian counts are reference-backend bookkeeping")
    prob = ROBERTSON.problem(backend, tspan=(0.0, 100.0))
    sol = bridge.solve(prob, "FBDF", reltol=1e-6, abstol=1e-10, backend=backend)
    assert sol.stats.njacs >= 1
    assert "BDF" in sol.alg
