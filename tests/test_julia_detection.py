"""Julia detection is offline, quick and honest; `python -m bridge doctor` explains it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bridge import _julia
from bridge._backend import choose_backend
from bridge._julia import detection


def _fake_julia(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "bin" / "julia"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("PYTHON_JULIACALL_EXE", "PYTHON_JULIAPKG_EXE"):
        monkeypatch.delenv(var, raising=False)
    # an empty juliapkg project so a developer's real Julia does not leak into these tests
    monkeypatch.setattr(detection, "_juliapkg_meta", lambda: (None, str(tmp_path / "env")))
    monkeypatch.setenv("PATH", str(tmp_path / "emptybin"))
    return monkeypatch


def test_no_julia_anywhere(clean_env):
    st = _julia.detect()
    assert not st.usable
    assert "not on PATH" in st.reason and "PYTHON_JULIACALL_EXE" in st.reason


def test_explicit_exe_that_does_not_exist(clean_env, tmp_path):
    clean_env.setenv("PYTHON_JULIACALL_EXE", str(tmp_path / "nope" / "julia"))
    st = _julia.detect()
    assert not st.usable
    assert "is not an executable file" in st.reason and "PYTHON_JULIACALL_EXE" in st.reason


def test_julia_on_path_without_packages(clean_env, tmp_path):
    exe = _fake_julia(tmp_path, 'echo "julia version 1.10.5"')
    clean_env.setenv("PATH", str(exe.parent))
    st = _julia.detect()
    assert st.executable == str(exe) and st.source == "PATH"
    assert st.version == "1.10.5"
    assert not st.usable and "packages are not installed" in st.reason


def test_too_old_julia(clean_env, tmp_path):
    exe = _fake_julia(tmp_path, 'echo "julia version 1.6.7"')
    clean_env.setenv("PYTHON_JULIAPKG_EXE", str(exe))
    st = _julia.detect()
    assert st.source == "PYTHON_JULIAPKG_EXE"
    assert not st.usable and "too old" in st.reason


def test_hanging_julia_does_not_hang_detection(clean_env, tmp_path):
    exe = _fake_julia(tmp_path, "sleep 30")
    clean_env.setenv("PYTHON_JULIACALL_EXE", str(exe))
    t0 = time.perf_counter()
    st = _julia.detect()
    assert time.perf_counter() - t0 < 1.5
    assert not st.usable and "did not answer" in st.reason


def test_detection_is_fast_and_offline_with_network_blocked(tmp_path):
    """In a fresh process where every socket connect fails, detection takes < 1 s."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        textwrap.dedent(
            """
            import socket
            def _refuse(*a, **k):
                raise OSError("network disabled by the test")
            socket.socket.connect = _refuse
            socket.create_connection = _refuse
            socket.getaddrinfo = _refuse
            """
        )
    )
    code = (
        "import time; from bridge import _julia; t=time.perf_counter(); st=_julia.detect(); "
        "print(time.perf_counter()-t, st.usable)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    env.pop("PYTHON_JULIACALL_EXE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    took, _usable = proc.stdout.split()
    assert float(took) < 1.0


_THREAD_VARS = ("PYTHON_JULIACALL_THREADS", "JULIA_NUM_THREADS", "PYTHON_JULIACALL_HANDLE_SIGNALS")


def _doctor(extra_env: dict[str, str] | None = None) -> str:
    drop = ("PYTHON_JULIACALL_EXE", "BRIDGE_BACKEND", *_THREAD_VARS)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "doctor"],
        capture_output=True,
        text=True,
        env={**env, **(extra_env or {})},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_doctor_explains_missing_julia(monkeypatch):
    if _julia.status().usable:
        pytest.skip("Julia is installed here; doctor would report it")
    monkeypatch.delenv("BRIDGE_BACKEND", raising=False)
    expected = choose_backend(None, warn=False).name  # whichever engine auto runs here
    out = _doctor()
    assert "Julia backend unavailable" in out
    assert f"solves will use: {expected}\n" in out
    assert "will be used" not in out  # the engine line comes from choose_backend alone
    assert "Julia threads:    1 (the default): ensemble='threads' solves the members one" in out
    assert "PYTHON_JULIACALL_THREADS=N (or auto)" in out
    assert "PYTHON_JULIACALL_HANDLE_SIGNALS=yes" in out


