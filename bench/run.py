"""Benchmark harness: bridge against the tools a user would pick instead, in one run.

Usage::

    python bench/run.py --quick                 # < 2 minutes: every cell, fewer repeats
    python bench/run.py                         # the full run (< 15 minutes)
    python bench/run.py --recompute-references  # regenerate bench/reference_solutions.npz
    python bench/run.py --problems lorenz --tools scipy,diffrax

For every problem in ``bench/problems.py`` and every tool in ``bench/peers.py`` that can run
here it measures the forward solve time, the time of the gradient of Σ u² (w.r.t. u0 and p),
RHS evaluations, and the error against the stored tight reference, and writes
``bench/results/latest.md`` and ``latest.json``. Times are medians of warm calls; the first
call (JIT compilation, tracing) is reported separately. Ratios are bridge/peer from the same
run, so machine speed and load cancel to first order: < 1 means bridge is faster.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Run as a script: make ``bench`` (and the repository's ``bridge``) importable.
    sys.path.insert(0, str(ROOT))

from bench import peers as peers_mod  # noqa: E402
from bench.problems import Problem, build_problems  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REFERENCE_FILE = BENCH_DIR / "reference_solutions.npz"
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class Settings:
    """How hard to measure.

    ``repeats`` warm calls per cell, cut down so one cell spends at most about ``budget_s``
    seconds; a tool without a warm-up phase whose first call alone exceeds ``budget_s`` keeps
    that call as its only sample (its first call is no different from the later ones). A
    single call running past ``call_limit_s`` is stopped and the cell reported as over the
    limit, so one slow tool cannot eat the whole run. ``problems`` (names) restricts the
    problem set; ``count_nf`` enables the untimed extra solve some tools need to count RHS
    evaluations (diffrax: another compilation).
    """

    mode: str
    repeats: int
    budget_s: float
    call_limit_s: float
    first_call_limit_s: float
    problems: tuple[str, ...] = ()
    count_nf: bool = True
    #: Tools whose gradients are not timed in this mode, with the reason shown.
    skip_gradients: tuple[tuple[str, str], ...] = ()


# Quick mode keeps the three problems that are cheap for every tool (Lorenz at 1e-8 over 100
# time units and the 50-state chain cost tens of seconds per call in some peers), skips the
# second diffrax compilation that counting RHS calls needs, and skips diffrax gradients:
# tracing and compiling a reverse pass through diffeqsolve took ~40 s per problem on the
# 2-core development machine, a third of the quick budget each.
QUICK = Settings(
    "quick",
    repeats=1,
    budget_s=1.0,
    call_limit_s=6.0,
    first_call_limit_s=20.0,
    problems=("lotka_volterra", "robertson", "neural_ode"),
    count_nf=False,
    skip_gradients=(("diffrax", "not timed by --quick (compiling the reverse pass takes ~40 s)"),),
)
FULL = Settings("full", repeats=7, budget_s=8.0, call_limit_s=45.0, first_call_limit_s=90.0)

#: Tools whose first call does extra one-off work (tracing, JIT compilation): they always
#: get at least one timed call after it.
WARMUP_TOOLS = ("bridge", "diffrax", "diffeqpy")


# --- machine description -------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (falls back to ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, OS, Python, package versions, Julia status and the current load."""
    dists = [
        "bridge",
        "numpy",
        "scipy",
        "sympy",
        "torch",
        "torchdiffeq",
        "jax",
        "jaxlib",
        "diffrax",
        "equinox",
        "juliacall",
        "diffeqpy",
    ]
    versions = {d: peers_mod.version_of(d) for d in dists}
    try:
        from bridge import _julia

        st = _julia.status()
        julia = f"Julia {st.version} at {st.executable}" if st.usable else f"none ({st.reason})"
    except Exception as exc:  # the harness must still describe the machine
        julia = f"unknown ({type(exc).__name__}: {exc})"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {k: v for k, v in versions.items() if v is not None},
        "julia": julia,
        "loadavg_start": list(os.getloadavg()),
    }


# --- reference solutions --------------------------------------------------------------------


