"""Running an ensemble's members: in process, on a process pool, or on a Dask cluster.

Every executor runs the same unit of work, ``run_chunk``: a chunk of members (their u0 and p
rows) of one ``Job`` (what the members share: the model payload, tspan, algorithm, options).
The model crosses to a worker as its portable payload (its key and generated source, or the
engine's own serialised compiled model), never as a pickled user function or Julia object;
each worker builds it once and keeps it by engine and key (``_WORKER_MODELS``). Results come back in
member order; a member whose solve failed carries its retcode, and a chunk that never
comes back (a killed worker) raises, so an ensemble is never silently short.

``ensemble="threads"`` on the Julia backend does not use chunks at all: the engine's
``Backend.ensemble(prob, U0, P, alg, opts, sensealg)`` builds and solves every member in one
call (``EnsembleThreads``, GIL released) and returns ``(list[MemberResult], pullback)``,
the pullback taking the (N, nt, n) cotangent (``api._native``).

Gradients: a member's pullback that pickles (a ``DensePullback``: forward sensitivities)
comes back with its result and is applied locally; any other pullback stays where it was
made when the ensemble runs in process, and is recomputed in the workers (forward and
backward, with the cotangent) when it runs elsewhere.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._algorithms import Algorithm
from .._backend import get_backend
from .._errors import BridgeTypeError, BridgeValueError
from .._model import FloatArray
from .._problem import ODEProblem
from .._solution import DensePullback, Gradients, Solution, Stats
from .._validate import SolveOptions
from .portable import Portable, portable_problem
from .problem import _member

#: Names ``ensemble=`` accepts besides a ``dask.distributed.Client``.
ENSEMBLES = ("serial", "threads", "processes")


@dataclass(frozen=True)
class Job:
    """What every member of one ensemble call shares; pickled once per chunk (small)."""

    engine: str
    payload: Portable | None  # None when the members run in this process
    tspan: tuple[float, float]
    alg: Algorithm
    opts: SolveOptions
    sensealg: str | None  # None: plain solve


@dataclass
class MemberResult:
    """One member's outcome, as it crosses back from a worker."""

    u: FloatArray  # (nt, n), NaN-padded after a failure
    retcode: str
    stats: Stats
    message: str
    pullback: Any = None  # a DensePullback, a local closure (serial), or None (recompute)
    alg: str = ""
    backend: str = ""


@dataclass
class ChunkGradients:
    """A chunk's gradients, as they cross back from a worker at pullback time."""

    u0: FloatArray  # (k, n)
    p: FloatArray  # (k, m)
    stats: list[Stats | None] = field(default_factory=list)


_WORKER_MODELS: dict[str, ODEProblem] = {}
_WORKER_LOCK = threading.Lock()


def _template(job: Job) -> ODEProblem:
    """The job's problem in this process, built once per engine and model key and kept.

    The engine is part of the key: a payload for diffsol carries the DiffSL text that one
    for the reference engine does not, and a pool outlives one ensemble call.
    """
    assert job.payload is not None, "a job for another process carries its model"
    key = f"{job.engine}:{job.payload.key}"
    with _WORKER_LOCK:
        prob = _WORKER_MODELS.get(key)
        if prob is None:
            prob = job.payload.restore()
            _WORKER_MODELS[key] = prob
    return prob


def _padded(sol: Solution, nt: int) -> FloatArray:
    if sol.u.shape[0] == nt:
        return np.ascontiguousarray(sol.u)
    out = np.full((nt, sol.u.shape[1]), np.nan)
    out[: sol.u.shape[0]] = sol.u
    return out


def solve_member(
    job: Job, base: ODEProblem, u0: FloatArray, p: FloatArray, keep_closure: bool
) -> MemberResult:
    """Solve one member (with its pullback when ``job.sensealg`` is set)."""
    backend = get_backend(job.engine)
    prob = _member(base, u0, p, job.tspan)
    nt = 0 if job.opts.saveat is None else len(job.opts.saveat)
    pullback: Any = None
    if job.sensealg is None:
        sol = backend.solve(prob, job.alg, job.opts)
    else:
        sol, raw = backend.vjp(prob, job.alg, job.opts, job.sensealg)
        if isinstance(raw, DensePullback) or keep_closure:
            pullback = raw
    return MemberResult(
        _padded(sol, nt), sol.retcode, sol.stats, sol.message, pullback, sol.alg, sol.backend
    )


def run_chunk(job: Job, U0: FloatArray, P: FloatArray) -> list[MemberResult]:
    """The unit of work of every executor: solve members ``U0[i], P[i]`` in order."""
    base = _template(job)
    return [solve_member(job, base, U0[i], P[i], keep_closure=False) for i in range(len(U0))]


def pull_chunk(job: Job, U0: FloatArray, P: FloatArray, cotangent: FloatArray) -> ChunkGradients:
    """Recompute members' solves and pull their cotangents back (non-pickling pullbacks)."""
    base = _template(job)
    backend = get_backend(job.engine)
    assert job.sensealg is not None
    g_u0 = np.empty_like(U0)
    g_p = np.empty_like(P)
    for i in range(len(U0)):
        prob = _member(base, U0[i], P[i], job.tspan)
        _, raw = backend.vjp(prob, job.alg, job.opts, job.sensealg)
        g = raw(np.ascontiguousarray(cotangent[i]))
        g_u0[i], g_p[i] = g.u0, g.p
    return ChunkGradients(g_u0, g_p)


