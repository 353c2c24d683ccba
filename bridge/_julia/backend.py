"""The Julia backend: problems go to DiffBridge.jl by name, arrays cross without copies.

Per call: the right-hand side is loaded into Julia once per key (generated model source,
or a ``JuliaFunction``'s source), ``DiffBridge.prepare`` copies the small inputs (u0, p,
saveat) into Julia vectors with the GIL held, and the solve or the differentiated solve
then runs with the GIL released. The solution matrix comes back as a view of Julia memory
and the cotangent goes to Julia as a view of NumPy memory (see ``arrays``). Every call goes
through ``session.call``, which holds the call lock for all of it.

An ensemble (``ensemble="threads"``, ``Backend.ensemble``) is one call for all its members:
the stacked (N, n) u0 and (N, m) p go over as n × N and m × N views of their NumPy memory,
DiffBridge builds and solves every member on Julia's threads with the GIL released
(``EnsembleThreads``; gradients member by member on the same threads), and the states
come back as one n × nt × N Julia array that NumPy views as (N, nt, n).

Events (docs/events.md): the traced events' Julia module (``julia_events_module``) is
loaded once per key (the hash of its source) beside the model, and ``prepare`` gets its key,
the tstops and a per-state abstol; DiffBridge runs them as one ``VectorContinuousCallback``
and differentiates through them segment by segment with the jumps at each event
(``julia/DiffBridge/src/events.jl``, ``jumps.jl``). Every solution carries ``sol(t)``: on
first use DiffBridge solves the same job again saving every step (the same steps, so it
agrees with ``sol.u``) and evaluates that solution, right-continuously at events, each call
under the call lock.
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .._algorithms import Algorithm
from .._ensemble.run import MemberResult
from .._errors import BackendUnsupportedError, BridgeValueError, GradientWarning, user_stacklevel
from .._problem import ODEProblem
from .._solution import Gradients, Interpolant, Solution, Stats
from .._validate import FloatArray, SolveOptions
from . import session
from .arrays import (
    cotangent_for_julia,
    for_julia,
    rows_from_julia,
    transposed_for_julia,
    transposed_from_julia,
    vector_from_julia,
)

#: What ``Solution.alg`` says for ``alg="auto"``.
AUTO_LABEL = "auto (DefaultODEAlgorithm)"
#: Why a ``trace=False`` problem cannot run here: Julia never calls back into Python.
UNTRACED = (
    "it was built with trace=False, so there is no Julia code for its right-hand side "
    "(trace it, write it as a bridge.JuliaFunction, or use backend='reference', which calls "
    "the Python function as is)"
)


def model_module_name(key: str) -> str:
    """A Julia module name for a model key (letters, digits and underscores only).

    Example
    -------
    >>> model_module_name("3f2a-9c")
    'BridgeModel_3f2a_9c'
    """
    return "BridgeModel_" + re.sub(r"\W", "_", key)[:40]


def function_key(source: str) -> str:
    """The cache key of Julia source text (``JuliaFunction``, ``bridge.zygote``)."""
    return "jl:" + hashlib.sha256(source.encode()).hexdigest()[:24]


def _load_model(model: Any, key: str, modname: str) -> None:
    session.call("load_model", key, model.julia_source(modname), modname)


def events_source(prob: ODEProblem, events: Sequence[Any]) -> tuple[str, str, str]:
    """(key, Julia source, module name) of the events of a solve: the key is the hash of
    the source, so a retraced or different set of events gets its own module.

    Example
    -------
    >>> import bridge
    >>> prob = bridge.ODEProblem(lambda u, p, t: [-u[0]], [1.0], (0.0, 1.0))
    >>> key, src, name = events_source(prob, [bridge.Event(lambda u, p, t: u[0] - 0.5)])
    >>> key.startswith("events:"), src.startswith(f"module {name}")
    (True, True)
    """
    from .._trace.events_codegen import julia_events_module

    traced = [event.traced(prob) for event in events]
    text = julia_events_module("BridgeEvents", traced, prob.n_states, prob.n_params)
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    modname = f"BridgeEvents_{digest[:12]}"
    text = text.replace("module BridgeEvents\n", f"module {modname}\n", 1)
    return "events:" + digest, text, modname


def split_events(which: Any, times: Any, before: Any, n_events: int) -> tuple[list, list]:
    """``sol.t_events`` and ``sol.u_events`` from DiffBridge's event log: ``which`` (1-based
    event of each entry), their times, and the n × k states before their affects.

    Example
    -------
    >>> te, ue = split_events([2, 1, 2], [0.5, 1.0, 2.0], np.zeros((1, 3)), 2)
    >>> [t.tolist() for t in te], [u.shape for u in ue]
    ([[1.0], [0.5, 2.0]], [(1, 1), (2, 1)])
    """
    which = np.asarray(which, dtype=np.int64)
    times = np.asarray(times, dtype=np.float64)
    states = np.asarray(before, dtype=np.float64).T  # (k, n)
    t_events = [np.array(times[which == k + 1]) for k in range(n_events)]
    u_events = [np.array(states[which == k + 1]) for k in range(n_events)]
    return t_events, u_events


def _warn_tangential(notes: str, events: Sequence[Any]) -> None:
    """One GradientWarning per tangential crossing DiffBridge reported (lines ``k t``)."""
    for line in notes.splitlines():
        k, t = line.split()
        warnings.warn(
            f"event {events[int(k) - 1].name!r} at t={float(t)!r} is reached tangentially "
            "(dg/dt = 0): the derivative of its time is unbounded there, and the gradient "
            "leaves it out",
            GradientWarning,
            stacklevel=user_stacklevel(),
        )


class JuliaBackend:
    """DifferentialEquations.jl, SciMLSensitivity.jl and Zygote.jl through DiffBridge."""

    name = "julia"

    def __init__(self) -> None:
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def unsupported(self, prob: ODEProblem, *, gradient: bool) -> str | None:
        if not prob.is_julia and not prob.trace:
            return UNTRACED
        return None

    def unsupported_options(
        self, prob: ODEProblem, opts: SolveOptions, *, gradient: bool
    ) -> str | None:
        """Events, tstops and a per-state abstol all run here, with gradients through events
        (docs/julia-status.md). Switches in f are not turned into events here (no
        ``handles_switches``), so ``bridge.vjp`` keeps its GradientWarning for them."""
        return None

    def _load(self, key: str, loader: Callable[[], Any]) -> None:
        with self._lock:
            if key not in self._loaded:
                loader()
                self._loaded.add(key)

    def _events_key(self, prob: ODEProblem, events: Sequence[Any]) -> str:
        """Load the events module of ``events`` into Julia (once per key); its key."""
        key, source, modname = events_source(prob, events)
        self._load(key, partial(session.call, "load_events", key, source, modname))
        return key

    def _rhs_key(self, prob: ODEProblem) -> str:
        """Load the problem's right-hand side into Julia (once) and return its key."""
        if prob.is_julia:
            source = prob.f.source  # type: ignore[union-attr, unused-ignore]
            key = function_key(source)
            loader: Callable[[], Any] = partial(session.call, "register_function", key, source)
        else:
            model = prob.model
            if not hasattr(model, "julia_source") or not hasattr(model, "key"):
                # choose_backend refuses these first; this guards direct use of the backend
                raise BackendUnsupportedError(
                    f"backend='julia' cannot run problem {prob.name!r}: {UNTRACED}"
                )
            key = "model:" + str(model.key)
            modname = model_module_name(str(model.key))
            loader = partial(_load_model, model, key, modname)
        self._load(key, loader)
        return key

    def _job(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Any:
        key = self._rhs_key(prob)
        t0, t1 = prob.tspan
        saveat = None if opts.saveat is None else for_julia(opts.saveat)
        abstol = opts.abstol if opts.abstol_vector is None else for_julia(opts.abstol_vector)
        extra: dict[str, Any] = {}
        if opts.events:
            extra["events"] = self._events_key(prob, opts.events)
        if opts.tstops is not None:
            extra["tstops"] = for_julia(opts.tstops)
        return session.call(
            "prepare",
            key,
            for_julia(prob.u0),
            t0,
            t1,
            for_julia(prob.p),
            alg.name,
            saveat,
            opts.reltol,
            abstol,
            opts.maxiters,
            **extra,
        )

    def _solution(
        self, result: Any, alg: Algorithm, job: Any, t0: float, opts: SolveOptions
    ) -> Solution:
        julia_u, julia_t, retcode, stats, events = result[:5]
        nf, njacs, nsolve, naccept, nreject = (int(x) for x in stats)
        which, times, before, t_end, _ = events
        t_events, u_events = split_events(which, times, before, len(opts.events))
        return Solution(
            t=vector_from_julia(julia_t),
            u=rows_from_julia(julia_u),
            retcode=str(retcode),
            stats=Stats(nf=nf, njacs=njacs, nsolve=nsolve, naccept=naccept, nreject=nreject),
            alg=AUTO_LABEL if alg.name == "auto" else alg.name,
            backend=self.name,
            t_events=t_events,
            u_events=u_events,
            interpolant=Interpolant((t0, float(t_end)), partial(_dense_output, job)),
        )

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
        job = self._job(prob, alg, opts)
        result = session.call("solve_job", job, nogil=True)
        return self._solution(result, alg, job, prob.tspan[0], opts)

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
        job = self._job(prob, alg, opts)
        result = session.call("vjp_job", job, sensealg, nogil=True)
        sol = self._solution(result, alg, job, prob.tspan[0], opts)
        notes = str(result[4][4])
        if notes and sol.success:
            _warn_tangential(notes, opts.events)
        handle = result[5]

        def raw_pullback(cotangent: FloatArray) -> Gradients:
            du0, dp = session.call(
                "pullback_job", handle, cotangent_for_julia(cotangent), nogil=True
            )
            return Gradients(u0=vector_from_julia(du0), p=vector_from_julia(dp))

        return sol, raw_pullback

    def ensemble(
        self,
        prob: ODEProblem,
        U0: FloatArray,
        P: FloatArray,
        alg: Algorithm,
        opts: SolveOptions,
        sensealg: str | None,
    ) -> tuple[list[MemberResult], Callable[[FloatArray], Gradients] | None]:
        """Every member (rows of ``U0`` (N, n) and ``P`` (N, m)) in one call into DiffBridge.

        ``opts.saveat`` is required. Returns one ``MemberResult`` per member (its ``u`` a
        view of the one Julia array of states) and, when ``sensealg`` is given, the
        pullback of an (N, nt, n) cotangent to ``Gradients(u0=(N, n), p=(N, m))``.
        """
        if opts.saveat is None:
            raise BridgeValueError("an ensemble needs saveat: its members share one time grid")
        key = self._rhs_key(prob)
        t0, t1 = prob.tspan
        args = (
            key,
            transposed_for_julia(U0, 2),
            transposed_for_julia(P, 2),
            t0,
            t1,
            alg.name,
            for_julia(opts.saveat),
            opts.reltol,
            opts.abstol,
            opts.maxiters,
        )
        if sensealg is None:
            states, retcodes, stats = session.call("ensemble_solve", *args, nogil=True)
            return self._members(states, retcodes, stats, alg), None
        states, retcodes, stats, handle = session.call("ensemble_vjp", *args, sensealg, nogil=True)

        def pullback(cotangent: FloatArray) -> Gradients:
            du0, dp = session.call(
                "ensemble_pullback", handle, transposed_for_julia(cotangent, 3), nogil=True
            )
            return Gradients(u0=transposed_from_julia(du0, 2), p=transposed_from_julia(dp, 2))

        return self._members(states, retcodes, stats, alg), pullback

    def _members(
        self, states: Any, retcodes: Any, stats: Any, alg: Algorithm
    ) -> list[MemberResult]:
        u = transposed_from_julia(states, 3)  # (N, nt, n), a view of Julia's n × nt × N
        counts = np.asarray(stats).T.tolist()  # N rows of 5 Python ints
        codes = str(retcodes).split("\n")
        if len(codes) != len(u) or len(counts) != len(u):
            raise RuntimeError(
                f"DiffBridge returned {len(u)} members' states, {len(codes)} retcodes and "
                f"{len(counts)} stats rows"
            )
        label = AUTO_LABEL if alg.name == "auto" else alg.name
        return [
            MemberResult(
                u=u[i],
                retcode=codes[i],
                stats=Stats(*counts[i]),
                message="",
                alg=label,
                backend=self.name,
            )
            for i in range(len(u))
        ]


def _dense_output(job: Any) -> Callable[[FloatArray], FloatArray]:
    """``Interpolant``'s ``make`` for a Julia job: one dense solve (GIL released), then each
    evaluation a call of its own; both go through ``session.call``, under the call lock."""
    dense = session.call("dense_job", job, nogil=True)

    def evaluate(ts: FloatArray) -> FloatArray:
        return rows_from_julia(session.call("dense_eval", dense, for_julia(ts)))

    return evaluate


BACKEND = JuliaBackend()
