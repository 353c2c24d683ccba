"""``ensemble="threads"`` on the Julia backend: every member in one call into DiffBridge.

Without Julia (always run), against fakes:

* ``session.call`` faked by a stand-in that solves independent decays in closed form from
  the arrays it is handed (so wrong axes or member order show up as wrong numbers): one
  load and ONE call for all members (``ensemble_solve`` / ``ensemble_vjp``, then one
  ``ensemble_pullback``), with ``nogil=True``; the stacked u0 and p handed over as
  transposed views of the ensemble's own arrays, the cotangent as a view of the caller's;
  the results against the reference backend; a failed member;
* juliacall's ``Main`` faked as in ``test_julia_session``: every touch of Julia under the
  call lock, the ensemble functions entered through ``_jl_call_nogil``, the members' states
  and gradients NumPy views of the Julia arrays, a member's Julia exception translated.

With Julia (marked ``julia``): threads against a serial loop of ``bridge.solve`` /
``bridge.vjp`` per member on Julia and against the reference backend, gradients against
central differences, a failed member, a member that throws, time running backwards, no
parameters, a ``JuliaFunction``, the GIL released during the call, and a real run on two
Julia threads (in a fresh process).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import weakref
from typing import Any

import numpy as np
import pytest

import bridge
from bridge._algorithms import check_alg
from bridge._julia import session
from bridge._julia.arrays import JuliaMemory
from bridge._julia.backend import BACKEND, JuliaBackend
from bridge._validate import check_options
from tests.models import lotka_volterra

TS = np.linspace(0.0, 2.0, 6)
TIGHT = {"reltol": 1e-10, "abstol": 1e-12}


def decays(u, p, t):
    """Two independent decays: u_j(t) = u_j(0) exp(-p_j t)."""
    return [-p[0] * u[0], -p[1] * u[1]]


def decay_ensemble(count: int = 4, tspan: tuple[float, float] = (0.0, 2.0)):
    prob = bridge.ODEProblem(decays, [1.0, 1.0], tspan, [1.0, 1.0])
    U0 = 1.0 + np.arange(2.0 * count).reshape(count, 2) / 10
    P = 0.5 + np.arange(2.0 * count)[::-1].reshape(count, 2) / 7
    return bridge.EnsembleProblem(prob, u0=U0, p=P)


# ---------------------------------------------------- session.call faked (no Julia needed)


class FakeEnsembleJulia:
    """Stands in for ``session.call``: DiffBridge's ensemble functions for ``decays``,
    computed in closed form from the column-major views it is handed, answered in Julia's
    layout (column-major arrays, member last)."""

    def __init__(self, failed: dict[int, tuple[int, str]] | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], bool]] = []
        self.failed = failed or {}
        self.states: np.ndarray | None = None

    def __call__(self, name: str, *args: Any, nogil: bool = False, **kwargs: Any) -> Any:
        self.calls.append((name, args, nogil))
        if name in ("load_model", "register_function"):
            return True
        if name in ("ensemble_solve", "ensemble_vjp"):
            _key, U0T, PT, t0, _t1, _alg, saveat, *_ = args
            self.inputs = (np.array(U0T), np.array(PT), t0, np.array(saveat))
            s = np.asarray(saveat) - t0
            states = U0T[:, None, :] * np.exp(-PT[:, None, :] * s[None, :, None])  # n, nt, N
            retcodes = ["Success"] * U0T.shape[1]
            for i, (keep, code) in self.failed.items():
                states[:, keep:, i] = np.nan
                retcodes[i] = code
            self.states = np.asfortranarray(states)
            stats = np.asfortranarray(np.tile(np.arange(1, 6)[:, None], (1, U0T.shape[1])))
            result = (self.states, "\n".join(retcodes), stats)
            return result if name == "ensemble_solve" else (*result, "ensemble handle")
        if name == "ensemble_pullback":
            handle, cotT = args
            assert handle == "ensemble handle"
            U0T, PT, t0, saveat = self.inputs
            s = saveat - t0
            decay = np.exp(-PT[:, None, :] * s[None, :, None])
            du0 = np.sum(cotT * decay, axis=1)
            dp = np.sum(cotT * decay * (-s[None, :, None]) * U0T[:, None, :], axis=1)
            return np.asfortranarray(du0), np.asfortranarray(dp)
        raise AssertionError(f"unexpected call into DiffBridge: {name}")

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def args_of(self, name: str) -> tuple[Any, ...]:
        return next(args for call, args, _ in self.calls if call == name)


@pytest.fixture
def fake_julia(monkeypatch):
    """choose_backend sees Julia as installed; DiffBridge is the closed-form fake."""
    from bridge import _backend

    engines = dict(_backend._BY_NAME)
    engines["julia"] = dataclasses.replace(engines["julia"], availability=lambda: None)
    monkeypatch.setattr(_backend, "_BY_NAME", engines)
    monkeypatch.setattr(BACKEND, "_loaded", set())
    fake = FakeEnsembleJulia()
    monkeypatch.setattr(session, "call", fake)
    return fake


def test_all_members_go_over_in_one_call_as_views_of_the_ensembles_arrays(fake_julia):
    eprob = decay_ensemble(5)
    opts = check_options(eprob.prob.tspan, TS, 1e-8, 1e-10, 1000)
    results, pullback = JuliaBackend().ensemble(
        eprob.prob, eprob.u0, eprob.p, check_alg("Tsit5"), opts, None
    )
    assert pullback is None
    assert fake_julia.names() == ["load_model", "ensemble_solve"]
    _, args, nogil = fake_julia.calls[1]
    assert nogil
    key, U0T, PT, t0, t1, alg, saveat, reltol, abstol, maxiters = args
    assert key == fake_julia.args_of("load_model")[0]
    # (N, n) C order is Julia's n x N matrix: the same memory, no copy
    assert U0T.shape == (2, 5) and U0T.flags.f_contiguous and np.shares_memory(U0T, eprob.u0)
    assert PT.shape == (2, 5) and np.shares_memory(PT, eprob.p)
    assert saveat is opts.saveat and (t0, t1) == (0.0, 2.0) and alg == "Tsit5"
    assert (reltol, abstol, maxiters) == (1e-8, 1e-10, 1000)
    # each member's states are a view of the one Julia array, member i = Julia's last index
    assert len(results) == 5
    for i, r in enumerate(results):
        assert r.u.shape == (len(TS), 2) and r.u.flags.c_contiguous
        assert np.shares_memory(r.u, fake_julia.states)
        np.testing.assert_allclose(r.u, eprob.u0[i] * np.exp(-np.outer(TS, eprob.p[i])))
        assert r.retcode == "Success" and r.backend == "julia" and r.alg == "Tsit5"
        assert (r.stats.nf, r.stats.njacs, r.stats.nsolve, r.stats.naccept) == (1, 2, 3, 4)


def test_threads_on_julia_match_the_reference_backend_through_the_public_api(fake_julia):
    eprob = decay_ensemble(4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        esol = bridge.solve(eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads", **TIGHT)
    assert not [w for w in caught if "process" in str(w.message)]  # threads stay threads
    assert fake_julia.names() == ["load_model", "ensemble_solve"]  # no call per member
    assert esol.ensemble == "threads" and esol.backend == "julia"
    ref = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    np.testing.assert_allclose(esol.u, ref.u, rtol=1e-7)
    assert esol.retcodes == ["Success"] * 4 and esol.stats[2].nf == 1
    # the model is loaded once per key, not per ensemble
    bridge.solve(eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads")
    assert fake_julia.names().count("load_model") == 1


def test_threads_gradients_are_one_pullback_call_and_match_the_reference(fake_julia):
    eprob = decay_ensemble(3)
    esol, pullback = bridge.vjp(
        eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads", **TIGHT
    )
    name, args, nogil = fake_julia.calls[-1]
    assert name == "ensemble_vjp" and nogil and args[-1] == "auto"
    cot = np.random.default_rng(2).standard_normal(esol.u.shape)
    g = pullback(cot)
    assert fake_julia.names() == ["load_model", "ensemble_vjp", "ensemble_pullback"]
    _, (handle, cotT), nogil = fake_julia.calls[-1]
    assert nogil and handle == "ensemble handle"
    assert cotT.shape == (2, len(TS), 3) and np.shares_memory(cotT, cot)  # n x nt x N view
    assert g.u0.shape == (3, 2) and g.p.shape == (3, 2)
    _, ref_pullback = bridge.vjp(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    ref = ref_pullback(cot)
    np.testing.assert_allclose(g.u0, ref.u0, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g.p, ref.p, rtol=1e-6, atol=1e-9)
    bridge.vjp(
        eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads", sensealg="GaussAdjoint"
    )
    assert fake_julia.args_of("ensemble_vjp")[-1] == "auto"
    assert fake_julia.calls[-1][1][-1] == "GaussAdjoint"


def test_a_failed_member_is_its_retcode_and_refuses_gradients(fake_julia):
    fake_julia.failed = {1: (2, "MaxIters")}
    eprob = decay_ensemble(3)
    with pytest.warns(bridge.SolverWarning, match=r"1 of 3 ensemble members did not succeed: 1 "):
        esol, pullback = bridge.vjp(eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads")
    assert esol.retcodes == ["Success", "MaxIters", "Success"] and esol.failed == [1]
    assert np.isnan(esol.u[1, 2:]).all() and np.isfinite(esol.u[[0, 2]]).all()
    assert esol[1].u.shape == (2, 2)
    with pytest.raises(bridge.SolveFailedError, match=r"members 1\)"):
        pullback(np.ones(esol.u.shape))
    assert "ensemble_pullback" not in fake_julia.names()


def test_untraced_problems_are_refused_before_julia_runs(fake_julia):
    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 2.0), [1.0], trace=False)
    eprob = bridge.EnsembleProblem(prob, p=[[1.0], [2.0]])
    with pytest.raises(bridge.BackendUnsupportedError, match="trace=False"):
        bridge.solve(eprob, "Tsit5", saveat=TS, backend="julia", ensemble="threads")
    assert fake_julia.calls == []


# ------------------------------------------ juliacall's Main faked (lock, nogil, zero copy)

TOUCHES: list[tuple[str, bool]] = []


def _touch(what: str) -> None:
    TOUCHES.append((what, session.CALL_LOCK.held()))


class AnyValue:
    """Stands in for an opaque juliacall value."""

    def __del__(self) -> None:
        _touch("drop")


class ArrayValue(AnyValue):
    """Stands in for juliacall's ArrayValue over a column-major Julia array."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.asfortranarray(data)

    @property
    def __array_interface__(self) -> dict[str, Any]:
        _touch("array interface")
        return self.data.__array_interface__


