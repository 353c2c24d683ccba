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
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .._algorithms import Algorithm
from .._ensemble.run import MemberResult
from .._errors import BackendUnsupportedError, BridgeValueError
from .._problem import ODEProblem
from .._solution import Gradients, Solution, Stats
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
        with self._lock:
            if key not in self._loaded:
                loader()
                self._loaded.add(key)
        return key

    def _job(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Any:
        key = self._rhs_key(prob)
        t0, t1 = prob.tspan
        saveat = None if opts.saveat is None else for_julia(opts.saveat)
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
            opts.abstol,
            opts.maxiters,
        )

    def _solution(self, result: Any, alg: Algorithm) -> Solution:
        julia_u, julia_t, retcode, stats = result[0], result[1], result[2], result[3]
        nf, njacs, nsolve, naccept, nreject = (int(x) for x in stats)
        return Solution(
            t=vector_from_julia(julia_t),
            u=rows_from_julia(julia_u),
            retcode=str(retcode),
            stats=Stats(nf=nf, njacs=njacs, nsolve=nsolve, naccept=naccept, nreject=nreject),
            alg=AUTO_LABEL if alg.name == "auto" else alg.name,
            backend=self.name,
        )

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution:
        job = self._job(prob, alg, opts)
        return self._solution(session.call("solve_job", job, nogil=True), alg)

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]:
        job = self._job(prob, alg, opts)
        result = session.call("vjp_job", job, sensealg, nogil=True)
        sol = self._solution(result, alg)
        handle = result[4]

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


BACKEND = JuliaBackend()
