"""Smoke test of the benchmark harness (bench/): one problem, one repeat, so it cannot rot.

Benchmarks themselves never run in the test suite; this only checks that the harness's
functions still fit together with bridge's API and produce a well-formed report.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

from bench import peers, problems, run

SMOKE = run.Settings(
    "smoke", repeats=1, budget_s=0.1, call_limit_s=30.0, first_call_limit_s=30.0, count_nf=False
)


@pytest.mark.parametrize("prob", problems.build_problems(), ids=lambda p: p.name)
def test_numpy_and_vectorised_forms_agree(prob: problems.Problem) -> None:
    # The peers run f_xp and bridge runs f: they must be the same ODE.
    u = prob.u0 + np.linspace(0.1, 0.7, prob.n_states)
    plain = np.asarray(prob.f(u, prob.bridge_p, 0.3), dtype=float)
    np.testing.assert_allclose(prob.f_xp(u, prob.p, 0.3, np), plain, rtol=1e-13, atol=1e-13)


def test_stored_references_match_the_problem_set() -> None:
    refs = run.load_references(problems.build_problems())
    stale = [p.name for p in problems.build_problems() if p.name not in refs]
    assert not stale, f"rerun `python bench/run.py --recompute-references` for {stale}"


def _nudged(prob: problems.Problem, factor: float) -> problems.Problem:
    """The problem with every input scaled by ``factor`` (saveat kept inside tspan)."""
    return dataclasses.replace(
        prob,
        u0=prob.u0 * factor,
        p=prob.p * factor,
        saveat=np.clip(prob.saveat * factor, *sorted(prob.tspan)),
    )


@pytest.mark.parametrize("name", ["robertson", "reaction_chain"])
def test_references_hold_on_machines_whose_last_bits_differ(name: str) -> None:
    # np.logspace and exp differ in the last bits between CPUs and libms; such inputs are
    # the same problem (the references' own errors are 1e-12 or more), a real change is not.
    prob = problems.get_problem(name)
    ulps = 1 + 8 * np.finfo(float).eps
    assert name in run.load_references([_nudged(prob, ulps)])
    assert name not in run.load_references([_nudged(prob, 1 + 1e-6)])


def test_one_problem_through_the_harness(tmp_path) -> None:
    prob = problems.get_problem("lotka_volterra")
    tools = [peers.BridgeAdapter("reference"), peers.ScipyAdapter()]
    results = run.run_benchmarks([prob], tools, SMOKE, log=lambda _: None)

    rows = {r["tool"]: r for r in results["rows"]}
    assert results["baseline"] == "bridge[reference]"
    bridge_row = rows["bridge[reference]"]
    assert not bridge_row["skipped"], bridge_row["skipped"]
    assert bridge_row["forward"]["median_s"] > 0 and bridge_row["gradient"]["median_s"] > 0
    assert bridge_row["nf"] > 0
    assert bridge_row["error"] < 1e-5  # rtol = atol = 1e-8 against the stored reference
    assert bridge_row["grad_error"] < 1e-5
    assert rows["scipy solve_ivp"]["ratio_forward"] > 0

    json_path, md_path = run.write_results(results, tmp_path)
    assert json.loads(json_path.read_text())["rows"]
    text = md_path.read_text()
    assert "| Lotka–Volterra | bridge[reference] | Tsit5 |" in text
    assert results["machine"]["cpu"] in text


def test_unsupported_problems_are_reported_not_run() -> None:
    row = run.run_cell(
        problems.get_problem("robertson"), peers.TorchdiffeqAdapter(adjoint=False), SMOKE, None
    )
    assert "implicit" in row.skipped and row.forward is None


def test_a_call_past_the_limit_is_stopped() -> None:
    def spin() -> None:
        end = time.perf_counter() + 5.0
        while time.perf_counter() < end:
            pass

    started = time.perf_counter()
    with pytest.raises(run.CallTimeout), run.time_limit(0.1):
        spin()
    assert time.perf_counter() - started < 2.0


def test_events_bench_runs_and_its_errors_are_small(capsys) -> None:
    # bench/bench_events.py through its main() on the reference engine, one repeat: every
    # row's error against its closed form stays small (so the bench keeps measuring right).
    from bench import bench_events

    assert bench_events.main(["--repeats", "1", "--engines", "reference"]) == 0
    lines = capsys.readouterr().out.splitlines()
    data = [line for line in lines if line.startswith("| ") and "| reference |" in line]
    assert len(data) == 5
    for row in data:
        error = float(row.strip("| ").split("|")[-1])
        assert error < 1e-6, row