class JuliaError(Exception):
    """Stands in for juliacall.JuliaError."""


for _cls in (AnyValue, ArrayValue, JuliaError):
    _cls.__module__ = "juliacall"

MEMBER_ERROR = "ensemble member 1 (counting from 0; 1 of 3) threw: DomainError with -1.0: bad"


class FakeFunction(AnyValue):
    def __init__(self, name: str, made: dict[str, Any]) -> None:
        self.name, self.made = name, made

    def __call__(self, *args: Any) -> Any:
        return self._run("with the GIL", args)

    def _jl_call_nogil(self, *args: Any) -> Any:
        return self._run("without the GIL", args)

    def _run(self, how: str, args: tuple[Any, ...]) -> Any:
        _touch(f"call {self.name} {how}")
        if self.name == "error_type_name":
            return "DomainError"
        if self.name == "error_message":
            return MEMBER_ERROR
        if self.name == "load_model":
            return True
        U0T = args[1]
        if U0T.shape[1] == 3:  # three members: the test's signal for a member that throws
            raise JuliaError(AnyValue())
        n, N, nt = U0T.shape[0], U0T.shape[1], len(args[6])
        if self.name in ("ensemble_solve", "ensemble_vjp"):
            states = ArrayValue(np.arange(float(n * nt * N)).reshape(n, nt, N))
            self.made["states"] = weakref.ref(states)  # the test keeps no Julia object alive
            result = (
                states,
                "\n".join(["Success"] * N),
                ArrayValue(np.ones((5, N), dtype=np.int64)),
            )
            return result if self.name == "ensemble_solve" else (*result, AnyValue())
        raise AssertionError(self.name)


