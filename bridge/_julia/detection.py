"""Finding Julia: offline, fast, and honest about why it cannot be used.

``detect()`` looks, in order, at an explicit ``PYTHON_JULIACALL_EXE`` /
``PYTHON_JULIAPKG_EXE``, the Julia that juliapkg already resolved for this environment, and
``julia`` on PATH. It reads files and runs nothing but ``julia --version`` (with a timeout);
it never imports juliacall (whose import would resolve, and maybe download) and never
touches the network. ``status()`` caches the answer for the process.

``thread_setting()`` reads how many threads juliacall will start Julia with, the way
juliacall 0.9 reads it (``-X juliacall-threads``, else ``PYTHON_JULIACALL_THREADS``, else
``JULIA_NUM_THREADS``, else 1): ``ensemble="threads"`` runs members on those threads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Julia versions bridge supports (SciMLSensitivity + Zygote are tested on 1.10 and 1.11).
JULIA_COMPAT = (1, 10)
INSTALL_HINT = (
    "run `python -m bridge install` once (it downloads Julia and the Julia packages), or set "
    "PYTHON_JULIACALL_EXE to an existing julia executable (1.10 or 1.11)"
)
_VERSION_TIMEOUT_S = 0.8
#: bridge's juliapkg requirements, beside the package's top-level modules.
_JULIAPKG_JSON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "juliapkg.json")


@dataclass(frozen=True)
class ThreadSetting:
    """How many threads Julia will start with (``value``, as juliacall reads it: ``N``,
    ``auto``, or ``N,M`` with M more interactive threads) and where that came from
    (``source``: an option or variable name, or ``"default"``)."""

    value: str
    source: str

    def _counts(self) -> list[int] | None:
        counts = []
        for part in self.value.split(","):
            part = part.strip()
            if part == "auto":
                counts.append(os.cpu_count() or 1)
            elif part.isdigit():
                counts.append(int(part))
            else:
                return None
        return counts

    @property
    def count(self) -> int | None:
        """Threads in Julia's default pool, the ones ``Threads.@threads`` (and so
        ``EnsembleThreads``) runs on (``auto``: this machine's CPU count); None when the
        value cannot be read."""
        counts = self._counts()
        return None if counts is None else counts[0]

    @property
    def several(self) -> bool:
        """Whether Julia will run more than one thread (interactive ones included): then
        its garbage collector needs Julia's signal handler."""
        counts = self._counts()
        return counts is not None and sum(counts) > 1

    def describe(self) -> str:
        """The doctor lines: the thread count, what ``ensemble="threads"`` does with it, and
        how to change it.

        Example
        -------
        >>> text = ThreadSetting("4", "PYTHON_JULIACALL_THREADS").describe()
        >>> "4 (from PYTHON_JULIACALL_THREADS)" in text, "up to 4 members at once" in text
        (True, True)
        """
        count = self.count
        where = "the default" if self.source == "default" else f"from {self.source}"
        how = (
            "set PYTHON_JULIACALL_THREADS=N (or auto) before bridge starts Julia (before the "
            "first Julia solve)\n  With N > 1 also set PYTHON_JULIACALL_HANDLE_SIGNALS=yes "
            "(bridge sets it when unset): Julia's garbage collector needs its signal handler "
            "with several threads, and Ctrl-C then no longer raises KeyboardInterrupt during "
            "Julia calls"
        )
        if count is None:
            return (
                f"Julia threads:    {self.value!r} ({where}) is not a thread count juliacall "
                f"accepts\n  To fix: {how}"
            )
        if count <= 1:
            return (
                f"Julia threads:    {count} ({where}): ensemble='threads' solves the members "
                f"one at a time\n  To use more cores: {how}"
            )
        lines = [
            f"Julia threads:    {count} ({where}): ensemble='threads' solves up to {count} "
            "members at once"
        ]
        if handle_signals_setting() == "no":
            lines.append(
                "  Warning: PYTHON_JULIACALL_HANDLE_SIGNALS=no with several Julia threads: "
                "Julia's garbage collector can crash the process; set it to yes"
            )
        else:
            lines.append(f"  To change it: {how}")
        return "\n".join(lines)


def thread_setting() -> ThreadSetting:
    """How many threads juliacall will start Julia with, read as juliacall 0.9 reads it.

    Example
    -------
    >>> isinstance(thread_setting().value, str)
    True
    """
    xopt = sys._xoptions.get("juliacall-threads")
    if isinstance(xopt, str):
        return ThreadSetting(xopt, "-X juliacall-threads")
    for var in ("PYTHON_JULIACALL_THREADS", "JULIA_NUM_THREADS"):
        value = os.environ.get(var)
        if value is not None:
            return ThreadSetting(value, var)
    return ThreadSetting("1", "default")


def handle_signals_setting() -> str | None:
    """``yes``/``no`` when the user set juliacall's signal handling, else None.

    Example
    -------
    >>> handle_signals_setting() in (None, "yes", "no")
    True
    """
    xopt = sys._xoptions.get("juliacall-handle-signals")
    if isinstance(xopt, str):
        return xopt
    return os.environ.get("PYTHON_JULIACALL_HANDLE_SIGNALS")


@dataclass
class JuliaStatus:
    """What ``detect()`` found. ``usable`` is True only when solving in Julia can start
    without any download: an executable of a supported version and resolved packages."""

    usable: bool
    executable: str | None = None
    version: str | None = None
    source: str = ""
    reason: str = ""
    project: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    threads: ThreadSetting = field(default_factory=thread_setting)

    def describe(self) -> str:
        lines = []
        if self.executable:
            lines.append(f"Julia executable: {self.executable} (from {self.source})")
            lines.append(f"Julia version:    {self.version or 'unknown'}")
        else:
            lines.append("Julia executable: not found")
        if self.project:
            lines.append(f"Julia project:    {self.project}")
        for name, ver in sorted(self.packages.items()):
            lines.append(f"  {name} {ver}")
        lines.append(self.threads.describe())
        if self.usable:
            lines.append("Status: the Julia backend is available")
        else:
            lines.append(f"Status: Julia backend unavailable: {self.reason}")
            lines.append(f"To get Julia: {INSTALL_HINT}.")
        return "\n".join(lines)


def _julia_version(exe: str) -> str | None:
    """``julia --version`` with a short timeout; None if it fails."""
    try:
        out = subprocess.run(
            [exe, "--startup-file=no", "--version"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "JULIAUP_NO_UPDATE_CHECK": "1"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+\.\d+\.\d+\S*)", out.stdout)
    return match.group(1) if out.returncode == 0 and match else None


def _version_ok(version: str) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= JULIA_COMPAT and major == 1


def _juliapkg_meta() -> tuple[dict[str, Any] | None, str | None]:
    """The meta.json juliapkg wrote for this environment, read without importing juliacall."""
    try:
        from juliapkg.state import STATE
    except ImportError:
        return None, None
    meta_file = STATE.get("meta")
    project = STATE.get("project")
    if not meta_file or not os.path.isfile(meta_file):
        return None, project
    try:
        with open(meta_file) as fh:
            meta: dict[str, Any] = json.load(fh)
        return meta, project
    except (OSError, ValueError):
        return None, project


def _manifest_versions(project: str | None) -> dict[str, str]:
    wanted = {"OrdinaryDiffEq", "SciMLSensitivity", "Zygote", "PythonCall", "DiffBridge"}
    out: dict[str, str] = {}
    if not project:
        return out
    manifest = Path(project) / "Manifest.toml"
    if not manifest.is_file():
        return out
    current = None
    for line in manifest.read_text(errors="replace").splitlines():
        head = re.match(r"\[\[deps\.(\w+)\]\]", line)
        if head:
            current = head.group(1)
            continue
        ver = re.match(r'\s*version\s*=\s*"([^"]+)"', line)
        if ver and current in wanted:
            out[current] = ver.group(1)
    return out


def detect() -> JuliaStatus:
    """Find out whether a usable Julia is installed. Offline, no downloads, under a second.

    Example
    -------
    >>> status = detect()
    >>> isinstance(status.usable, bool)
    True
    """
    threads = thread_setting()
    meta, project = _juliapkg_meta()
    candidates: list[tuple[str, str]] = []
    for var in ("PYTHON_JULIACALL_EXE", "PYTHON_JULIAPKG_EXE"):
        if os.environ.get(var):
            candidates.append((os.environ[var], var))
    if meta and meta.get("executable"):
        candidates.append((str(meta["executable"]), "juliapkg's environment"))
    on_path = shutil.which("julia")
    if on_path:
        candidates.append((on_path, "PATH"))
    if not candidates:
        return JuliaStatus(
            usable=False,
            reason="no Julia executable: PYTHON_JULIACALL_EXE is unset, juliapkg has not "
            "installed one for this environment, and `julia` is not on PATH",
            project=project,
            threads=threads,
        )
    exe, source = candidates[0]
    exe_path = shutil.which(exe) or exe
    if not os.path.isfile(exe_path) or not os.access(exe_path, os.X_OK):
        return JuliaStatus(
            usable=False,
            executable=exe,
            source=source,
            project=project,
            threads=threads,
            reason=f"{exe!r} (from {source}) is not an executable file",
        )
    version = _julia_version(exe_path)
    status = JuliaStatus(
        usable=False,
        executable=exe_path,
        version=version,
        source=source,
        project=project,
        threads=threads,
        packages=_manifest_versions(project),
    )
    if version is None:
        status.reason = f"`{exe_path} --version` did not answer within {_VERSION_TIMEOUT_S} s"
    elif not _version_ok(version):
        status.reason = f"Julia {version} is too old; bridge needs 1.10 or later"
    elif meta is None:
        status.reason = "the Julia packages are not installed for this Python environment"
    elif "DiffBridge" not in status.packages and not _meta_has_bridge(meta):
        status.reason = "juliapkg's environment does not include bridge's Julia packages yet"
    else:
        status.usable = True
    return status


def _meta_has_bridge(meta: dict[str, Any]) -> bool:
    files = meta.get("deps_files") or {}
    here = os.path.normcase(os.path.abspath(_JULIAPKG_JSON))
    return any(os.path.normcase(os.path.abspath(f)) == here for f in files)


_STATUS: JuliaStatus | None = None
_STATUS_LOCK = threading.Lock()


def status(refresh: bool = False) -> JuliaStatus:
    """``detect()``, cached for the process (``refresh=True`` looks again).

    Example
    -------
    >>> status() is status()
    True
    """
    global _STATUS
    with _STATUS_LOCK:
        if _STATUS is None or refresh:
            _STATUS = detect()
        return _STATUS
