"""``python -m bridge selftest``: a short conformance check of every engine on this machine.

The test suite is not installed with the wheel, so the checks a user can run live here.
Each has a known answer that does not come from the engine under test:

* exponential decay u' = -k u: the solution and its gradient in closed form, by forward
  sensitivities and by the adjoint;
* Lotka–Volterra: the gradient of a random linear loss against central differences of
  tight solves on the same engine;
* Robertson (stiff): the solution against a tight SciPy Radau solve with the exact Jacobian,
  computed on the spot (not through bridge).

Every engine present runs every check (the reference engine always; diffsol and Julia when
``choose_backend`` finds them). The report lists the versions, which engines were found
(and why the others were not), and each check's result, error, limit and time, short
enough to paste into a bug report.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

#: Packages whose versions the report lists (looked up, never imported).
VERSIONS = ("numpy", "scipy", "sympy", "tqdm", "pydiffsol", "juliacall", "torch", "jax")


@dataclass
class CheckResult:
    """One check on one engine."""

    engine: str
    check: str
    ok: bool
    error: float | None = None
    limit: float | None = None
    seconds: float = 0.0
    detail: str = ""


#: A check returns (error, limit); it passes when error <= limit.
Check = Callable[[str], tuple[float, float]]

_TIGHT: dict[str, Any] = {"reltol": 1e-10, "abstol": 1e-12}


def _rel(a: Any, b: Any, floor: float = 0.0) -> float:
    """Largest relative difference, each entry scaled by max(|b|, floor).

    Example
    -------
    >>> round(_rel(np.array([1.0, 2.0]), np.array([1.0, 2.2])), 4)
    0.0909
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _solve(prob: Any, alg: str, engine: str, **kw: Any) -> Any:
    import bridge

    sol = bridge.solve(prob, alg, backend=engine, **kw)
    if not sol.success:
        raise RuntimeError(f"the solve ended with retcode {sol.retcode}: {sol.message}")
    return sol


def _decay() -> Any:
    import bridge

    return bridge.ODEProblem(lambda u, p, t: -p[0] * u, [2.0], (0.0, 3.0), [0.7], name="decay")


DECAY_T = np.linspace(0.0, 3.0, 7)


def decay_solution(engine: str) -> tuple[float, float]:
    """u(t) = u0 e^{-kt} at seven times."""
    sol = _solve(_decay(), "Tsit5", engine, saveat=DECAY_T, **_TIGHT)
    return _rel(sol.u[:, 0], 2.0 * np.exp(-0.7 * DECAY_T)), 1e-7


def _decay_gradient(engine: str, sensealg: str) -> tuple[float, float]:
    import bridge

    sol, pullback = bridge.vjp(
        _decay(), "Tsit5", saveat=DECAY_T, sensealg=sensealg, backend=engine, **_TIGHT
    )
    g = pullback(np.ones_like(sol.u))  # L = Σ u(t_i)
    exact_u0 = np.sum(np.exp(-0.7 * DECAY_T))
    exact_k = np.sum(-DECAY_T * 2.0 * np.exp(-0.7 * DECAY_T))
    return _rel([g.u0[0], g.p[0]], [exact_u0, exact_k]), 1e-6


def decay_gradient_forward(engine: str) -> tuple[float, float]:
    """dΣu/du0 and dΣu/dk in closed form, by forward sensitivities."""
    return _decay_gradient(engine, "ForwardDiffSensitivity")


def decay_gradient_adjoint(engine: str) -> tuple[float, float]:
    """dΣu/du0 and dΣu/dk in closed form, by the interpolating adjoint."""
    return _decay_gradient(engine, "InterpolatingAdjoint")


def lotka_volterra_gradient(engine: str) -> tuple[float, float]:
    """The gradient of a random linear loss against central differences of tight solves."""
    import bridge

    from .demo import lotka_volterra

    u0, p = np.array([1.0, 1.0]), np.array([1.5, 1.0, 3.0, 1.0])
    saveat = np.linspace(0.0, 5.0, 11)
    prob = bridge.ODEProblem(lotka_volterra, u0, (0.0, 5.0), p)
    cotangent = np.random.default_rng(2026).standard_normal((len(saveat), 2))
    _, pullback = bridge.vjp(prob, "Tsit5", saveat=saveat, backend=engine, **_TIGHT)
    g = pullback(cotangent)
    theta = np.concatenate([u0, p])
    fd = np.empty_like(theta)
    for i in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[i]))
        loss = []
        for sign in (1.0, -1.0):
            th = theta.copy()
            th[i] += sign * h
            s = _solve(prob.remake(u0=th[:2], p=th[2:]), "Tsit5", engine, saveat=saveat, **_TIGHT)
            loss.append(float(np.sum(cotangent * s.u)))
        fd[i] = (loss[0] - loss[1]) / (2 * h)
    got = np.concatenate([g.u0, g.p])
    return float(np.max(np.abs(got - fd)) / np.max(np.abs(fd))), 1e-5


def _robertson(u: Any, p: Any, t: Any) -> Any:
    k1, k2, k3 = p
    y1, y2, y3 = u
    return [-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 * y2 - k3 * y2 * y3, k2 * y2 * y2]


ROBER_P = np.array([0.04, 3e7, 1e4])
ROBER_T = np.array([0.0, 1e-4, 1e-2, 1.0, 1e2, 1e4])