#: Stored inputs match the current ones within this relative tolerance. The references are
#: made at rtol 1e-13 (1e-12 for Robertson) and their own errors are 4e-12 or more, so an
#: input that differs by 1e-12 (4500 ulp) changes them by less than their error; but the
#: same numbers computed on another CPU or libm (np.logspace, exp) can differ in the last
#: bits, which an exact hash would call a different problem.
INPUT_RTOL = 1e-12


def reference_inputs(prob: Problem) -> np.ndarray:
    """Everything a reference solution depends on, as one vector: u0, p, tspan, saveat."""
    return np.concatenate(
        [
            np.ravel(np.asarray(a, dtype=np.float64))
            for a in (prob.u0, prob.p, prob.tspan, prob.saveat)
        ]
    )


def inputs_match(prob: Problem, stored: np.ndarray, rhs: str) -> bool:
    """Whether a stored reference was made for this problem (up to ``INPUT_RTOL``)."""
    now = reference_inputs(prob)
    return (
        rhs == prob.f_xp.__name__
        and stored.shape == now.shape
        and bool(np.allclose(stored, now, rtol=INPUT_RTOL, atol=0.0))
    )


def fingerprint(prob: Problem) -> str:
    """A hash of everything a reference solution depends on (kept for older files)."""
    h = hashlib.sha256()
    for arr in (prob.u0, prob.p, prob.saveat, np.asarray(prob.tspan)):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    h.update(prob.f_xp.__name__.encode())
    return h.hexdigest()[:16]


def _reference_solve(prob: Problem, rtol: float, atol: float) -> np.ndarray:
    """States at the save times from SciPy at tight tolerances (Radau with the exact
    Jacobian for stiff problems, DOP853 otherwise)."""
    from scipy.integrate import solve_ivp

    fun, jac = _jax_rhs(prob)
    kw: dict[str, Any] = {"jac": jac} if prob.stiff else {}
    sol = solve_ivp(
        fun,
        prob.tspan,
        prob.u0,
        method="Radau" if prob.stiff else "DOP853",
        t_eval=prob.saveat,
        rtol=rtol,
        atol=atol,
        **kw,
    )
    if sol.status != 0:
        raise RuntimeError(f"reference solve of {prob.name} failed: {sol.message}")
    return np.ascontiguousarray(sol.y.T)


def _jax_rhs(prob: Problem) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """f and its Jacobian as NumPy-in/NumPy-out callables compiled with JAX."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    p = jnp.asarray(prob.p)
    f = jax.jit(lambda t, y: prob.f_xp(y, p, t, jnp))
    jac = jax.jit(jax.jacfwd(lambda t, y: prob.f_xp(y, p, t, jnp), argnums=1))
    return (lambda t, y: np.asarray(f(t, y))), (lambda t, y: np.asarray(jac(t, y)))


def _reference_gradient(prob: Problem, rtol: float, atol: float) -> np.ndarray:
    """d(Σ u²)/d(u0, p) by forward sensitivities: integrate S' = J S + [0 | ∂f/∂p] with
    S(0) = [I | 0] next to u, then sum 2 u(t_k)ᵀ S(t_k). Independent of every tool compared."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from scipy.integrate import solve_ivp

    n, m = prob.n_states, prob.n_params

    def aug(t: Any, y: Any) -> Any:
        u = y[:n]
        s = y[n:].reshape(n, n + m)
        p = jnp.asarray(prob.p)
        du = prob.f_xp(u, p, t, jnp)
        ju = jax.jacfwd(lambda v: prob.f_xp(v, p, t, jnp))(u)
        jp = jax.jacfwd(lambda q: prob.f_xp(u, q, t, jnp))(p)
        ds = ju @ s + jnp.concatenate([jnp.zeros((n, n)), jp], axis=1)
        return jnp.concatenate([du, ds.ravel()])

    aug_j = jax.jit(aug)
    y0 = np.concatenate([prob.u0, np.hstack([np.eye(n), np.zeros((n, m))]).ravel()])
    sol = solve_ivp(
        lambda t, y: np.asarray(aug_j(t, y)),
        prob.tspan,
        y0,
        method="Radau" if prob.stiff else "DOP853",
        t_eval=prob.saveat,
        rtol=rtol,
        atol=atol,
    )
    if sol.status != 0:
        raise RuntimeError(f"reference gradient of {prob.name} failed: {sol.message}")
    u = sol.y[:n].T
    s = sol.y[n:].T.reshape(-1, n, n + m)
    return np.einsum("ki,kij->j", 2.0 * u, s)


