"""The benchmark's diffsol rows: the hand-written DiffSL is the problem's right-hand side, and
the hand-written pydiffsol peer and bridge[diffsol] run through the harness."""

from __future__ import annotations

import numpy as np
import pytest

from bench import peers, problems, run
from bridge import _diffsol

REASON = _diffsol.availability()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"needs pydiffsol: {REASON}")


@pytest.mark.parametrize("prob", problems.build_problems(), ids=lambda p: p.name)
def test_hand_written_diffsl_is_the_problem(prob):
    ode = _diffsol.pydiffsol().Ode(prob.diffsl)
    params = np.concatenate([prob.p, prob.u0])
    np.testing.assert_array_equal(ode.y0(params), prob.u0)
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = prob.u0 + 0.1 * rng.standard_normal(prob.n_states)
        want = np.asarray(prob.f_xp(u, prob.p, 0.7, np))
        np.testing.assert_allclose(ode.rhs(params, 0.7, u), want, rtol=1e-13, atol=1e-13)


def test_diffsol_rows_run_through_the_harness_and_print_the_targets():
    prob = problems.get_problem("lotka_volterra")
    tools = [peers.BridgeAdapter("diffsol"), peers.PydiffsolAdapter()]
    quick = run.Settings("quick", repeats=1, budget_s=1.0, call_limit_s=30.0,
                         first_call_limit_s=60.0, count_nf=False)  # fmt: skip
    results = run.run_benchmarks([prob], tools, quick, log=lambda _: None)
    rows = {r["tool"]: r for r in results["rows"]}
    assert results["baseline"] == "bridge[diffsol]"
    for tool in ("bridge[diffsol]", "pydiffsol (hand-written)"):
        assert rows[tool]["error"] < 1e-5 and rows[tool]["grad_error"] < 1e-5, rows[tool]
    text = run.render_markdown(results)
    assert "## diffsol targets (issue 15)" in text
    assert "| forward ≤ 1.3× hand-written pydiffsol | Lotka–Volterra |" in text