@functools.lru_cache(maxsize=1)
def _robertson_reference() -> Any:
    """A tight SciPy Radau solve with the exact Jacobian: independent of bridge.

    At rtol 1e-11 it is within 2e-12 of a solve at 1e-12 (measured), far inside the check's
    limit, and takes about a second; it is made once per process and shared by the engines.
    """
    from scipy.integrate import solve_ivp

    k1, k2, k3 = ROBER_P

    def fun(t: float, y: Any) -> Any:
        return np.asarray(_robertson(y, ROBER_P, t))

    def jac(t: float, y: Any) -> Any:
        _, y2, y3 = y
        return np.array(
            [
                [-k1, k3 * y3, k3 * y2],
                [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2],
                [0.0, 2 * k2 * y2, 0.0],
            ]
        )

    ref = solve_ivp(
        fun,
        (0.0, ROBER_T[-1]),
        [1.0, 0.0, 0.0],
        method="Radau",
        t_eval=ROBER_T,
        rtol=1e-11,
        atol=1e-15,
        jac=jac,
    )
    if ref.status != 0:  # pragma: no cover - SciPy's Radau solves Robertson
        raise RuntimeError(f"the SciPy reference solve failed: {ref.message}")
    return ref.y.T


def robertson_stiff(engine: str) -> tuple[float, float]:
    """Robertson with Rodas5P against a tight SciPy Radau solve made on the spot."""
    import bridge

    prob = bridge.ODEProblem(_robertson, [1.0, 0.0, 0.0], (0.0, ROBER_T[-1]), ROBER_P)
    sol = _solve(prob, "Rodas5P", engine, saveat=ROBER_T, reltol=1e-8, abstol=1e-12)
    # y2 peaks at 3.6e-5: each species' error is relative to its own largest value.
    ref = _robertson_reference()
    scale = np.max(np.abs(ref), axis=0)
    return float(np.max(np.abs(sol.u - ref) / scale)), 1e-5


CHECKS: dict[str, Check] = {
    "exponential decay: solution vs closed form": decay_solution,
    "exponential decay: gradient, forward sensitivities": decay_gradient_forward,
    "exponential decay: gradient, adjoint": decay_gradient_adjoint,
    "Lotka-Volterra: gradient vs central differences": lotka_volterra_gradient,
    "Robertson (stiff): solution vs tight Radau": robertson_stiff,
}


def engines() -> list[tuple[str, str | None]]:
    """Every engine bridge knows, each with None (present) or why it is absent."""
    from ._backend import ENGINES, choose_backend
    from ._errors import BridgeError

    out: list[tuple[str, str | None]] = []
    for engine in ENGINES:
        try:
            choose_backend(engine.name, warn=False)
        except BridgeError as exc:
            out.append((engine.name, engine.availability() or str(exc)))
        else:
            out.append((engine.name, None))
    return out


def versions() -> dict[str, str]:
    """bridge, Python, the platform and the installed packages that matter to bridge."""
    from . import __version__

    out = {
        "bridge": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.platform()} ({platform.machine()})",
    }
    for name in VERSIONS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_check(engine: str, name: str, check: Check) -> CheckResult:
    """Run one check; an exception is a failure with its message, never a crash."""
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            error, limit = check(engine)
    except Exception as exc:  # a selftest reports every failure and goes on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        return CheckResult(
            engine,
            name,
            False,
            seconds=time.perf_counter() - started,
            detail=f"{type(exc).__name__}: {exc}{where}",
        )
    ok = bool(np.isfinite(error) and error <= limit)
    return CheckResult(engine, name, ok, error, limit, time.perf_counter() - started)


def selftest(only: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    """Run every check on every engine present (or on ``only``); print the report.

    Returns 0 when every check passed, 1 otherwise (2 when an engine asked for is absent).

    Example
    -------
    >>> selftest(["reference"])  # doctest: +SKIP
    0
    """
    out = stream or sys.stdout
    found = engines()
    vers = versions()
    print("bridge selftest: paste everything below into a bug report", file=out)
    print(
        "versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if k != "platform"),
        file=out,
    )
    print(f"platform: {vers['platform']}", file=out)
    for name, why in found:
        print(f"engine {name}: {'found' if why is None else 'absent: ' + why}", file=out)
    present = [name for name, why in found if why is None]
    if only:
        missing = [e for e in only if e not in present]
        if missing:
            print(f"asked for engines that are absent here: {', '.join(missing)}", file=out)
            return 2
        present = [e for e in present if e in only]
    results: list[CheckResult] = []
    print(f"\n{'engine':<10} {'check':<52} {'result':<6} {'error':>8} {'limit':>8} time", file=out)
    for engine in present:
        for name, check in CHECKS.items():
            r = run_check(engine, name, check)
            results.append(r)
            print(_row(r), file=out, flush=True)
    failed = [r for r in results if not r.ok]
    skipped = [name for name, why in found if why is not None]
    print(
        f"\n{len(results) - len(failed)} of {len(results)} checks passed on "
        f"{', '.join(present)}"
        + (f"; not run: {', '.join(skipped)} (absent, see above)" if skipped and not only else ""),
        file=out,
    )
    return 1 if failed else 0


def _row(r: CheckResult) -> str:
    err = "-" if r.error is None else f"{r.error:.1e}"
    lim = "-" if r.limit is None else f"{r.limit:.0e}"
    line = (
        f"{r.engine:<10} {r.check:<52} {'PASS' if r.ok else 'FAIL':<6} {err:>8} {lim:>8} "
        f"{r.seconds:.2f} s"
    )
    return line + (f"\n{'':<11}{r.detail}" if r.detail else "")