class FakePullback(FakeFunction):
    def _run(self, how: str, args: tuple[Any, ...]) -> Any:
        _touch(f"call {self.name} {how}")
        handle, cotT = args
        assert isinstance(handle, AnyValue) and cotT.ndim == 3
        du0, dp = ArrayValue(cotT.sum(axis=1)), ArrayValue(-cotT.sum(axis=1))
        self.made["du0"] = weakref.ref(du0)
        return du0, dp


class FakeMain:
    def __init__(self) -> None:
        self.made: dict[str, Any] = {}

    @property
    def DiffBridge(self) -> Any:
        _touch("module")
        made = self.made

        class FakeDiffBridge:
            def __getattr__(self, name: str) -> FakeFunction:
                _touch("getattr")
                cls = FakePullback if name == "ensemble_pullback" else FakeFunction
                return cls(name, made)

        return FakeDiffBridge()


@pytest.fixture
def fake_main(monkeypatch):
    main = FakeMain()
    monkeypatch.setattr(session, "_MAIN", main)
    TOUCHES.clear()
    yield main
    gc.collect()
    session._PENDING.clear()


def _owner(arr: np.ndarray) -> Any:
    while not isinstance(arr, JuliaMemory):
        arr = arr.base
    return arr


def test_ensemble_calls_hold_the_lock_release_the_gil_and_view_julia_memory(fake_main):
    eprob = decay_ensemble(4)
    opts = check_options(eprob.prob.tspan, TS, 1e-8, 1e-10, 1000)
    backend = JuliaBackend()
    alg = check_alg("Tsit5")
    results, none = backend.ensemble(eprob.prob, eprob.u0, eprob.p, alg, opts, None)
    assert none is None
    states = fake_main.made["states"]()
    assert all(_owner(r.u).value is states for r in results)  # views of the Julia array
    np.testing.assert_array_equal(results[2].u, states.data[:, :, 2].T)
    assert np.shares_memory(results[2].u, states.data)
    del states  # only bridge's owners may drop Julia objects (with the lock held)
    results, pullback = backend.ensemble(eprob.prob, eprob.u0, eprob.p, alg, opts, "GaussAdjoint")
    cot = np.random.default_rng(0).standard_normal((4, len(TS), 2))
    g = pullback(cot)
    assert _owner(g.u0).value is fake_main.made["du0"]() and g.u0.shape == (4, 2)
    np.testing.assert_allclose(g.u0, cot.sum(axis=1))
    np.testing.assert_allclose(g.p, -cot.sum(axis=1))
    del results, pullback, g
    gc.collect()
    calls = [what for what, _ in TOUCHES if what.startswith("call")]
    assert calls == [
        "call load_model with the GIL",
        "call ensemble_solve without the GIL",
        "call ensemble_vjp without the GIL",
        "call ensemble_pullback without the GIL",
    ]
    assert {"module", "getattr", "array", "drop"} <= {w.split()[0] for w, _ in TOUCHES}
    outside = [what for what, held in TOUCHES if not held]
    assert outside == [], f"Julia touched without the call lock: {outside}"