def test_doctor_reports_the_julia_thread_count():
    out = _doctor({"PYTHON_JULIACALL_THREADS": "3"})
    assert "Julia threads:    3 (from PYTHON_JULIACALL_THREADS): ensemble='threads' solves " in out
    assert "up to 3 members at once" in out
    out = _doctor({"JULIA_NUM_THREADS": "2", "PYTHON_JULIACALL_HANDLE_SIGNALS": "no"})
    assert "Julia threads:    2 (from JULIA_NUM_THREADS)" in out
    assert "Warning: PYTHON_JULIACALL_HANDLE_SIGNALS=no with several Julia threads" in out


@pytest.mark.parametrize(
    ("value", "count", "several"),
    [("1", 1, False), ("4", 4, True), ("1,1", 1, True), ("auto", os.cpu_count(), None)],
)
def test_thread_setting_reads_juliacalls_values(value, count, several):
    setting = detection.ThreadSetting(value, "PYTHON_JULIACALL_THREADS")
    assert setting.count == count
    assert setting.several is (several if several is not None else (os.cpu_count() or 1) > 1)


def test_unreadable_thread_setting_says_so():
    text = detection.ThreadSetting("lots", "PYTHON_JULIACALL_THREADS").describe()
    assert "'lots' (from PYTHON_JULIACALL_THREADS) is not a thread count" in text


def test_thread_setting_follows_juliacalls_order(monkeypatch):
    for var in _THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    assert detection.thread_setting() == detection.ThreadSetting("1", "default")
    monkeypatch.setenv("JULIA_NUM_THREADS", "2")
    assert detection.thread_setting().source == "JULIA_NUM_THREADS"
    monkeypatch.setenv("PYTHON_JULIACALL_THREADS", "3")
    assert detection.thread_setting() == detection.ThreadSetting("3", "PYTHON_JULIACALL_THREADS")
    monkeypatch.setitem(sys._xoptions, "juliacall-threads", "5")
    assert detection.thread_setting().count == 5


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JULIA_NUM_THREADS": "4"}, "yes"),
        ({"PYTHON_JULIACALL_THREADS": "2"}, "yes"),
        ({"PYTHON_JULIACALL_THREADS": "2", "PYTHON_JULIACALL_HANDLE_SIGNALS": "no"}, "no"),
        ({"PYTHON_JULIACALL_THREADS": "1"}, None),
        ({}, None),
    ],
)
def test_session_turns_on_julia_signal_handling_only_with_several_threads(
    monkeypatch, env, expected
):
    from bridge._julia import session

    for var in (*_THREAD_VARS, "PYTHON_JULIACALL_EXE", "PYTHON_JULIAPKG_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(session, "status", lambda refresh=False: _julia.JuliaStatus(usable=True))
    session._set_default_env()
    assert os.environ.get("PYTHON_JULIACALL_HANDLE_SIGNALS") == expected


def test_install_fails_fast_without_network(tmp_path):
    if _julia.status().usable:
        pytest.skip("Julia is installed here; install would be a no-op")
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import socket\n"
        "def _refuse(*a, **k):\n    raise OSError('network disabled by the test')\n"
        "socket.create_connection = _refuse\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "install"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert time.perf_counter() - t0 < 20
    assert proc.returncode == 2
    assert "no network" in proc.stderr and "reference backend" in proc.stderr


def test_short_julia_message_strips_type_walls():
    text = (
        "MethodError: no method matching f(::Vector{ForwardDiff.Dual{ForwardDiff.Tag{F, Float64}, "
        "Float64, 2}})\nStacktrace:\n [1] top-level scope"
    )
    assert _julia.short_julia_message(text) == "MethodError: no method matching f(::Vector)"
