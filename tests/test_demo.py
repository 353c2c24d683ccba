"""``python -m bridge demo``: the main job fits Lotka–Volterra and reports what it did."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge import _julia
from bridge import demo as _demo

ROOT = Path(__file__).resolve().parents[1]


def run_demo_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full.get("PYTHONPATH")]))
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bridge", "demo", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )


def test_demo_command(tmp_path):
    proc = run_demo_cli("--iterations", "20", "--outdir", str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{proc.stderr}"
    assert re.search(r"^Backend: (julia|diffsol|reference)", out, re.M)
    before = float(re.search(r"^Loss before: (\S+)", out, re.M).group(1))
    after = float(re.search(r"^Loss after:\s+(\S+)", out, re.M).group(1))
    assert after < before / 10  # 4937 -> ~36 in 20 steps
    assert re.search(r"^Time: [\d.]+ s for 20 gradient steps", out, re.M)
    plot = Path(re.search(r"^Plot written to (.+)$", out, re.M).group(1))
    assert plot == (tmp_path / _demo.PLOT_NAME).resolve()
    assert plot.is_file() and plot.stat().st_size > 10_000
    # progress goes to stderr, one line per 2 steps here
    assert "step 10/20" in proc.stderr and "step 20/20" in proc.stderr
    if not _julia.status().usable and "BRIDGE_BACKEND" not in os.environ:
        # the fallback is explained once, in the banner, with the way to get Julia
        from bridge._diffsol import availability

        engine = "reference (SciPy)" if availability() else "diffsol (diffsol, compiled)"
        assert f"Backend: {engine}" in out
        assert "Julia is not available" in out and "python -m bridge install" in out
        assert "BridgeBackendWarning" not in proc.stderr


def test_demo_with_julia_asked_for_but_missing(tmp_path, capsys):
    if _julia.status().usable:
        pytest.skip("Julia is installed")
    assert _demo.run_demo(backend="julia", outdir=str(tmp_path)) == 2
    assert "backend='julia' was asked for" in capsys.readouterr().err
    assert not (tmp_path / _demo.PLOT_NAME).exists()


def test_bad_iterations(capsys):
    assert _demo.run_demo(iterations=0, backend="reference") == 2
    assert "--iterations must be at least 1" in capsys.readouterr().err


def test_demo_without_matplotlib_skips_the_plot(tmp_path, monkeypatch, capsys):
    for mod in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)  # importing it raises ImportError
    assert _demo.run_demo(iterations=2, backend="reference", outdir=str(tmp_path)) == 0
    assert "Plot: skipped (matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / _demo.PLOT_NAME).exists()


def test_demo_fails_when_the_loss_does_not_fall(tmp_path, monkeypatch, capsys):
    real_fit = _demo.fit_lotka_volterra

    def no_progress(iterations, **kwargs):
        res = real_fit(1, **kwargs)
        res.losses = [res.losses[0], res.losses[0] * 2]
        return res

    monkeypatch.setattr(_demo, "fit_lotka_volterra", no_progress)
    assert _demo.run_demo(iterations=1, backend="reference", outdir=str(tmp_path)) == 1
    assert "the loss did not fall" in capsys.readouterr().err


def test_adam_matches_the_textbook_update():
    opt = _demo.Adam(lr=0.1)
    x = np.array([1.0, -2.0])
    x1 = opt.step(x, np.array([3.0, -0.5]))
    np.testing.assert_allclose(x1, [0.9, -1.9])  # the first step moves each entry by lr
    for _ in range(500):
        x1 = opt.step(x1, 2 * x1)  # minimise |x|^2
    assert np.all(np.abs(x1) < 0.05)


def test_loss_and_problem():
    prob = _demo.make_problem()
    assert prob.n_states == 2 and prob.n_params == 4
    np.testing.assert_array_equal(prob.p, _demo.P_START)
    assert _demo.loss_of(np.ones((3, 2))) == 0.0
    assert _demo.lotka_volterra([1.0, 1.0], [1.5, 1.0, 3.0, 1.0], 0.0) == [0.5, -2.0]
