"""Ensembles: members as data, one call; every executor gives the serial answer exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bridge
from tests.models import lotka_volterra

LV_P = np.array([1.5, 1.0, 3.0, 1.0])
TS = np.linspace(0.0, 2.0, 11)
TIGHT = {"reltol": 1e-8, "abstol": 1e-10}


def decay(u, p, t):
    return -p[0] * u


def members(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    U0 = 1.0 + 0.2 * rng.random((count, 2))
    P = LV_P * (1.0 + 0.1 * rng.standard_normal((count, 4)))
    return U0, P


def lv_ensemble(count: int = 6) -> bridge.EnsembleProblem:
    U0, P = members(count)
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 2.0), LV_P)
    return bridge.EnsembleProblem(prob, u0=U0, p=P)


def test_decay_members_match_the_closed_form():
    prob = bridge.ODEProblem(decay, [1.0], (0.0, 1.0), [1.0])
    rates = np.array([[0.5], [1.0], [2.0]])
    esol = bridge.solve(
        bridge.EnsembleProblem(prob, p=rates), "Tsit5", saveat=TS / 2, backend="reference", **TIGHT
    )
    assert esol.u.shape == (3, 11, 1) and esol.t.shape == (11,)
    np.testing.assert_allclose(esol.u[:, :, 0], np.exp(-rates * esol.t), rtol=1e-7)
    assert esol.retcodes == ["Success"] * 3 and esol.success


def test_a_member_has_no_dense_output_and_says_what_to_do_instead():
    esol = bridge.solve(lv_ensemble(3), "Tsit5", saveat=TS, ensemble="serial", **TIGHT)
    with pytest.raises(bridge.BackendUnsupportedError, match=r"ensemble members have none.*saveat"):
        esol[1](0.5)


def test_serial_members_equal_solving_each_member():
    eprob = lv_ensemble(4)
    esol = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    for i in range(len(eprob)):
        sol = bridge.solve(eprob.member(i), "Tsit5", saveat=TS, backend="reference", **TIGHT)
        np.testing.assert_array_equal(esol.u[i], sol.u)
        np.testing.assert_array_equal(esol[i].u, sol.u)


def test_processes_give_the_serial_answer_exactly():
    eprob = lv_ensemble(9)
    serial = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    procs = bridge.solve(
        eprob, "Tsit5", saveat=TS, backend="reference", ensemble="processes", **TIGHT
    )
    assert procs.ensemble == "processes"
    np.testing.assert_array_equal(procs.u, serial.u)
    assert procs.retcodes == serial.retcodes


def test_batched_gradients_match_central_differences():
    eprob = lv_ensemble(3)
    esol, pullback = bridge.vjp(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    rng = np.random.default_rng(5)
    cot = rng.standard_normal(esol.u.shape)
    g = pullback(cot)
    assert g.u0.shape == (3, 2) and g.p.shape == (3, 4)
    h = 1e-6
    for i in range(3):
        for k in range(4):
            P_plus, P_minus = np.array(eprob.p), np.array(eprob.p)
            P_plus[i, k] += h
            P_minus[i, k] -= h
            up = bridge.solve(
                bridge.EnsembleProblem(eprob.prob, u0=eprob.u0, p=P_plus),
                "Tsit5",
                saveat=TS,
                backend="reference",
                reltol=1e-11,
                abstol=1e-12,
            ).u
            um = bridge.solve(
                bridge.EnsembleProblem(eprob.prob, u0=eprob.u0, p=P_minus),
                "Tsit5",
                saveat=TS,
                backend="reference",
                reltol=1e-11,
                abstol=1e-12,
            ).u
            fd = np.sum(cot * (up - um)) / (2 * h)
            assert g.p[i, k] == pytest.approx(fd, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("sensealg", ["ForwardDiffSensitivity", "InterpolatingAdjoint"])
def test_processes_gradients_equal_serial(sensealg):
    eprob = lv_ensemble(5)
    cot = np.random.default_rng(1).standard_normal((5, len(TS), 2))
    kw = {"saveat": TS, "sensealg": sensealg, "backend": "reference", **TIGHT}
    _, pb_serial = bridge.vjp(eprob, "Tsit5", **kw)
    _, pb_procs = bridge.vjp(eprob, "Tsit5", ensemble="processes", **kw)
    g1, g2 = pb_serial(cot), pb_procs(cot)
    np.testing.assert_allclose(g2.u0, g1.u0, rtol=1e-12)
    np.testing.assert_allclose(g2.p, g1.p, rtol=1e-12)


def test_a_failed_member_never_fails_the_others():
    prob = bridge.ODEProblem(lambda u, p, t: p[0] * u**2, [1.0], (0.0, 2.0), [0.1])
    eprob = bridge.EnsembleProblem(prob, p=[[0.1], [1.0], [0.2]])  # member 1 blows up at t=1
    with pytest.warns(bridge.SolverWarning, match=r"1 of 3 ensemble members did not succeed: 1 "):
        esol, pullback = bridge.vjp(eprob, "Tsit5", saveat=[0.0, 1.5, 2.0], backend="reference")
    assert esol.retcodes[0] == "Success" and esol.retcodes[2] == "Success"
    assert esol.retcodes[1] != "Success" and esol.failed == [1]
    assert np.isnan(esol.u[1, -1]).all() and np.isfinite(esol.u[0]).all()
    assert esol[1].u.shape[0] < 3
    with pytest.raises(bridge.SolveFailedError, match=r"members 1\)"):
        pullback(np.ones(esol.u.shape))


def test_saveat_is_required_and_ensemble_is_checked():
    eprob = lv_ensemble(2)
    with pytest.raises(ValueError, match="an ensemble needs saveat"):
        bridge.solve(eprob, "Tsit5", backend="reference")
    with pytest.raises(ValueError, match="unknown ensemble='gpu'"):
        bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", ensemble="gpu")
    prob = eprob.prob
    with pytest.raises(TypeError, match=r"ensemble='processes' is only for a bridge\.Ensemble"):
        bridge.solve(prob, "Tsit5", saveat=TS, ensemble="processes")


def test_bad_member_arrays_are_refused_clearly():
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 2.0), LV_P)
    with pytest.raises(ValueError, match=r"u0 has 3 columns, but the problem has 2 states"):
        bridge.EnsembleProblem(prob, u0=np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"u0 has 4 members \(rows\) but p has 5"):
        bridge.EnsembleProblem(prob, u0=np.ones((4, 2)), p=np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"p must be 2-D, one row per member"):
        bridge.EnsembleProblem(prob, p=LV_P)
    with pytest.raises(ValueError, match=r"p must be finite, but p\[1, 2\] is nan"):
        bridge.EnsembleProblem(prob, p=[LV_P, [1.0, 1.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match="give u0"):
        bridge.EnsembleProblem(prob)


def test_named_parameters_stack_along_a_first_axis():
    def lv_named(u, p, t):
        x, y = u
        return [p["a"] * x - p["bc"][0] * x * y, -p["bc"][1] * y + p["d"] * x * y]

    prob = bridge.ODEProblem(
        lv_named, [1.0, 1.0], (0.0, 2.0), {"a": 1.5, "bc": [1.0, 3.0], "d": 1.0}
    )
    stacked = {"a": [1.5, 1.4], "bc": [[1.0, 3.0], [1.1, 2.9]], "d": [1.0, 1.0]}
    eprob = bridge.EnsembleProblem(prob, p=stacked)
    np.testing.assert_array_equal(eprob.p[1], [1.4, 1.1, 2.9, 1.0])
    esol = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    flat = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 2.0), [1.4, 1.1, 2.9, 1.0])
    ref = bridge.solve(flat, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    np.testing.assert_allclose(esol.u[1], ref.u, rtol=1e-10)


def test_threads_off_julia_warn_once_and_use_processes(monkeypatch):
    from bridge._ensemble import api

    monkeypatch.setattr(api, "_warned_threads", set())
    eprob = lv_ensemble(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            esol = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", ensemble="threads")
    assert esol.ensemble == "processes"
    said = [w for w in caught if "holds the GIL" in str(w.message)]
    assert len(said) == 1 and issubclass(said[0].category, bridge.BridgeWarning)


def test_a_lambda_cannot_travel_to_processes():
    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0], trace=False)
    eprob = bridge.EnsembleProblem(prob, p=[[1.0], [2.0]])
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        bridge.solve(eprob, "Tsit5", saveat=[1.0], backend="reference", ensemble="processes")


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.timeout(300)
def test_dask_gives_the_serial_answer_in_member_order(dask_client):
    eprob = lv_ensemble(7)
    serial = bridge.solve(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    on_dask = bridge.solve(
        eprob, "Tsit5", saveat=TS, backend="reference", ensemble=dask_client, **TIGHT
    )
    assert on_dask.ensemble == "dask"
    np.testing.assert_array_equal(on_dask.u, serial.u)
    _, pb = bridge.vjp(
        eprob, "Tsit5", saveat=TS, backend="reference", ensemble=dask_client, **TIGHT
    )
    _, pb_serial = bridge.vjp(eprob, "Tsit5", saveat=TS, backend="reference", **TIGHT)
    cot = np.ones((7, len(TS), 2))
    np.testing.assert_allclose(pb(cot).p, pb_serial(cot).p, rtol=1e-12)


@pytest.mark.timeout(300)  # a lost worker must never hang the suite
def test_dask_worker_killed_mid_run_still_yields_every_member(dask_client):
    import os
    import signal
    import threading
    import time

    eprob = lv_ensemble(300)
    kw = {"saveat": TS, "backend": "reference", "reltol": 1e-10, "abstol": 1e-12}
    t0 = time.perf_counter()
    serial = bridge.solve(eprob, "Tsit5", **kw)
    took = time.perf_counter() - t0
    pids = sorted(dask_client.run(os.getpid).values())
    killed_at: list[float] = []

    def kill() -> None:
        os.kill(pids[0], signal.SIGKILL)
        killed_at.append(time.perf_counter())

    killer = threading.Timer(min(0.3, took / 4), kill)
    killer.start()
    try:
        esol = bridge.solve(eprob, "Tsit5", ensemble=dask_client, **kw)
        finished = time.perf_counter()
    finally:
        killer.join()
    assert killed_at and killed_at[0] < finished, "the worker was not killed mid-run"
    # Dask reruns the lost worker's chunks elsewhere: every member, in order, unchanged.
    assert esol.u.shape == serial.u.shape
    np.testing.assert_array_equal(esol.u, serial.u)
    assert esol.retcodes == serial.retcodes
    dask_client.wait_for_workers(2, timeout=120)


def test_a_traced_lambda_travels_as_generated_source():
    # A local lambda does not pickle; its traced model does (key + generated NumPy source).
    k = 0.5
    prob = bridge.ODEProblem(
        lambda u, p, t: [-k * p[0] * u[0] + np.sin(t)], [1.0], (0.0, 2.0), [1.0]
    )
    eprob = bridge.EnsembleProblem(prob, p=[[0.5], [1.0], [2.0]])
    kw = {"saveat": TS, "backend": "reference", **TIGHT}
    serial = bridge.solve(eprob, "Tsit5", **kw)
    procs = bridge.solve(eprob, "Tsit5", ensemble="processes", **kw)
    np.testing.assert_allclose(procs.u, serial.u, rtol=1e-13, atol=1e-15)
    _, pb1 = bridge.vjp(eprob, "Tsit5", **kw)
    _, pb2 = bridge.vjp(eprob, "Tsit5", ensemble="processes", **kw)
    cot = np.ones(serial.u.shape)
    np.testing.assert_allclose(pb2(cot).p, pb1(cot).p, rtol=1e-12)


def test_an_array_model_travels_as_generated_source():
    rng = np.random.default_rng(3)
    W1, W2 = rng.standard_normal((32, 2)) * 0.5, rng.standard_normal((2, 32)) * 0.5

    def mlp(u, p, t):
        return p["W2"] @ np.tanh(p["W1"] @ u)

    prob = bridge.ODEProblem(mlp, [1.0, 0.0], (0.0, 1.0), {"W1": W1, "W2": W2})
    assert type(prob.model).__name__ == "ArrayModel"
    stacked = {"W1": np.stack([W1, 0.9 * W1]), "W2": np.stack([W2, 1.1 * W2])}
    eprob = bridge.EnsembleProblem(prob, p=stacked)
    kw = {"saveat": [0.0, 0.5, 1.0], "backend": "reference", **TIGHT}
    serial = bridge.solve(eprob, "Tsit5", **kw)
    procs = bridge.solve(eprob, "Tsit5", ensemble="processes", **kw)
    np.testing.assert_allclose(procs.u, serial.u, rtol=1e-13, atol=1e-15)


def test_one_pool_runs_the_same_model_on_two_engines():
    # The worker's model cache was keyed by the model alone: a worker that had built it for
    # the reference engine (no DiffSL text) then failed the diffsol ensemble of that model.
    from bridge._diffsol import availability

    if availability() is not None:
        pytest.skip(f"needs pydiffsol: {availability()}")
    prob = bridge.ODEProblem(lotka_volterra, [1.0, 1.0], (0.0, 2.0), LV_P)
    eprob = bridge.EnsembleProblem(prob, p=members(4)[1])
    out = {}
    for engine in ("reference", "diffsol", "reference"):
        esol = bridge.solve(eprob, "Tsit5", saveat=TS, ensemble="processes", backend=engine,
                            **TIGHT)  # fmt: skip
        assert esol.backend == engine and all(r == "Success" for r in esol.retcodes)
        out.setdefault(engine, esol.u)
    np.testing.assert_allclose(out["diffsol"], out["reference"], rtol=1e-6, atol=1e-8)
