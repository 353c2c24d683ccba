"""The language boundary: the only module that imports juliacall.

Two halves:

* ``detect()`` finds out, offline and in well under a second, whether a usable Julia is
  installed: an explicit ``PYTHON_JULIACALL_EXE`` / ``PYTHON_JULIAPKG_EXE``, the Julia that
  juliapkg already resolved for this environment, or ``julia`` on PATH. It reads files and
  runs nothing but ``julia --version`` (with a timeout); it never downloads.
* ``jl()`` starts Julia once, lazily, through juliacall, and returns ``Main`` with
  ``DiffBridge`` loaded. Every call into Julia goes through ``call()``, which translates Julia
  exceptions into bridge errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import BridgeError, JuliaError, JuliaUnavailableError

#: Julia versions bridge supports (SciMLSensitivity + Zygote are tested on 1.10 and 1.11).
JULIA_COMPAT = (1, 10)
INSTALL_HINT = (
    "run `python -m bridge install` once (it downloads Julia and the Julia packages), or set "
    "PYTHON_JULIACALL_EXE to an existing julia executable (1.10 or 1.11)"
)
_VERSION_TIMEOUT_S = 0.8


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
    threads: str | None = None

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
        lines.append(f"Julia threads:    {self.threads or 'default (1)'}")
        if self.usable:
            lines.append("Status: the Julia backend is available")
        else:
            lines.append(f"Status: Julia backend unavailable: {self.reason}")
            lines.append("The reference backend (SciPy) will be used.")
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
    threads = os.environ.get("PYTHON_JULIACALL_THREADS")
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
    here = os.path.normcase(
        os.path.abspath(os.path.join(os.path.dirname(__file__), "juliapkg.json"))
    )
    return any(os.path.normcase(os.path.abspath(f)) == here for f in files)


_STATUS: JuliaStatus | None = None
_STATUS_LOCK = threading.Lock()


def status(refresh: bool = False) -> JuliaStatus:
    """``detect()``, cached for the process."""
    global _STATUS
    with _STATUS_LOCK:
        if _STATUS is None or refresh:
            _STATUS = detect()
        return _STATUS


# --------------------------------------------------------------------------- starting Julia

_MAIN: Any = None
_START_LOCK = threading.RLock()
#: Starts slower than this (precompilation) end with a "ready" line.
_SLOW_START_S = 5.0


def _set_default_env() -> None:
    """juliacall's documented settings, only where the user has not set them."""
    st = status()
    if st.executable:
        os.environ.setdefault("PYTHON_JULIACALL_EXE", st.executable)
        if st.project:
            os.environ.setdefault("PYTHON_JULIACALL_PROJECT", st.project)
    threads = os.environ.get("PYTHON_JULIACALL_THREADS")
    if threads and threads not in ("1",):
        os.environ.setdefault("PYTHON_JULIACALL_HANDLE_SIGNALS", "yes")
    os.environ.setdefault("PYTHON_JULIAPKG_OFFLINE", "yes")