def test_a_member_exception_becomes_a_julia_error_naming_the_member(fake_main):
    eprob = decay_ensemble(3)  # three members: the fake throws
    opts = check_options(eprob.prob.tspan, TS, 1e-8, 1e-10, 1000)
    with pytest.raises(bridge.JuliaError) as info:
        JuliaBackend().ensemble(eprob.prob, eprob.u0, eprob.p, check_alg("Tsit5"), opts, None)
    assert info.value.julia_type == "DomainError"
    assert info.value.message == MEMBER_ERROR
    gc.collect()
    assert all(held for _, held in TOUCHES), TOUCHES


# ------------------------------------------------------------------------- with Julia


def lv_ensemble(count: int = 6, tspan: tuple[float, float] = (0.0, 2.0)):
    rng = np.random.default_rng(4)
    U0 = 1.0 + 0.2 * rng.random((count, 2))
    P = np.array([1.5, 1.0, 3.0, 1.0]) * (1.0 + 0.1 * rng.standard_normal((count, 4)))
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], tspan, [1.5, 1.0, 3.0, 1.0])
    return bridge.EnsembleProblem(prob, u0=U0, p=P)


def _central_differences(eprob, cot, saveat, h=1e-5):
    """d(sum(cot * u))/d(u0, p) per member, by central differences of tight reference
    solves (all members perturbed at once: they are independent)."""
    kw = {"saveat": saveat, "backend": "reference", "reltol": 1e-12, "abstol": 1e-14}
    out = []
    for which in ("u0", "p"):
        base = getattr(eprob, which)
        grad = np.empty_like(base)
        for k in range(base.shape[1]):
            plus, minus = np.array(base), np.array(base)
            plus[:, k] += h
            minus[:, k] -= h
            up = bridge.solve(
                bridge.EnsembleProblem(eprob.prob, **{"u0": eprob.u0, "p": eprob.p, which: plus}),
                "Tsit5",
                **kw,
            ).u
            um = bridge.solve(
                bridge.EnsembleProblem(eprob.prob, **{"u0": eprob.u0, "p": eprob.p, which: minus}),
                "Tsit5",
                **kw,
            ).u
            grad[:, k] = np.sum(cot * (up - um), axis=(1, 2)) / (2 * h)
        out.append(grad)
    return out


