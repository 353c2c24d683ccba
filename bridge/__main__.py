"""bridge's command line: python -m bridge COMMAND

  doctor    what bridge finds on this machine, offline: each engine (Julia, diffsol, the
            SciPy reference), and which one backend="auto" runs
  install   download Julia and the Julia packages and precompile them, with progress (the
            one command that uses the network; it fails fast without one)
  selftest  check every engine found against known answers; prints a report to paste
            into a bug report (run it after install)
  demo      the main job: fit Lotka-Volterra parameters on the best engine available

(This docstring is the --help text: plain text, no markup.)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Sequence

from ._errors import BridgeError


def _engine_report(name: str) -> str:
    """What one engine's own module says about itself (versions, or why it is missing)."""
    if name == "julia":
        from . import _julia

        return _julia.status().describe()
    if name == "diffsol":
        try:
            from ._diffsol import describe
        except ImportError:
            return "diffsol: bridge's diffsol engine is not part of this installation"
        return describe()
    import scipy

    return (
        f"SciPy {scipy.__version__} (always available; the oracle the others are checked against)"
    )


def _doctor(args: argparse.Namespace) -> int:
    from . import __version__
    from ._backend import ENGINES, ENV_VAR, choose_backend

    print(f"bridge {__version__} (Python {sys.version.split()[0]})")
    t0 = time.perf_counter()
    for engine in ENGINES:
        reason = engine.availability()
        state = "available" if reason is None else "unavailable"
        print(f"\n[{engine.name}] {state}")
        for line in _engine_report(engine.name).splitlines():
            print(f"  {line}")
    took = time.perf_counter() - t0
    print(f"\n(detection took {took * 1000:.0f} ms, offline)")
    try:
        choice = choose_backend(None, warn=False)
    except BridgeError as exc:
        asked = os.environ.get(ENV_VAR, "<unset>")
        print(f"Backend: {ENV_VAR}={asked} cannot be used: {exc}")
        return 1
    env = os.environ.get(ENV_VAR, "<unset>")
    print(
        f"Backend: requested {choice.requested!r} ({ENV_VAR}={env}); solves will use: {choice.name}"
    )
    for name, reason in choice.skipped:
        print(f"  {name} passed over: {reason}")
    return 0


def _reachable(url: str, timeout: float) -> str | None:
    """None if a TCP connection to the URL's host opens in time, else the reason."""
    parts = urllib.parse.urlparse(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc})"


def _install(args: argparse.Namespace) -> int:
    """Download Julia and the packages (juliapkg), then load DiffBridge to precompile."""
    try:
        import juliapkg
        from juliapkg import install_julia
    except ImportError as exc:  # pragma: no cover - juliacall/juliapkg are dependencies
        print(f"bridge install: juliapkg is not importable ({exc}); pip install juliacall")
        return 2
    from . import _julia

    st = _julia.status()
    if not st.usable:
        url = getattr(install_julia, "_julia_versions_url", "https://julialang.org")
        reason = _reachable(url, timeout=args.timeout)
        if reason is not None:
            print(
                "bridge install: no network, so Julia and its packages cannot be downloaded: "
                f"{reason}.\nRun this command on a machine with network access (or install "
                "Julia 1.10/1.11 and the packages yourself and set PYTHON_JULIACALL_EXE). "
                "Until then bridge uses the SciPy reference backend.",
                file=sys.stderr,
            )
            return 2
    print(
        "[1/3] resolving Julia and the Julia packages (juliapkg; downloads as needed)...",
        flush=True,
    )
    os.environ["PYTHON_JULIAPKG_OFFLINE"] = "no"
    t0 = time.perf_counter()
    try:
        juliapkg.resolve()
    except Exception as exc:
        print(f"bridge install: resolving failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"      done in {time.perf_counter() - t0:.0f} s; Julia at {juliapkg.executable()}",
        flush=True,
    )
    print(
        "[2/3] starting Julia and precompiling DiffBridge (can take several minutes)...", flush=True
    )
    t0 = time.perf_counter()
    st = _julia.status(refresh=True)
    try:
        _julia.jl()
    except Exception as exc:
        print(f"bridge install: loading DiffBridge failed: {exc}", file=sys.stderr)
        return 1
    print(f"      done in {time.perf_counter() - t0:.0f} s", flush=True)
    print("[3/3] checking", flush=True)
    print(_julia.status(refresh=True).describe())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(iterations=args.iterations, backend=args.backend, outdir=args.outdir)


def _selftest(args: argparse.Namespace) -> int:
    from ._selftest import selftest

    only = [e.strip().lower() for e in args.engine.split(",")] if args.engine else None
    return selftest(only)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bridge`` and the ``bridge`` script.

    Example
    -------
    >>> main(["doctor"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m bridge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="show which engines were found and which one runs")
    p_install = sub.add_parser("install", help="download Julia + packages and precompile")
    p_install.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="seconds to wait for the network before giving up (3)",
    )
    p_self = sub.add_parser(
        "selftest", help="check every engine found against known answers (a short report)"
    )
    p_self.add_argument(
        "--engine", default=None, help="only these engines, comma-separated (default: all found)"
    )
    p_demo = sub.add_parser("demo", help="fit Lotka-Volterra parameters (the main job)")
    p_demo.add_argument("--iterations", type=int, default=100, help="Adam steps (100)")
    p_demo.add_argument("--backend", default=None, help="auto, julia, diffsol or reference")
    p_demo.add_argument("--outdir", default=".", help="where to write the plot (.)")
    args = parser.parse_args(argv)
    handler = {"doctor": _doctor, "install": _install, "demo": _demo, "selftest": _selftest}[
        args.command
    ]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
