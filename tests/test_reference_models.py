"""The shared model catalogue (tests/models.py) through the reference backend's vjp:
forward sensitivities and the adjoint must agree on every model, traced from user code."""

from __future__ import annotations

import numpy as np
import pytest

import bridge

models = pytest.importorskip("tests.models")
NAMES = sorted(models.MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_adjoint_agree_on_the_catalogue(name):
    f, u0, p, tspan = models.MODELS[name]
    prob = bridge.ODEProblem(f, u0, tspan, p)
    alg = "auto"  # LSODA copes with the stiff entries (robertson) and the rest alike
    saveat = np.linspace(*tspan, 5)
    kw = {"saveat": saveat, "reltol": 1e-8, "abstol": 1e-10, "backend": "reference"}
    cot = np.random.default_rng(7).standard_normal((len(saveat), prob.n_states))
    grads = []
    for sensealg in ["ForwardDiffSensitivity", "InterpolatingAdjoint"]:
        sol, pullback = bridge.vjp(prob, alg, sensealg=sensealg, **kw)
        assert sol.success
        g = pullback(cot)
        grads.append(np.concatenate([g.u0, g.p]))
    scale = np.max(np.abs(grads[0]))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-5 * scale)
