"""Progress on the reference engine: a tqdm bar with progress=True (solve, vjp and the
adjoint's backward pass), one notice on stderr when a silent solve runs long, and a clear
word when tqdm is missing."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import bridge
from bridge import _progress
from tests.models import lotka_volterra as lv
from tests.models import robertson

LV = {"u0": [1.0, 1.0], "tspan": (0.0, 10.0), "p": [1.5, 1.0, 3.0, 1.0]}
TIGHT = {"reltol": 1e-8, "abstol": 1e-8, "backend": "reference"}


@pytest.fixture
def lv_prob():
    prob = bridge.ODEProblem(lv, **LV)
    prob.model  # noqa: B018  (trace before anything is captured)
    return prob


def test_progress_true_shows_a_bar_over_t(lv_prob, capsys):
    pytest.importorskip("tqdm")
    sol = bridge.solve(lv_prob, "Tsit5", progress=True, **TIGHT)
    err = capsys.readouterr().err
    assert sol.retcode == "Success"
    assert "bridge: solve of 'lotka_volterra' with Tsit5" in err, err
    assert "t=10" in err, "the bar ends at t1"


@pytest.mark.parametrize(
    ("sensealg", "bars"),
    [
        (
            "InterpolatingAdjoint",
            ["solve for the adjoint of 'lotka_volterra'", "adjoint of 'lotka_volterra' with Tsit5"],
        ),
        ("ForwardDiffSensitivity", ["solve with forward sensitivities of 'lotka_volterra'"]),
    ],
)
def test_progress_true_on_vjp_covers_the_backward_pass(lv_prob, capsys, sensealg, bars):
    pytest.importorskip("tqdm")
    sol, pullback = bridge.vjp(
        lv_prob, "Tsit5", saveat=1.0, sensealg=sensealg, progress=True, **TIGHT
    )
    pullback(np.ones_like(sol.u))
    err = capsys.readouterr().err
    for bar in bars:
        assert f"bridge: {bar}" in err, err


def test_without_progress_a_quick_solve_is_silent(lv_prob, capsys):
    bridge.solve(lv_prob, "Tsit5", **TIGHT)
    assert capsys.readouterr().err == ""


def test_a_long_silent_solve_prints_one_notice(monkeypatch, capsys):
    monkeypatch.setattr(_progress, "NOTICE_AFTER_S", 0.0)  # "long" from the start
    prob = bridge.ODEProblem(robertson, [1.0, 0.0, 0.0], (0.0, 1e5), [0.04, 3e7, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bridge.SolverWarning)
        bridge.solve(prob, "Tsit5", maxiters=400, backend="reference")
    err = capsys.readouterr().err
    assert err.count("bridge: the solve of 'robertson'") == 1, err
    assert "Pass progress=True for a progress bar" in err
    assert "Rodas5P" in err, "an explicit method's notice names a stiff algorithm"
    assert "at this rate the rest takes about" in err


def test_without_tqdm_progress_says_so_once_and_solves(lv_prob, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(_progress, "_warned_no_tqdm", False)
    with pytest.warns(bridge.BridgeWarning, match=r"progress=True needs tqdm") as caught:
        for _ in range(2):
            sol = bridge.solve(lv_prob, "Tsit5", progress=True, **TIGHT)
    assert sol.retcode == "Success"
    assert len([w for w in caught if "needs tqdm" in str(w.message)]) == 1
    assert "bridge: solve of" not in capsys.readouterr().err


def test_progress_must_be_a_bool(lv_prob):
    with pytest.raises(TypeError, match="progress must be True or False, got 'yes'"):
        bridge.solve(lv_prob, progress="yes", backend="reference")