@pytest.mark.julia
@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P"])
def test_threads_match_a_serial_julia_loop_and_the_reference(alg):
    eprob = lv_ensemble(8)
    esol = bridge.solve(eprob, alg, saveat=TS, backend="julia", ensemble="threads", **TIGHT)
    assert esol.ensemble == "threads" and esol.backend == "julia" and esol.success
    for i in range(len(eprob)):
        sol = bridge.solve(eprob.member(i), alg, saveat=TS, backend="julia", **TIGHT)
        np.testing.assert_allclose(esol.u[i], sol.u, rtol=1e-10, atol=1e-12)
        assert esol.stats[i].nf == sol.stats.nf
    ref = bridge.solve(eprob, alg, saveat=TS, backend="reference", **TIGHT)
    np.testing.assert_allclose(esol.u, ref.u, rtol=1e-6, atol=1e-8)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", list(bridge.SENSEALGS))
def test_threads_gradients_match_per_member_vjps_and_central_differences(sensealg):
    eprob = lv_ensemble(3)
    kw = {"saveat": TS, "sensealg": sensealg, "backend": "julia", **TIGHT}
    esol, pullback = bridge.vjp(eprob, "Tsit5", ensemble="threads", **kw)
    cot = np.random.default_rng(7).standard_normal(esol.u.shape)
    g = pullback(cot)
    assert g.u0.shape == (3, 2) and g.p.shape == (3, 4)
    for i in range(3):
        sol, pb = bridge.vjp(eprob.member(i), "Tsit5", **kw)
        np.testing.assert_allclose(esol.u[i], sol.u, rtol=1e-10, atol=1e-12)
        gi = pb(cot[i])
        np.testing.assert_allclose(g.u0[i], gi.u0, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(g.p[i], gi.p, rtol=1e-8, atol=1e-12)
    fd_u0, fd_p = _central_differences(eprob, cot, TS)
    np.testing.assert_allclose(g.u0, fd_u0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.p, fd_p, rtol=1e-5, atol=1e-6)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", list(bridge.SENSEALGS))
def test_threads_with_time_running_backwards(sensealg):
    eprob = lv_ensemble(3, tspan=(2.0, 0.0))
    back = TS[::-1]
    kw = {"saveat": back, "backend": "julia", **TIGHT}
    esol = bridge.solve(eprob, "Tsit5", ensemble="threads", **kw)
    ref = bridge.solve(eprob, "Tsit5", saveat=back, backend="reference", **TIGHT)
    np.testing.assert_allclose(esol.u, ref.u, rtol=1e-6, atol=1e-8)
    esol_v, pullback = bridge.vjp(eprob, "Tsit5", ensemble="threads", sensealg=sensealg, **kw)
    np.testing.assert_allclose(esol_v.u, esol.u, rtol=1e-8, atol=1e-10)
    cot = np.random.default_rng(3).standard_normal(esol.u.shape)  # sees mirrored columns
    g = pullback(cot)
    fd_u0, fd_p = _central_differences(eprob, cot, back)
    np.testing.assert_allclose(g.u0, fd_u0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.p, fd_p, rtol=1e-5, atol=1e-6)


@pytest.mark.julia
@pytest.mark.parametrize("kind", ["solve", "vjp"])
def test_threads_a_failed_member_never_fails_the_others(kind):
    prob = bridge.ODEProblem(lambda u, p, t: p[0] * u**2, [1.0], (0.0, 2.0), [0.1])
    eprob = bridge.EnsembleProblem(prob, p=[[0.1], [1.0], [0.2]])  # member 1 blows up at t=1
    saveat = [0.0, 1.5, 2.0]
    run = bridge.solve if kind == "solve" else bridge.vjp
    with pytest.warns(bridge.SolverWarning, match=r"1 of 3 ensemble members did not succeed: 1 "):
        out = run(eprob, "Tsit5", saveat=saveat, backend="julia", ensemble="threads")
    esol = out if kind == "solve" else out[0]
    assert esol.failed == [1] and esol.retcodes[0] == esol.retcodes[2] == "Success"
    assert esol.u[1, 0, 0] == 1.0 and np.isnan(esol.u[1, 1:]).all()  # partial, not extrapolated
    assert esol[1].u.shape == (1, 1)
    np.testing.assert_allclose(
        esol.u[[0, 2], :, 0], 1 / (1 - np.outer([0.1, 0.2], saveat)), rtol=1e-6
    )
    if kind == "vjp":
        with pytest.raises(bridge.SolveFailedError, match=r"members 1\)"):
            out[1](np.ones(esol.u.shape))


@pytest.mark.julia
@pytest.mark.parametrize("kind", ["solve", "vjp"])
def test_threads_a_member_that_throws_is_named(kind):
    rhs = bridge.JuliaFunction(
        '(du, u, p, t) -> (p[1] < 0 && throw(DomainError(p[1], "negative rate")); '
        "du[1] = -p[1] * u[1]; nothing)"
    )
    prob = bridge.ODEProblem(rhs, [1.0], (0.0, 1.0), [1.0])
    eprob = bridge.EnsembleProblem(prob, p=[[1.0], [-1.0], [2.0]])
    run = bridge.solve if kind == "solve" else bridge.vjp
    with pytest.raises(bridge.JuliaError) as info:
        run(eprob, "Tsit5", saveat=[1.0], backend="julia", ensemble="threads")
    assert info.value.julia_type == "DomainError"
    assert "ensemble member 1 (counting from 0; 1 of 3) threw" in info.value.message
    assert "negative rate" in info.value.message


@pytest.mark.julia
def test_threads_julia_function_members_match_the_closed_form():
    rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)")
    prob = bridge.ODEProblem(rhs, [1.0], (0.0, 1.0), [1.0])
    rates = np.array([[0.5], [1.0], [2.0]])
    eprob = bridge.EnsembleProblem(prob, u0=[[2.0], [1.0], [3.0]], p=rates)
    esol, pullback = bridge.vjp(
        eprob, "Tsit5", saveat=TS / 2, backend="julia", ensemble="threads", **TIGHT
    )
    t = TS / 2
    np.testing.assert_allclose(esol.u[:, :, 0], eprob.u0 * np.exp(-rates * t), rtol=1e-8)
    cot = np.ones(esol.u.shape)
    g = pullback(cot)
    np.testing.assert_allclose(g.u0[:, 0], np.exp(-rates * t).sum(axis=1), rtol=1e-6)
    expected_p = (-t * eprob.u0 * np.exp(-rates * t)).sum(axis=1)
    np.testing.assert_allclose(g.p[:, 0], expected_p, rtol=1e-6)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", list(bridge.SENSEALGS))
