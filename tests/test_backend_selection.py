"""Backend selection: argument, BRIDGE_BACKEND, auto fallback with one warning, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import bridge
import bridge._diffsol
from bridge import _julia
from bridge._backend import requested_backend, resolve_backend

JULIA_MISSING = not _julia.status().usable
#: What auto runs without Julia: diffsol where pydiffsol is installed, else the reference.
AUTO_WITHOUT_JULIA = "reference" if bridge._diffsol.availability() else "diffsol"


def run_py(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (so 'once per process' is really tested)."""
    full_env = {k: v for k, v in os.environ.items() if k != "BRIDGE_BACKEND"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_unknown_backend_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"unknown backend 'fortran'.*'auto', 'julia', 'diffsol', 'reference'"
    ):
        requested_backend("fortran")


def test_backend_must_be_a_string():
    with pytest.raises(TypeError, match="backend must be one of"):
        requested_backend(3)


def test_backend_names_are_case_insensitive():
    assert requested_backend("Reference") == "reference"


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("BRIDGE_BACKEND", "julia")
    assert resolve_backend("reference") == "reference"


def test_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("BRIDGE_BACKEND", "reference")
    assert requested_backend(None) == "reference"
    monkeypatch.setenv("BRIDGE_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="BRIDGE_BACKEND"):
        requested_backend(None)


@pytest.mark.skipif(not JULIA_MISSING, reason="Julia is installed here")
def test_julia_requested_but_missing_says_what_to_do(monkeypatch):
    with pytest.raises(bridge.JuliaUnavailableError, match="python -m bridge install"):
        resolve_backend("julia")


@pytest.mark.skipif(not JULIA_MISSING, reason="Julia is installed here")
def test_env_julia_missing_raises_in_subprocess():
    proc = run_py(
        """
        import bridge
        try:
            bridge.resolve_backend()
        except bridge.JuliaUnavailableError as e:
            print("RAISED", e)
        """,
        {"BRIDGE_BACKEND": "julia"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "RAISED" in proc.stdout and "PYTHON_JULIACALL_EXE" in proc.stdout


def test_env_invalid_in_subprocess_is_value_error():
    proc = run_py(
        """
        import bridge
        try:
            bridge.resolve_backend()
        except ValueError as e:
            print("RAISED", e)
        """,
        {"BRIDGE_BACKEND": "matlab"},
    )
    assert (
        "RAISED unknown backend 'matlab' (from the environment variable BRIDGE_BACKEND)"
        in proc.stdout
    )


@pytest.mark.skipif(not JULIA_MISSING, reason="Julia is installed here")
def test_auto_falls_back_with_exactly_one_warning_per_process():
    proc = run_py(
        """
        import json, warnings
        import bridge
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = [bridge.resolve_backend() for _ in range(3)]
            names.append(bridge.resolve_backend("auto"))
        kind = bridge.BridgeBackendWarning
        msgs = [str(w.message) for w in caught if issubclass(w.category, kind)]
        print(json.dumps({"names": names, "msgs": msgs}))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["names"] == [AUTO_WITHOUT_JULIA] * 4
    assert len(out["msgs"]) == 1
    assert "python -m bridge install" in out["msgs"][0]


def test_env_reference_gives_no_warning():
    proc = run_py(
        """
        import warnings, bridge
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(bridge.resolve_backend())
        print(len([w for w in caught if issubclass(w.category, bridge.BridgeBackendWarning)]))
        """,
        {"BRIDGE_BACKEND": "reference"},
    )
    assert proc.stdout.split() == ["reference", "0"], proc.stderr


def test_the_backend_warning_names_the_users_line(tmp_path):
    # Not "sys:1: BridgeBackendWarning": the warning points at the line that solved.
    script = tmp_path / "user_script.py"
    script.write_text(
        "import bridge\n"
        "prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))\n"
        "sol = bridge.solve(prob, 'Tsit5')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-W", "always::UserWarning", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    if bridge.choose_backend(None, warn=False).name == "julia":
        pytest.skip("Julia is installed here: auto passes over nothing, so there is no warning")
    assert "user_script.py:3: BridgeBackendWarning" in proc.stderr, proc.stderr
    assert "sys:1" not in proc.stderr
