"""The command line (``python -m bridge``): plain help text, and the selftest report."""

from __future__ import annotations

import io
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge import _selftest
from bridge.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_is_plain_text_and_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    ).stdout
    assert "``" not in out and "* " not in out, "no reST markup in --help"
    for command in ("doctor", "install", "selftest", "demo"):
        assert re.search(rf"^\s+{command}\s", out, re.M), out


def test_selftest_runs_every_check_on_the_reference_engine(capsys):
    assert main(["selftest", "--engine", "reference"]) == 0
    out = capsys.readouterr().out
    assert "paste everything below into a bug report" in out
    assert re.search(r"versions: bridge \S+, python \S+, numpy \S+, scipy \S+", out), out
    assert "engine reference: found" in out
    assert re.search(r"engine julia: (found|absent: .+)", out)
    rows = [line for line in out.splitlines() if line.startswith("reference ")]
    assert len(rows) == len(_selftest.CHECKS), out
    for row in rows:
        assert re.search(r" PASS +\d\.\de-\d\d +1e-\d\d \d+\.\d\d s$", row), row
    assert f"{len(rows)} of {len(rows)} checks passed on reference" in out


def test_selftest_reports_a_wrong_engine_as_failed(monkeypatch):
    # A selftest that cannot fail checks nothing: make the engine 1 % wrong.
    from bridge._reference import solve as ref_solve

    real = ref_solve.to_solution

    def skewed(run, label, n=None):
        sol = real(run, label, n)
        sol.u = sol.u * 1.01
        return sol

    monkeypatch.setattr(ref_solve, "to_solution", skewed)
    out = io.StringIO()
    assert _selftest.selftest(["reference"], stream=out) == 1
    text = out.getvalue()
    assert re.search(r"exponential decay: solution vs closed form +FAIL +1\.0e-02", text), text
    assert "checks passed on reference" in text and f"of {len(_selftest.CHECKS)}" in text


def test_selftest_reports_an_exception_with_its_message(monkeypatch):
    def broken(engine):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(_selftest, "CHECKS", {"a broken check": broken})
    out = io.StringIO()
    assert _selftest.selftest(["reference"], stream=out) == 1
    text = out.getvalue()
    assert "a broken check" in text and "FAIL" in text
    assert "RuntimeError: the engine fell over (test_cli.py:" in text


def test_selftest_of_an_absent_engine_says_so(monkeypatch):
    monkeypatch.setattr(_selftest, "engines", lambda: [("reference", None), ("julia", "none")])
    out = io.StringIO()
    assert _selftest.selftest(["julia"], stream=out) == 2
    assert "asked for engines that are absent here: julia" in out.getvalue()


def test_selftest_checks_are_independent_of_the_engine():
    # The Robertson reference is SciPy's Radau with the exact Jacobian, not bridge.
    ref = _selftest._robertson_reference()
    np.testing.assert_allclose(ref.sum(axis=1), 1.0, atol=1e-10)  # mass is conserved
    assert ref[-1, 0] < ref[0, 0]


def test_two_language_example_takes_the_backend_flag(capsys):
    module = runpy.run_path(str(ROOT / "examples" / "two_language.py"))
    assert module["main"](["--quick", "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert "Backend: reference (requested 'reference' by backend=" in out
    assert "OK: Python timed" in out
    with pytest.raises(SystemExit):
        module["main"](["--backend"])  # argparse: the flag needs a value
