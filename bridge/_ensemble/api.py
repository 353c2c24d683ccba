"""``bridge.solve`` / ``bridge.vjp`` on an ``EnsembleProblem`` (``bridge._api`` dispatches here)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._algorithms import Algorithm
from .._backend import choose_backend
from .._errors import BridgeValueError, BridgeWarning, SolveFailedError, SolverWarning
from .._model import FloatArray
from .._solution import Gradients
from .._validate import SolveOptions, check_cotangent
from .problem import EnsembleProblem
from .run import Executor, MemberResult, executor, make_job, pull_members, run_members
from .solution import EnsembleSolution

_warned_threads: set[str] = set()
_warn_lock = threading.Lock()


def _require_saveat(opts: SolveOptions) -> None:
    if opts.saveat is None:
        raise BridgeValueError(
            "an ensemble needs saveat (a step or explicit times): its members share one time "
            "grid, so that esol.u is one (N, len(saveat), n) array"
        )


def _where(ensemble: Any, engine: str, opts: SolveOptions) -> Executor:
    if ensemble == "threads" and engine == "julia":
        if opts.extras():
            raise BridgeValueError(
                f"ensemble='threads' on the Julia backend does not pass "
                f"{' and '.join(opts.extras())} to EnsembleThreads yet: use "
                "ensemble='processes' or 'serial'"
            )
        return Executor("threads", 1, _native_map, True)
    if ensemble == "threads":
        with _warn_lock:
            first = engine not in _warned_threads
            _warned_threads.add(engine)
        if first:
            warnings.warn(
                f"ensemble='threads' runs in parallel only on the Julia backend (its solves "
                f"release the GIL); the {engine} engine holds the GIL, so its members run on "
                "a process pool instead (ensemble='processes')",
                BridgeWarning,
                stacklevel=4,
            )
        ensemble = "processes"
    return executor(ensemble, engine)


def _native_map(*args: Any) -> list[Any]:  # pragma: no cover - threads never map chunks
    raise AssertionError("ensemble='threads' on Julia runs in one call, not in chunks")


def _native(
    eprob: EnsembleProblem, engine: str, alg: Algorithm, opts: SolveOptions, sensealg: str | None
) -> tuple[list[MemberResult], Callable[[FloatArray], Gradients] | None]:
    """Every member in one call into the engine (Julia's EnsembleThreads, GIL released)."""
    from .._backend import get_backend

    backend: Any = get_backend(engine)
    results, pullback = backend.ensemble(eprob.prob, eprob.u0, eprob.p, alg, opts, sensealg)
    return results, pullback


def _solution(results: list[MemberResult], opts: SolveOptions, where: Executor) -> EnsembleSolution:
    assert opts.saveat is not None
    u = np.stack([r.u for r in results]) if results else np.zeros((0, len(opts.saveat), 0))
    first = results[0]
    esol = EnsembleSolution(
        t=np.array(opts.saveat),
        u=u,
        retcodes=[r.retcode for r in results],
        stats=[r.stats for r in results],
        alg=first.alg,
        backend=first.backend,
        ensemble=where.name,
        messages=[r.message for r in results],
    )
    failed = esol.failed
    if failed:
        shown = ", ".join(f"{i} ({esol.retcodes[i]})" for i in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        warnings.warn(
            f"{len(failed)} of {len(esol)} ensemble members did not succeed: {shown}{more}; "
            "esol.retcodes has every member's retcode, esol[i] its partial trajectory",
            SolverWarning,
            stacklevel=4,
        )
    return esol


def solve_ensemble(
    eprob: EnsembleProblem, alg: Algorithm, opts: SolveOptions, backend: Any, ensemble: Any
) -> EnsembleSolution:
    """Solve every member (see ``bridge.solve``)."""
    _require_saveat(opts)
    engine = choose_backend(backend, eprob.prob, opts=opts).name
    where = _where(ensemble, engine, opts)
    if where.name == "threads":
        results, _ = _native(eprob, engine, alg, opts, None)
    else:
        job = make_job(eprob.prob, engine, where, alg, opts, None)
        results = run_members(job, eprob.u0, eprob.p, where, eprob.prob)
    return _solution(results, opts, where)


def vjp_ensemble(
    eprob: EnsembleProblem,
    alg: Algorithm,
    opts: SolveOptions,
    sensealg: str,
    backend: Any,
    ensemble: Any,
) -> tuple[EnsembleSolution, Callable[[Any], Gradients]]:
    """Solve every member and return the batched pullback (see ``bridge.vjp``)."""
    _require_saveat(opts)
    engine = choose_backend(backend, eprob.prob, gradient=True, opts=opts).name
    where = _where(ensemble, engine, opts)
    native: Callable[[FloatArray], Gradients] | None = None
    if where.name == "threads":
        results, native = _native(eprob, engine, alg, opts, sensealg)
    else:
        job = make_job(eprob.prob, engine, where, alg, opts, sensealg)
        results = run_members(job, eprob.u0, eprob.p, where, eprob.prob)
    esol = _solution(results, opts, where)
    shape = esol.u.shape

    def pullback(cotangent: Any) -> Gradients:
        failed = esol.failed
        if failed:
            shown = ", ".join(map(str, failed[:10])) + (" ..." if len(failed) > 10 else "")
            raise SolveFailedError(
                f"{len(failed)} ensemble members did not succeed (members {shown}), so their "
                "gradients would be wrong; fix them (tolerances, maxiters, alg) or leave them "
                "out of the ensemble",
                retcode=esol.retcodes[failed[0]],
            )
        checked: FloatArray = check_cotangent(cotangent, shape)
        if native is not None:
            return native(checked)
        return pull_members(job, eprob.u0, eprob.p, results, checked, where)

    pullback.__doc__ = (
        f"Pullback of the ensemble solve: cotangent of shape {shape} -> "
        "Gradients(u0=(N, n), p=(N, m))."
    )
    return esol, pullback