# ------------------------------------------------------------------------------ executors


def _chunks(count: int, workers: int) -> list[slice]:
    """About four chunks per worker (load balance), none empty."""
    pieces = max(1, min(count, 4 * workers))
    size = math.ceil(count / pieces)
    return [slice(i, min(i + size, count)) for i in range(0, count, size)]


_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def process_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool kept for the session (workers keep their built models by key).

    Workers start with ``spawn``: a forked copy of a process that has started threads
    (BLAS, a JIT, Julia) can deadlock.
    """
    import multiprocessing

    n = workers or os.cpu_count() or 1
    with _POOLS_LOCK:
        pool = _POOLS.get(n)
        if pool is None:
            pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
            _POOLS[n] = pool
        return pool


def is_dask_client(ensemble: Any) -> bool:
    """True for a ``dask.distributed.Client`` (checked without importing dask)."""
    return type(ensemble).__module__.startswith("distributed") and hasattr(ensemble, "submit")


@dataclass(frozen=True)
class Executor:
    """Where the chunks run: ``map(fn, job, [(args...)...])`` returns results in order."""

    name: str
    workers: int
    map: Callable[[Callable[..., Any], Job, Sequence[tuple[Any, ...]]], list[Any]]
    in_process: bool


def _serial_map(fn: Callable[..., Any], job: Job, args: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [fn(job, *a) for a in args]


def _pool_map(pool: ProcessPoolExecutor) -> Callable[..., list[Any]]:
    def run(fn: Callable[..., Any], job: Job, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        futures = [pool.submit(fn, job, *a) for a in args]
        return [f.result() for f in futures]

    return run


def _dask_map(client: Any) -> Callable[..., list[Any]]:
    def run(fn: Callable[..., Any], job: Job, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        # The job travels with each chunk (it is small: the model's source, or a compiled
        # model of some kB): scattering it first would tie it to workers that may be lost.
        futures = [client.submit(fn, job, *a, pure=False) for a in args]
        results = client.gather(futures)
        if len(results) != len(args):  # pragma: no cover - gather raises first
            raise RuntimeError("the Dask cluster returned fewer chunks than were sent")
        return list(results)

    return run


def executor(ensemble: Any, engine: str) -> Executor:
    """The executor for an ``ensemble=`` value (validated, with the reason when refused)."""
    if is_dask_client(ensemble):
        workers = max(1, len(ensemble.scheduler_info().get("workers", {})))
        return Executor("dask", workers, _dask_map(ensemble), False)
    if not isinstance(ensemble, str):
        raise BridgeTypeError(
            f"ensemble must be one of {', '.join(map(repr, ENSEMBLES))} or a "
            f"dask.distributed.Client, got {ensemble!r}"
        )
    if ensemble not in ENSEMBLES:
        raise BridgeValueError(
            f"unknown ensemble={ensemble!r}; valid values: {', '.join(map(repr, ENSEMBLES))} "
            "or a dask.distributed.Client"
        )
    if ensemble == "serial":
        return Executor("serial", 1, _serial_map, True)
    workers = os.cpu_count() or 1
    return Executor("processes", workers, _pool_map(process_pool(workers)), False)


def run_members(
    job: Job, U0: FloatArray, P: FloatArray, where: Executor, base: ODEProblem
) -> list[MemberResult]:
    """Every member's result, in member order."""
    if where.in_process:
        return [solve_member(job, base, U0[i], P[i], keep_closure=True) for i in range(len(U0))]
    chunks = _chunks(len(U0), where.workers)
    results = where.map(run_chunk, job, [(U0[c], P[c]) for c in chunks])
    out = [r for chunk in results for r in chunk]
    if len(out) != len(U0):
        raise RuntimeError(
            f"the ensemble returned {len(out)} results for {len(U0)} members; none is dropped "
            "silently: run it again"
        )
    return out


def pull_members(
    job: Job,
    U0: FloatArray,
    P: FloatArray,
    results: list[MemberResult],
    cotangent: FloatArray,
    where: Executor,
) -> Gradients:
    """Gradients (N, n) and (N, m): local where a member's pullback is at hand, else remote."""
    g_u0 = np.empty_like(U0)
    g_p = np.empty_like(P)
    remote = [i for i, r in enumerate(results) if r.pullback is None]
    for i, r in enumerate(results):
        if r.pullback is not None:
            g = r.pullback(np.ascontiguousarray(cotangent[i]))
            g_u0[i], g_p[i] = g.u0, g.p
    if remote:
        idx = np.array(remote)
        chunks = _chunks(len(idx), where.workers)
        parts = where.map(
            pull_chunk, job, [(U0[idx[c]], P[idx[c]], cotangent[idx[c]]) for c in chunks]
        )
        for c, part in zip(chunks, parts, strict=True):
            g_u0[idx[c]], g_p[idx[c]] = part.u0, part.p
    return Gradients(u0=g_u0, p=g_p)


def make_job(
    prob: ODEProblem,
    engine: str,
    where: Executor,
    alg: Algorithm,
    opts: SolveOptions,
    sensealg: str | None,
) -> Job:
    """The job of one ensemble call (with the model's portable payload for other processes)."""
    payload = None if where.in_process else portable_problem(prob, engine)
    return Job(engine, payload, prob.tspan, alg, opts, sensealg)