def test_threads_without_parameters(sensealg):
    prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
    eprob = bridge.EnsembleProblem(prob, u0=[[2.0], [3.0]])
    esol, pullback = bridge.vjp(
        eprob,
        "Tsit5",
        saveat=[1.0],
        sensealg=sensealg,
        backend="julia",
        ensemble="threads",
        **TIGHT,
    )
    np.testing.assert_allclose(esol.u[:, 0, 0], [2.0 * np.exp(-1.0), 3.0 * np.exp(-1.0)])
    g = pullback(np.ones((2, 1, 1)))
    np.testing.assert_allclose(g.u0[:, 0], [np.exp(-1.0)] * 2, rtol=1e-7)
    assert g.p.shape == (2, 0)


@pytest.mark.julia
def test_threads_release_the_gil_while_julia_solves(monkeypatch):
    eprob = lv_ensemble(400, tspan=(0.0, 20.0))
    kw = {"saveat": np.linspace(0.0, 20.0, 50), "backend": "julia", "ensemble": "threads"}
    bridge.solve(eprob, "Tsit5", **kw, reltol=1e-12, abstol=1e-12)  # compile first
    window: list[float] = []
    real_call = session.call

    def timed_call(name: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real_call(name, *args, **kwargs)
        finally:
            if name == "ensemble_solve":
                window.extend((start, time.perf_counter()))

    monkeypatch.setattr(session, "call", timed_call)
    ticks: list[float] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        bridge.solve(eprob, "Tsit5", **kw, reltol=1e-12, abstol=1e-12)
    finally:
        done.set()
        counter.join()
    start, end = window
    assert end - start > 0.05, "the ensemble was too quick to tell"
    inside = [t for t in ticks if start + 0.1 * (end - start) < t < end - 0.1 * (end - start)]
    assert len(inside) >= 5, (len(inside), end - start)  # Python ran while Julia solved


@pytest.mark.julia
def test_threads_on_two_julia_threads_match_serial_solves():
    code = textwrap.dedent(
        """
        import os
        import numpy as np
        import bridge
        from bridge import _julia
        from tests.models import lotka_volterra

        rng = np.random.default_rng(1)
        prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 5.0), [1.5, 1.0, 3.0, 1.0])
        eprob = bridge.EnsembleProblem(
            prob, u0=1.0 + 0.2 * rng.random((40, 2)),
            p=[1.5, 1.0, 3.0, 1.0] * (1.0 + 0.1 * rng.standard_normal((40, 4))),
        )
        kw = {"saveat": np.linspace(0.0, 5.0, 21), "backend": "julia", "reltol": 1e-10,
              "abstol": 1e-12}
        esol, pullback = bridge.vjp(eprob, "Tsit5", ensemble="threads", **kw)
        assert int(_julia.jl().seval("Threads.nthreads()")) == 2
        assert os.environ["PYTHON_JULIACALL_HANDLE_SIGNALS"] == "yes"
        cot = np.cos(np.arange(esol.u.size, dtype=float)).reshape(esol.u.shape)
        g = pullback(cot)
        plain = bridge.solve(eprob, "Tsit5", ensemble="threads", **kw)
        np.testing.assert_allclose(plain.u, esol.u, rtol=1e-8)
        for i in range(len(eprob)):
            sol, pb = bridge.vjp(eprob.member(i), "Tsit5", **kw)
            np.testing.assert_allclose(esol.u[i], sol.u, rtol=1e-10, atol=1e-12)
            gi = pb(cot[i])
            np.testing.assert_allclose(g.p[i], gi.p, rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(g.u0[i], gi.u0, rtol=1e-8, atol=1e-12)
        print("ok")
        """
    )
    drop = ("BRIDGE_BACKEND", "PYTHON_JULIACALL_HANDLE_SIGNALS", "JULIA_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHON_JULIACALL_THREADS"] = "2"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr[-3000:]