def compute_references(problems: Sequence[Problem], log: Callable[[str], None] = print) -> None:
    """Solve every problem tightly (and twice, 100× looser, to estimate the reference's own
    error), add reference gradients where meaningful, and write ``reference_solutions.npz``.
    Needs SciPy and JAX (for the exact Jacobians); run it only when problems.py changes."""
    data: dict[str, Any] = {}
    if REFERENCE_FILE.exists():
        with np.load(REFERENCE_FILE) as old:
            data.update({k: old[k] for k in old.files})
    for prob in problems:
        t0 = time.perf_counter()
        tight = (1e-12, 1e-16) if prob.stiff else (1e-13, 1e-20)
        u = _reference_solve(prob, *tight)
        loose = _reference_solve(prob, tight[0] * 100, tight[1] * 100)
        mask = prob.error_mask()
        self_err = _rel_error(loose[mask], u[mask], prob.atol)
        data[f"{prob.name}/u"] = u
        data[f"{prob.name}/t"] = prob.saveat
        data[f"{prob.name}/self_error"] = np.float64(self_err)
        data[f"{prob.name}/fingerprint"] = np.str_(fingerprint(prob))
        data[f"{prob.name}/inputs"] = reference_inputs(prob)
        data[f"{prob.name}/rhs"] = np.str_(prob.f_xp.__name__)
        if prob.grad_reference:
            g = _reference_gradient(prob, 1e-11, 1e-14)
            g_loose = _reference_gradient(prob, 1e-9, 1e-12)
            data[f"{prob.name}/grad"] = g
            data[f"{prob.name}/grad_self_error"] = np.float64(
                np.linalg.norm(g_loose - g) / np.linalg.norm(g)
            )
        log(
            f"reference {prob.name}: {time.perf_counter() - t0:.1f} s, estimated error "
            f"{self_err:.1e}"
            + (
                f", gradient {float(data[f'{prob.name}/grad_self_error']):.1e}"
                if prob.grad_reference
                else ""
            )
        )
    np.savez_compressed(REFERENCE_FILE, **data)


def load_references(problems: Sequence[Problem]) -> dict[str, dict[str, Any]]:
    """The stored reference for each problem; a stale or missing one is reported, not used."""
    out: dict[str, dict[str, Any]] = {}
    if not REFERENCE_FILE.exists():
        return out
    with np.load(REFERENCE_FILE) as z:
        for prob in problems:
            if f"{prob.name}/inputs" in z.files:
                if not inputs_match(prob, z[f"{prob.name}/inputs"], str(z[f"{prob.name}/rhs"])):
                    continue
            else:
                key = f"{prob.name}/fingerprint"
                if key not in z.files or str(z[key]) != fingerprint(prob):
                    continue
            ref: dict[str, Any] = {
                "u": z[f"{prob.name}/u"],
                "self_error": float(z[f"{prob.name}/self_error"]),
            }
            if f"{prob.name}/grad" in z.files:
                ref["grad"] = z[f"{prob.name}/grad"]
                ref["grad_self_error"] = float(z[f"{prob.name}/grad_self_error"])
            out[prob.name] = ref
    return out


# --- measuring ------------------------------------------------------------------------------


def _rel_error(u: np.ndarray, ref: np.ndarray, atol: float) -> float:
    """max over saved times of ‖u − ref‖∞ / max(‖ref‖∞, atol): the error relative to the
    size of the state at that time. (Per component it would blow up on states that pass
    through values far below atol, which a tolerance-driven solver rightly ignores.)"""
    num = np.max(np.abs(u - ref), axis=1)
    den = np.maximum(np.max(np.abs(ref), axis=1), atol)
    return float(np.max(num / den))


@dataclass
class Timing:
    """Times of one cell in seconds: the first call, and the median of the warm calls."""

    first_s: float
    median_s: float
    samples: int