def jl() -> Any:
    """Start Julia (once) and return its ``Main`` module with DiffBridge loaded.

    Raises JuliaUnavailableError when no usable Julia is installed; never downloads.
    """
    global _MAIN
    if _MAIN is not None:
        return _MAIN
    with _START_LOCK:
        if _MAIN is not None:
            return _MAIN
        st = status()
        if not st.usable:
            raise JuliaUnavailableError(
                f"Julia backend unavailable: {st.reason}. To fix: {INSTALL_HINT}."
            )
        _set_default_env()
        if "torch" in sys.modules:
            import warnings

            warnings.warn(
                "torch was imported before Julia started; juliacall documents crashes with "
                "this import order. Import bridge (and call bridge.start_julia()) before torch.",
                RuntimeWarning,
                stacklevel=3,
            )
        print(
            "bridge: starting Julia and loading DiffBridge (the first run after install "
            "precompiles OrdinaryDiffEq, SciMLSensitivity and Zygote, which can take several "
            "minutes; later starts take seconds)...",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        try:
            import juliacall
        except OSError as exc:  # URLError when juliapkg would need to download
            raise JuliaUnavailableError(
                f"could not start Julia without a download ({exc}). To fix: {INSTALL_HINT}."
            ) from exc
        main = juliacall.Main
        try:
            main.seval("import DiffBridge")
        except Exception as exc:  # not via translate_exception: that needs DiffBridge
            raise JuliaUnavailableError(
                "Julia started, but loading bridge's Julia package DiffBridge failed: "
                f"{short_julia_message(str(exc))}. To fix: {INSTALL_HINT}."
            ) from None
        elapsed = time.perf_counter() - started
        if elapsed > _SLOW_START_S:
            print(f"bridge: Julia is ready ({elapsed:.0f} s).", file=sys.stderr, flush=True)
        _MAIN = main
        return _MAIN


#: Serialises calls into Julia: juliacall does not support several Python threads inside
#: Julia at once. A thread waiting here has released the GIL, so with ``nogil=True`` other
#: Python threads keep running Python while one solve runs in Julia.
_CALL_LOCK = threading.RLock()


def start_julia() -> None:
    """Start Julia and load DiffBridge now (else it starts on the first Julia solve).

    Call it before importing torch when the Julia backend will be used: juliacall documents
    crashes when torch is loaded first. Raises JuliaUnavailableError without a usable Julia.

    Example
    -------
    >>> import bridge
    >>> bridge.start_julia()  # doctest: +SKIP
    """
    jl()


def call(name: str, *args: Any, nogil: bool = False, **kwargs: Any) -> Any:
    """Call ``DiffBridge.<name>(args...; kwargs...)``, translating Julia errors.

    With ``nogil=True`` the call releases the GIL while Julia runs (juliacall's
    ``_jl_call_nogil``): arguments are converted before and the result after, with the GIL
    held, so the Julia function must not touch Python objects other than reading arrays.
    """
    main = jl()
    fn = getattr(main.DiffBridge, name)
    with _CALL_LOCK:
        try:
            if nogil:
                return fn._jl_call_nogil(*args, **kwargs)
            return fn(*args, **kwargs)
        except Exception as exc:
            raise translate_exception(exc) from None


_TYPE_PARAMS = re.compile(r"\{[^{}]*\}")


def short_julia_message(text: str, limit: int = 400) -> str:
    """Strip type-parameter walls and backtraces from a Julia error message.

    Example
    -------
    >>> short_julia_message("MethodError: no method matching f(::Vector{Float64})")
    'MethodError: no method matching f(::Vector)'
    """
    text = text.split("\nStacktrace:")[0]
    for _ in range(5):
        new = _TYPE_PARAMS.sub("", text)
        if new == text:
            break
        text = new
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_julia_error(julia_type: str, message: str) -> JuliaError:
    """A ``bridge.JuliaError`` with a short message (no repeated type name, no type walls).

    Example
    -------
    >>> str(make_julia_error("DimensionMismatch", "DimensionMismatch: a has size (2,)"))
    'DimensionMismatch: a has size (2,)'
    """
    text = short_julia_message(message)
    for prefix in (f"{julia_type}: ", "ERROR: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return JuliaError(julia_type, text)


def _describe(julia_exception: Any) -> tuple[str, str]:
    """(type name, showerror text) of a Julia exception, asked of DiffBridge."""
    diffbridge = jl().DiffBridge
    return (
        str(diffbridge.error_type_name(julia_exception)),
        str(diffbridge.error_message(julia_exception)),
    )


def translate_exception(
    exc: BaseException, describe: Callable[[Any], tuple[str, str]] | None = None
) -> BaseException:
    """Map a juliacall exception to a bridge error (the one choke point).

    * ``juliacall.JuliaError`` (any Julia exception) -> ``bridge.JuliaError`` carrying the
      Julia type name (``LoadError`` unwrapped) and a short message;
    * PythonCall's ``TypeError("Julia: ...")``, its rendering of a ``MethodError`` on the
      called function itself -> ``bridge.JuliaError("MethodError", ...)``;
    * anything else (a Python exception raised inside a Python callback) unchanged.
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit, BridgeError)):
        return exc
    if type(exc).__name__ == "JuliaError" and type(exc).__module__.startswith("juliacall"):
        julia_exception = exc.args[0] if exc.args else None
        try:
            julia_type, message = (describe or _describe)(julia_exception)
        except Exception:  # keep the original text rather than fail while reporting
            julia_type, message = "JuliaError", str(exc)
        return make_julia_error(julia_type, message)
    if isinstance(exc, TypeError) and str(exc).startswith("Julia:"):
        return make_julia_error("MethodError", str(exc)[len("Julia:") :].strip())
    return exc
