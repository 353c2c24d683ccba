"""The examples run in their fast mode and reach their outcome; the notebook executes.

Each example is run as a user would run it (a subprocess, ``MPLBACKEND=Agg``), with its plots
written into ``tmp_path``, so a broken example fails CI.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import _julia

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
JULIA_USABLE = _julia.status().usable

#: Every example script, and the test that runs it (a new example must be added here).
COVERED = {"bouncing_ball.py", "fit_lotka_volterra.py", "neural_ode_spiral.py", "two_language.py"}


def example_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["BRIDGE_EXAMPLES_QUICK"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_example(name: str, cwd: Path, *args: str, timeout: float = 300) -> str:
    """Run ``examples/<name> --quick args...``; assert exit code 0 and return stdout."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", *args],
        cwd=cwd,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"{name} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc.stdout


def loss_fell(stdout: str) -> tuple[float, float, float]:
    """The example's verdict line: ``OK: loss fell <k>x (<before> -> <after>; ...)``."""
    match = re.search(r"OK: loss fell (\S+)x \((\S+) -> (\S+);", stdout)
    assert match, f"no 'OK: loss fell' line in:\n{stdout}"
    factor, before, after = (float(g) for g in match.groups())
    return factor, before, after


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000, f"{path} is not a real PNG"


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.py")} == COVERED


def test_fit_lotka_volterra(tmp_path):
    out = run_example("fit_lotka_volterra.py", tmp_path, "--outdir", str(tmp_path))
    assert re.search(r"^Backend: (julia|diffsol|reference)", out, re.M)
    assert "step 10/20" in out  # the loss is shown as it falls
    factor, before, after = loss_fell(out)
    assert after < before / 10 and factor >= 10
    assert_png(tmp_path / "fit_lotka_volterra.png")
    assert f"Plot written to {(tmp_path / 'fit_lotka_volterra.png').resolve()}" in out


def test_bouncing_ball(tmp_path):
    out = run_example("bouncing_ball.py", tmp_path, "--outdir", str(tmp_path))
    assert re.search(r"^Backend: (julia|diffsol|reference)", out, re.M)
    assert re.search(r"OK: impact times within \S+ and the gradient through 3 impacts", out)
    assert_png(tmp_path / "bouncing_ball.png")


@pytest.mark.slow
def test_neural_ode_spiral(tmp_path):
    pytest.importorskip("torch")
    out = run_example("neural_ode_spiral.py", tmp_path, "--outdir", str(tmp_path))
    assert re.search(r"^Backend: (julia|diffsol|reference)", out, re.M)
    factor, before, after = loss_fell(out)
    assert factor >= 10 and after < before / 10
    assert_png(tmp_path / "neural_ode_spiral.png")


def test_two_language(tmp_path):
    out = run_example("two_language.py", tmp_path)
    assert "Python: fib(20) = 6765" in out
    if JULIA_USABLE and os.environ.get("BRIDGE_BACKEND", "").lower() != "reference":
        assert "Julia:  fib(20) = 6765" in out
        assert re.search(r"OK: Python takes \d+x as long as Julia", out)
    else:
        assert "Julia: not available here" in out
        assert "python -m bridge install" in out


def test_two_language_refuses_julia_when_missing(monkeypatch, capsys):
    if JULIA_USABLE:
        pytest.skip("Julia is installed, so backend='julia' works")
    monkeypatch.setenv("BRIDGE_BACKEND", "julia")
    module = runpy.run_path(str(EXAMPLES / "two_language.py"))
    assert module["main"](["--quick"]) == 2
    assert "Julia was asked for but is not available" in capsys.readouterr().out


# --------------------------------------------------------------------------- the notebook

NOTEBOOK = EXAMPLES / "quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch):
    """Make the ``python3`` kernel run this interpreter (the one running the tests)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (bridge tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    env = example_env()
    monkeypatch.setenv("BRIDGE_EXAMPLES_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook uses the inline backend
    return "python3"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, this_python_kernel):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=this_python_kernel,
        timeout=240,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails

    outputs = {cell.id: cell.get("outputs", []) for cell in nb.cells}
    # the kernel ran this interpreter's bridge on a real backend
    setup = "".join(o.get("text", "") for o in outputs["setup"])
    assert re.search(r"backend: (julia|diffsol|reference)", setup)
    # rich display: the Solution's HTML table, and sol.plot() as an image
    html = [o["data"]["text/html"] for o in outputs["solve"] if "text/html" in o.get("data", {})]
    assert html and "bridge.Solution" in html[0] and "Success" in html[0]
    assert any("image/png" in o.get("data", {}) for o in outputs["plot"])
    fit = "".join(o.get("text", "") for o in outputs["fit"])
    match = re.search(r"loss (\S+) -> (\S+) in 20 steps", fit)
    assert match and float(match.group(2)) < float(match.group(1)) / 10
    assert any("image/png" in o.get("data", {}) for o in outputs["fit-plot"])
    events = "".join(o.get("text", "") for o in outputs["events"])
    assert "impacts, the first at t = 0.4515" in events  # sqrt(2 h0 / g)
    assert "height at t = 2: 0.2607, d/de = 2.4993" in events  # examples/bouncing_ball.py
    assert any("image/png" in o.get("data", {}) for o in outputs["events"])