class CallTimeout(Exception):
    """A single call ran past ``Settings.call_limit_s``."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``CallTimeout`` in the block after ``seconds`` (SIGALRM; main thread on POSIX
    only, elsewhere no limit). Python-level solver loops stop promptly; a compiled call
    (XLA compilation, a C extension) stops when it next returns to Python."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CallTimeout(f"over the {seconds:g} s per-call limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def time_calls(fn: Callable[[], Any], settings: Settings, warmup: bool) -> tuple[Timing, Any]:
    """Call ``fn`` once (timed separately), then up to ``settings.repeats`` more times within
    ``settings.budget_s``; returns the timing and the last result. Each call is subject to
    ``settings.call_limit_s``."""
    t0 = time.perf_counter()
    with time_limit(settings.first_call_limit_s if warmup else settings.call_limit_s):
        result = fn()
    first = time.perf_counter() - t0
    n = settings.repeats
    if first * n > settings.budget_s:
        n = int(settings.budget_s // max(first, 1e-9))
    if warmup:
        n = max(n, 1)
    if n == 0:
        return Timing(first, first, 1), result
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with time_limit(settings.call_limit_s):
            result = fn()
        times.append(time.perf_counter() - t0)
    return Timing(first, statistics.median(times), n), result


@dataclass
class Row:
    """One (problem, tool) cell of the results."""

    problem: str
    tool: str
    method: str = ""
    forward: Timing | None = None
    gradient: Timing | None = None
    grad_method: str = ""
    nf: int | None = None
    grad_nf: int | None = None
    error: float | None = None
    grad_error: float | None = None
    setup_s: float | None = None
    skipped: str = ""
    notes: list[str] = field(default_factory=list)
    ratio_forward: float | None = None
    ratio_gradient: float | None = None


def _short_exc(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


def run_cell(
    prob: Problem,
    adapter: peers_mod.Adapter,
    settings: Settings,
    ref: dict[str, Any] | None,
    gradients: bool = True,
) -> Row:
    """Measure one tool on one problem; failures are recorded in the row, never raised."""
    row = Row(prob.name, adapter.name)
    why = adapter.unsupported(prob)
    if why:
        row.skipped = why
        return row
    warm = adapter.name.startswith(WARMUP_TOOLS)
    try:
        t0 = time.perf_counter()
        runner = adapter.setup(prob)
        row.setup_s = time.perf_counter() - t0
        row.method = runner.method
        row.forward, fwd = time_calls(runner.forward, settings, warm)
        row.nf = fwd.nf
        if row.nf is None and runner.count_nf is not None and settings.count_nf:
            with time_limit(settings.call_limit_s):
                row.nf = runner.count_nf()
        if ref is not None and fwd.u.shape == ref["u"].shape:
            mask = prob.error_mask()
            row.error = _rel_error(fwd.u[mask], ref["u"][mask], prob.atol)
        elif ref is not None:
            row.notes.append(f"saved shape {fwd.u.shape} != reference {ref['u'].shape}")
    except CallTimeout as exc:
        row.skipped = f"forward {exc}"
        return row
    except Exception as exc:
        row.skipped = "forward failed: " + _short_exc(exc)
        if os.environ.get("BENCH_DEBUG"):
            traceback.print_exc()
        return row
    if runner.gradient is None:
        row.notes.append(runner.grad_note)
        return row
    if not gradients:
        return row
    row.grad_method = runner.grad_method
    for prefix, reason in settings.skip_gradients:
        if adapter.name.startswith(prefix):
            row.grad_method += f": {reason}"
            return row
    try:
        row.gradient, g = time_calls(runner.gradient, settings, warm)
        row.grad_nf = g.nf
        if ref is not None and "grad" in ref:
            got = np.concatenate([g.u0, g.p])
            row.grad_error = float(np.linalg.norm(got - ref["grad"]) / np.linalg.norm(ref["grad"]))
    except CallTimeout as exc:
        row.grad_method += f": {exc}"
    except Exception as exc:
        row.notes.append("gradient failed: " + _short_exc(exc))
        if os.environ.get("BENCH_DEBUG"):
            traceback.print_exc()
    return row


def primary_bridge(rows: Sequence[Row]) -> str | None:
    """The bridge row the ratios are taken against: the engine ``backend="auto"`` would pick
    (Julia when it ran, else diffsol, else the reference backend)."""
    names = {r.tool for r in rows if r.forward is not None}
    for name in ("bridge[julia]", "bridge[diffsol]", "bridge[reference]"):
        if name in names:
            return name
    return None


def add_ratios(rows: Sequence[Row]) -> None:
    """Fill bridge/peer ratios per problem (same run, same machine state)."""
    base_name = primary_bridge(rows)
    if base_name is None:
        return
    base = {r.problem: r for r in rows if r.tool == base_name}
    for r in rows:
        b = base.get(r.problem)
        if b is None or r.tool == base_name:
            continue
        if b.forward and r.forward:
            r.ratio_forward = b.forward.median_s / r.forward.median_s
        if b.gradient and r.gradient:
            r.ratio_gradient = b.gradient.median_s / r.gradient.median_s


def run_benchmarks(
    problems: Sequence[Problem],
    adapters: Sequence[peers_mod.Adapter],
    settings: Settings,
    *,
    gradients: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every available tool on every problem; returns the results as a JSON-able dict."""
    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.perf_counter()
    machine = machine_info()
    refs = load_references(problems)
    unavailable: dict[str, str] = {}
    usable: list[peers_mod.Adapter] = []
    for ad in adapters:
        why = ad.unavailable()
        if why:
            unavailable[ad.name] = why
            log(f"skip {ad.name}: {why}")
        else:
            usable.append(ad)
    rows: list[Row] = []
    for prob in problems:
        ref = refs.get(prob.name)
        if ref is None:
            log(f"{prob.name}: no current reference; run with --recompute-references")
        timed_out: dict[str, str] = {}
        for ad in usable:
            if ad.same_forward_as in timed_out:
                row = Row(
                    prob.name,
                    ad.name,
                    skipped=f"{timed_out[ad.same_forward_as]} "
                    f"(same forward solve as {ad.same_forward_as})",
                )
            else:
                row = run_cell(prob, ad, settings, ref, gradients)
            if "per-call limit" in row.skipped:
                timed_out[ad.name] = row.skipped
            rows.append(row)
            log(_progress_line(row))
    add_ratios(rows)
    machine["loadavg_end"] = list(os.getloadavg())
    return {
        "generated": started.isoformat(timespec="seconds"),
        "mode": settings.mode,
        "settings": asdict(settings),
        "elapsed_s": round(time.perf_counter() - t_start, 1),
        "machine": machine,
        "baseline": primary_bridge(rows),
        "unavailable": unavailable,
        "problems": {
            p.name: {
                "title": p.title,
                "n_states": p.n_states,
                "n_params": p.n_params,
                "tspan": list(p.tspan),
                "n_saves": int(p.saveat.size),
                "rtol": p.rtol,
                "atol": p.atol,
                "alg": p.alg,
                "error_tmax": p.error_tmax,
                "reference_error": refs.get(p.name, {}).get("self_error"),
                "reference_grad_error": refs.get(p.name, {}).get("grad_self_error"),
                "notes": p.notes,
            }
            for p in problems
        },
        "rows": [asdict(r) for r in rows],
    }


def _progress_line(row: Row) -> str:
    if row.skipped:
        return f"  {row.problem:15s} {row.tool:28s} skipped: {row.skipped}"
    fwd = f"fwd {_ms(row.forward.median_s)} ms" if row.forward else ""
    grad = f"grad {_ms(row.gradient.median_s)} ms" if row.gradient else "grad —"
    return f"  {row.problem:15s} {row.tool:28s} {fwd:>18s} {grad:>20s} nf={row.nf}"


# --- output ---------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def _sci(x: float | None) -> str:
    return "—" if x is None else f"{x:.1e}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _timing_ms(t: Any, key: str) -> float | None:
    return None if t is None else t[key]


def render_markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown report: machine, table of medians and ratios, notes."""
    m = results["machine"]
    v = m["versions"]
    lines = [
        f"# bridge benchmarks ({results['mode']} run)",
        "",
        f"Generated {results['generated']} by `python bench/run.py"
        f"{' --quick' if results['mode'] == 'quick' else ''}` in {results['elapsed_s']} s.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['os']}",
        f"- Load average at start / end: {m['loadavg_start'][0]:.2f} / "
        f"{m['loadavg_end'][0]:.2f} (other jobs share this machine: compare ratios, not "
        "absolute times)",
        f"- Python {m['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Julia: {m['julia']}",
        f"- Ratios are bridge/peer against **{results['baseline']}**, from this run: "
        "< 1 means bridge is faster.",
        "",
        "## Summary",
        "",
        *render_summary(results),
        "",
        *render_diffsol_targets(results),
        "## All measurements",
        "",
        "| problem | tool | method | forward ms | bridge/peer | gradient ms | bridge/peer "
        "| gradient by | RHS evals | max rel. error | gradient rel. error | first call ms "
        "(fwd / grad) |",
        "|---|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|",
    ]
    titles = {k: p["title"] for k, p in results["problems"].items()}
    for r in results["rows"]:
        title = titles[r["problem"]]
        if r["skipped"]:
            lines.append(f"| {title} | {r['tool']} | — | — | — | — | — | {r['skipped']} |||||")
            continue
        fwd, grad = r["forward"], r["gradient"]
        first = f"{_ms(_timing_ms(fwd, 'first_s'))} / {_ms(_timing_ms(grad, 'first_s'))}"
        grad_by = r["grad_method"] or "; ".join(r["notes"]) or "—"
        lines.append(
            f"| {title} | {r['tool']} | {r['method']} | {_ms(_timing_ms(fwd, 'median_s'))} | "
            f"{_ratio(r['ratio_forward'])} | {_ms(_timing_ms(grad, 'median_s'))} | "
            f"{_ratio(r['ratio_gradient'])} | {grad_by} | {r['nf'] if r['nf'] else '—'} | "
            f"{_sci(r['error'])} | {_sci(r['grad_error'])} | {first} |"
        )
    lines += ["", "## Problems", ""]
    lines.append(
        "| problem | states | params | tspan | saves | rtol | atol | bridge alg "
        "| reference's own error (sol / grad) |"
    )
    lines.append("|---|--:|--:|---|--:|--:|--:|---|---|")
    for p in results["problems"].values():
        lines.append(
            f"| {p['title']} | {p['n_states']} | {p['n_params']} | {tuple(p['tspan'])} | "
            f"{p['n_saves']} | {p['rtol']:g} | {p['atol']:g} | {p['alg']} | "
            f"{_sci(p['reference_error'])} / {_sci(p['reference_grad_error'])} |"
        )
    notes = [f"- {p['title']}: {p['notes']}" for p in results["problems"].values() if p["notes"]]
    cell_notes = [
        f"- {titles[r['problem']]}, {r['tool']}: {n}"
        for r in results["rows"]
        for n in r["notes"]
        if n and n != "diffeqpy has no gradient API"
    ]
    unavailable = [f"- {k}: {why}" for k, why in results["unavailable"].items()]
    lines += ["", "## Notes", "", *METHOD_NOTES, *notes, *cell_notes]
    if unavailable:
        lines += ["", "## Not run on this machine", "", *unavailable]
    return "\n".join(lines) + "\n"


#: The diffsol engine's targets (issue 15): (label, problems, check) where check gets the
#: rows of one problem by tool and returns (measured value, target met?) or None.
DIFFSOL = "bridge[diffsol]"
PYDIFFSOL = "pydiffsol (hand-written)"


def _median(rows: dict[str, Any], tool: str, what: str, key: str = "median_s") -> float | None:
    row = rows.get(tool)
    if row is None or row["skipped"] or row[what] is None:
        return None
    return float(row[what][key])


def _ratio_target(
    num: str, den: str, what: str, limit: float, *, at_least: bool = False
) -> Callable[[dict[str, Any]], tuple[float, bool] | None]:
    def check(rows: dict[str, Any]) -> tuple[float, bool] | None:
        a, b = _median(rows, num, what), _median(rows, den, what)
        if a is None or b is None:
            return None
        ratio = a / b
        return ratio, (ratio >= limit if at_least else ratio <= limit)

    return check


def _first_call_target(what: str, limit_s: float) -> Callable[[dict[str, Any]], Any]:
    def check(rows: dict[str, Any]) -> tuple[float, bool] | None:
        first = _median(rows, DIFFSOL, what, "first_s")
        return None if first is None else (first, first < limit_s)

    return check


ALL_PROBLEMS = ("lotka_volterra", "lorenz", "robertson", "reaction_chain", "neural_ode")
DIFFSOL_TARGETS: list[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], Any]]] = [
    ("forward ≤ 1.3× hand-written pydiffsol", ALL_PROBLEMS,
     _ratio_target(DIFFSOL, PYDIFFSOL, "forward", 1.3)),
    ("gradient ≤ 1.3× hand-written pydiffsol", ALL_PROBLEMS,
     _ratio_target(DIFFSOL, PYDIFFSOL, "gradient", 1.3)),
    ("forward ≤ diffrax after JIT", ("lotka_volterra", "robertson", "reaction_chain"),
     _ratio_target(DIFFSOL, "diffrax", "forward", 1.0)),
    ("gradient ≤ diffrax after JIT", ("lotka_volterra", "robertson", "reaction_chain"),
     _ratio_target(DIFFSOL, "diffrax", "gradient", 1.0)),
    ("first forward call (trace + compile) < 0.5 s", ALL_PROBLEMS,
     _first_call_target("forward", 0.5)),
    ("gradient ≥ 30× faster than bridge[reference]", ("robertson",),
     _ratio_target("bridge[reference]", DIFFSOL, "gradient", 30.0, at_least=True)),
]  # fmt: skip


def render_diffsol_targets(results: dict[str, Any]) -> list[str]:
    """The diffsol engine's targets, each measured value with met / MISSED (empty when
    bridge[diffsol] did not run). Ratios are bridge[diffsol] / peer unless the target says
    otherwise; first calls are seconds."""
    rows = results["rows"]
    if not any(r["tool"] == DIFFSOL and r["forward"] for r in rows):
        return []
    titles = {k: p["title"] for k, p in results["problems"].items()}
    lines = [
        "## diffsol targets (issue 15)",
        "",
        "| target | problem | measured | met? |",
        "|---|---|--:|---|",
    ]
    for label, names, check in DIFFSOL_TARGETS:
        for name in names:
            if name not in titles:
                continue
            cells = {r["tool"]: r for r in rows if r["problem"] == name}
            outcome = check(cells)
            if outcome is None:
                lines.append(f"| {label} | {titles[name]} | — | not measured |")
                continue
            value, met = outcome
            shown = f"{value:.3g} s" if label.startswith("first") else f"{value:.3g}"
            lines.append(
                f"| {label} | {titles[name]} | {shown} | {'met' if met else '**MISSED**'} |"
            )
    lines += ["", "Why each missed target is missed: docs/diffsl.md (benchmarks).", ""]
    return lines


def render_summary(results: dict[str, Any]) -> list[str]:
    """A compact table to quote: per problem, bridge's medians and the bridge/peer ratios
    (forward / gradient) for every peer that ran."""
    base = results["baseline"]
    if base is None:
        return ["(bridge did not run, so there are no ratios)"]
    rows = results["rows"]
    peers = [t for t in dict.fromkeys(r["tool"] for r in rows if r["forward"]) if t != base]
    head = f"| problem | {base} forward / gradient ms | " + " | ".join(
        f"vs {p} (fwd / grad)" for p in peers
    )
    lines = [head + " |", "|---|--:|" + "--:|" * len(peers)]
    for name, prob in results["problems"].items():
        cells = {r["tool"]: r for r in rows if r["problem"] == name}
        b = cells.get(base)
        if b is None or b["forward"] is None:
            continue
        own = f"{_ms(b['forward']['median_s'])} / {_ms(_timing_ms(b['gradient'], 'median_s'))}"
        ratios = []
        for p in peers:
            r = cells.get(p)
            if r is None or r["skipped"]:
                ratios.append("n/a")
            else:
                ratios.append(f"{_ratio(r['ratio_forward'])} / {_ratio(r['ratio_gradient'])}")
        lines.append(f"| {prob['title']} | {own} | " + " | ".join(ratios) + " |")
    return lines


METHOD_NOTES = [
    "- Times are medians of warm calls (the first call, which includes bridge's tracing and "
    "diffrax's JIT compilation, is the last column); a slow tool without a warm-up phase may "
    "have a single sample.",
    "- Loss = Σ u² over every saved state; gradients are w.r.t. u0 and p together. "
    "Gradient rel. error = ‖g − g_ref‖ / ‖g_ref‖, the reference being forward sensitivities "
    "integrated at rtol 1e-11.",
    "- Max rel. error = max over save times of ‖u − u_ref‖∞ / ‖u_ref‖∞ against the stored "
    "reference (DOP853 at rtol 1e-13, Radau with the exact Jacobian at 1e-12 for Robertson).",
    "- RHS evals are those of one forward solve (diffrax: counted by a host callback in an "
    "untimed run; bridge: `sol.stats.nf`; SciPy: `nfev`, which includes finite-difference "
    "Jacobian columns).",
    "- SciPy uses the same integrator bridge's reference backend maps the algorithm to, with "
    "the user's plain Python RHS and no Jacobian; its gradient is one-sided finite "
    "differences (n + m + 1 solves, step √rtol·max(|θ|, 1)).",
    "- torchdiffeq uses dopri5 in float64; diffrax Tsit5 (Kvaerno5 when stiff) in float64.",
]


def write_results(results: dict[str, Any], out_dir: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md``, and the same as ``<mode>.json`` / ``.md`` so
    that a quick run does not hide the last full one (via temporary files, so a crash
    mid-write never leaves a half-written result). Returns the two ``latest`` paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = {
        "json": json.dumps(results, indent=1, default=str) + "\n",
        "md": render_markdown(results),
    }
    for stem in (results["mode"], "latest"):
        for ext, text in texts.items():
            path = out_dir / f"{stem}.{ext}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    return out_dir / "latest.json", out_dir / "latest.md"


# --- command line ---------------------------------------------------------------------------


def select(items: Sequence[Any], wanted: str | None, what: str) -> list[Any]:
    """Filter by comma-separated name substrings (``--problems``, ``--tools``)."""
    if not wanted:
        return list(items)
    keys = [w.strip() for w in wanted.split(",") if w.strip()]
    chosen = [it for it in items if any(k in it.name for k in keys)]
    if not chosen:
        names = ", ".join(it.name for it in items)
        raise SystemExit(f"--{what}={wanted!r} matches nothing; known: {names}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="3 problems, 1 repeat, 6 s call limit (< 2 min)"
    )
    ap.add_argument("--repeats", type=int, help="warm calls per cell (default 7, quick 1)")
    ap.add_argument("--budget", type=float, help="seconds per cell before repeats are cut")
    ap.add_argument("--call-limit", type=float, help="seconds before one call is stopped")
    ap.add_argument(
        "--problems",
        help="comma-separated problem names (substrings); default all (quick: "
        + ", ".join(QUICK.problems)
        + ")",
    )
    ap.add_argument("--tools", help="comma-separated tool names (substrings)")
    ap.add_argument("--no-gradients", action="store_true", help="time forward solves only")
    ap.add_argument(
        "--recompute-references",
        action="store_true",
        help="regenerate bench/reference_solutions.npz (needs SciPy and JAX) and exit",
    )
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    args = ap.parse_args(argv)

    problems = select(build_problems(), args.problems, "problems")
    if args.quick and not args.problems:
        problems = [p for p in problems if p.name in QUICK.problems]
    if args.recompute_references:
        compute_references(problems)
        print(f"wrote {REFERENCE_FILE.relative_to(ROOT)}")
        return 0
    base = QUICK if args.quick else FULL
    settings = dataclasses.replace(
        base,
        repeats=args.repeats if args.repeats is not None else base.repeats,
        budget_s=args.budget if args.budget is not None else base.budget_s,
        call_limit_s=args.call_limit if args.call_limit is not None else base.call_limit_s,
        first_call_limit_s=max(
            base.first_call_limit_s, args.call_limit if args.call_limit is not None else 0.0
        ),
    )
    adapters = select(peers_mod.all_adapters(), args.tools, "tools")
    results = run_benchmarks(problems, adapters, settings, gradients=not args.no_gradients)
    json_path, md_path = write_results(results, args.out)
    print()
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {md_path} and {json_path} in {results['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
