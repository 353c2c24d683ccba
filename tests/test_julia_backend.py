"""The Julia backend.

Without Julia (always run): the array hand-over (no copy for float64 C-contiguous input,
exactly one deliberate copy otherwise; the solution and the cotangent as views), the calls
the backend makes into DiffBridge (against a fake Julia), error translation and shortening,
and the refusal to start without Julia.

With Julia (marked ``julia``): zero copy against real Julia memory, every sensealg against
the reference backend, ``JuliaFunction`` right-hand sides, Julia exceptions as
``bridge.JuliaError``, and failed solves as retcodes.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bridge
from bridge import _julia
from bridge._algorithms import check_alg
from bridge._julia import session
from bridge._julia.arrays import (
    JuliaMemory,
    cotangent_for_julia,
    for_julia,
    rows_from_julia,
    vector_from_julia,
)
from bridge._julia.backend import BACKEND, JuliaBackend, function_key, model_module_name
from bridge._validate import check_options

from .conformance.problems import LINEAR, LOTKA_VOLTERRA
from .conformance.test_contract import refuses_untraced

JULIAPKG_JSON = Path(bridge.__file__).parent / "juliapkg.json"

# ---------------------------------------------------------------- arrays (no Julia needed)


def test_float64_c_contiguous_input_is_handed_over_as_is():
    a = np.linspace(0.0, 1.0, 7)
    assert for_julia(a) is a
    m = np.zeros((4, 3))
    assert for_julia(m) is m


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(6),  # int64
        lambda: np.arange(6, dtype=np.float32),
        lambda: np.linspace(0.0, 1.0, 12)[::2],  # non-contiguous view
        lambda: np.asfortranarray(np.ones((3, 4))),  # F-ordered
        lambda: np.ones((4, 3))[:, :2],  # non-contiguous 2-D view
    ],
    ids=["int", "float32", "strided", "fortran", "column-slice"],
)
def test_other_input_is_copied_exactly_once(make):
    x = make()
    out = for_julia(x)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(out, x)
    assert for_julia(out) is out  # the copy is final: no second one downstream


def test_cotangent_goes_to_julia_as_a_column_major_view():
    cot = np.arange(12.0).reshape(4, 3)  # (nt, n)
    view = cotangent_for_julia(cot)
    assert view.shape == (3, 4) and view.flags.f_contiguous
    assert np.shares_memory(view, cot)
    assert view.ctypes.data == cot.ctypes.data
    # column j of the n x nt Julia matrix is time point j
    np.testing.assert_array_equal(view[:, 2], cot[2])


def test_julia_matrix_comes_back_as_rows_without_copying():
    julia_like = np.asfortranarray(np.arange(10.0).reshape(2, 5))  # n x nt, column-major
    rows = rows_from_julia(julia_like)
    assert rows.shape == (5, 2) and rows.flags.c_contiguous
    assert np.shares_memory(rows, julia_like)
    vec = np.arange(5.0)
    assert vector_from_julia(vec) is vec


# ------------------------------------------------------- the backend against a fake Julia


class FakeJulia:
    """Records DiffBridge calls; answers like DiffBridge with NumPy stand-ins."""

    def __init__(self, n: int = 1, nt: int = 3) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], bool]] = []
        self.matrix = np.asfortranarray(np.arange(float(n * nt)).reshape(n, nt))
        self.t = np.linspace(0.0, 1.0, nt)
        self.n = n

    def __call__(self, name: str, *args: Any, nogil: bool = False, **kwargs: Any) -> Any:
        self.calls.append((name, args, nogil))
        no_events = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((self.n, 0)), 1.0, "")
        result = (self.matrix, self.t, "Success", (10, 0, 0, 5, 1), no_events)
        if name == "prepare":
            return "job"
        if name == "solve_job":
            return result
        if name == "vjp_job":
            return (*result, "handle")
        if name == "pullback_job":
            return np.ones(self.n), np.zeros(1)
        return None

    def args_of(self, name: str) -> tuple[Any, ...]:
        return next(args for call, args, _ in self.calls if call == name)


@pytest.fixture
def fake_julia(monkeypatch):
    fake = FakeJulia()
    monkeypatch.setattr(session, "call", fake)
    return fake


def _julia_problem(**kw: Any) -> bridge.ODEProblem:
    rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)")
    return bridge.ODEProblem(rhs, kw.get("u0", [2.0]), (0.0, 1.0), kw.get("p", [0.5]))


def test_backend_hands_inputs_over_without_copies_and_solves_without_the_gil(fake_julia):
    prob = _julia_problem()
    opts = check_options(prob.tspan, 0.5, 1e-6, 1e-8, 1000)
    sol = JuliaBackend().solve(prob, check_alg("Tsit5"), opts)
    key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters = fake_julia.args_of("prepare")
    assert u0 is prob.u0 and p is prob.p and saveat is opts.saveat
    assert (t0, t1, alg, reltol, abstol, maxiters) == (0.0, 1.0, "Tsit5", 1e-6, 1e-8, 1000)
    assert key == function_key(prob.f.source)
    assert ("solve_job", ("job",), True) in fake_julia.calls
    assert np.shares_memory(sol.u, fake_julia.matrix) and sol.u.flags.c_contiguous
    assert sol.u.shape == (3, 1) and sol.backend == "julia" and sol.stats.nf == 10


def test_backend_loads_a_julia_function_once(fake_julia):
    backend = JuliaBackend()
    prob = _julia_problem()
    opts = check_options(prob.tspan, None, 1e-6, 1e-8, 1000)
    backend.solve(prob, check_alg("auto"), opts)
    sol = backend.solve(prob.remake(u0=[3.0]), check_alg("auto"), opts)
    assert [c[0] for c in fake_julia.calls].count("register_function") == 1
    assert fake_julia.args_of("prepare")[6] is None  # saveat: every step
    assert sol.alg.startswith("auto")


def test_backend_pullback_passes_the_cotangent_as_a_view(fake_julia):
    prob = _julia_problem()
    opts = check_options(prob.tspan, 0.5, 1e-6, 1e-8, 1000)
    sol, raw_pullback = JuliaBackend().vjp(prob, check_alg("Tsit5"), opts, "GaussAdjoint")
    assert ("vjp_job", ("job", "GaussAdjoint"), True) in fake_julia.calls
    cot = np.ones(sol.u.shape)
    grads = raw_pullback(cot)
    handle, passed = fake_julia.args_of("pullback_job")
    assert handle == "handle"
    assert np.shares_memory(passed, cot) and passed.shape == (1, 3)
    assert grads.u0.shape == (1,) and grads.p.shape == (1,)


def test_backend_loads_generated_model_source_by_key(fake_julia):
    class Traced:
        key = "abc-123"
        n_states, n_params, has_derivatives, name = 1, 1, True, "m"

        def julia_source(self, module_name: str) -> str:
            return f"module {module_name} end"

    prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
    prob._model = Traced()
    JuliaBackend().solve(prob, check_alg("Tsit5"), check_options(prob.tspan, None, 1e-3, 1e-6, 9))
    key, source, modname = fake_julia.args_of("load_model")
    assert key == "model:abc-123" and modname == model_module_name("abc-123")
    assert source == f"module {modname} end" and modname.isidentifier()
    assert fake_julia.args_of("prepare")[0] == key


def test_untraced_problem_is_refused_clearly(fake_julia):
    prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0), trace=False)
    opts = check_options(prob.tspan, None, 1e-3, 1e-6, 9)
    assert "trace=False" in JuliaBackend().unsupported(prob, gradient=False)
    with pytest.raises(bridge.BackendUnsupportedError, match=r"trace=False.*backend='reference'"):
        JuliaBackend().solve(prob, check_alg("Tsit5"), opts)
    assert fake_julia.calls == []


@pytest.fixture
def julia_looks_installed(monkeypatch):
    """choose_backend sees Julia as available; any call into Julia fails the test."""
    from bridge import _backend

    engines = dict(_backend._BY_NAME)
    engines["julia"] = dataclasses.replace(engines["julia"], availability=lambda: None)
    monkeypatch.setattr(_backend, "_BY_NAME", engines)

    def no_julia(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"Julia was called: {args}")

    monkeypatch.setattr(session, "call", no_julia)


def test_untraced_problems_are_refused_before_julia_runs(julia_looks_installed):
    # The conformance contract for engines without Python callbacks, here without Julia.
    calls: list[float] = []

    def f(u, p, t):
        calls.append(t)
        return -p[0] * u

    prob = bridge.ODEProblem(f, [1.0], (0.0, 1.0), [1.0], trace=False)
    for alg in ("Tsit5", "FBDF", "auto"):
        assert refuses_untraced("julia", prob, alg, calls)
    with pytest.raises(bridge.GradientUnavailableError, match="trace=False"):
        bridge.vjp(prob, "Tsit5", backend="julia")
    assert calls == []


def test_backend_object_follows_the_protocol():
    assert BACKEND.name == "julia"
    assert callable(BACKEND.solve) and callable(BACKEND.vjp)


# -------------------------------------------------------------------- errors (no Julia)


class JuliacallError(Exception):
    """Stands in for juliacall.JuliaError (matched by name and module)."""


JuliacallError.__name__ = "JuliaError"
JuliacallError.__module__ = "juliacall"


def test_julia_exception_becomes_bridge_julia_error_with_a_short_message():
    wall = (
        "DimensionMismatch: a has size (2,), b has size (3,) in "
        "f(::Vector{ForwardDiff.Dual{ForwardDiff.Tag{F, Float64}, Float64, 2}})\n"
        "Stacktrace:\n [1] top-level scope"
    )
    err = _julia.translate_exception(
        JuliacallError("raw", None), describe=lambda e: ("DimensionMismatch", wall)
    )
    assert isinstance(err, bridge.JuliaError)
    assert err.julia_type == "DimensionMismatch"
    assert err.message == "a has size (2,), b has size (3,) in f(::Vector)"
    assert "Stacktrace" not in str(err) and "{" not in str(err)


def _no_describe(e: Any) -> tuple[str, str]:
    raise AssertionError("only juliacall.JuliaError is described")


def test_method_error_on_the_called_function_becomes_julia_error():
    err = _julia.translate_exception(
        TypeError("Julia: MethodError: no method matching g(::Int64)"), describe=_no_describe
    )
    assert isinstance(err, bridge.JuliaError) and err.julia_type == "MethodError"
    assert err.message == "no method matching g(::Int64)"


def test_unreadable_julia_exception_keeps_its_text():
    def broken(e: Any) -> tuple[str, str]:
        raise RuntimeError("Julia is gone")

    err = _julia.translate_exception(JuliacallError("boom"), describe=broken)
    assert isinstance(err, bridge.JuliaError) and "boom" in err.message


@pytest.mark.parametrize(
    "exc", [ValueError("python"), KeyboardInterrupt(), bridge.BridgeValueError("ours")]
)
def test_other_exceptions_pass_through(exc):
    assert _julia.translate_exception(exc, describe=_no_describe) is exc


def test_long_messages_are_cut():
    err = _julia.make_julia_error("ErrorException", "x" * 1000)
    assert len(err.message) == 400 and err.message.endswith("...")


# ----------------------------------------------------------------- without Julia (no Julia)


@pytest.fixture
def no_julia(monkeypatch):
    status = _julia.JuliaStatus(usable=False, reason="no Julia executable (test)")
    monkeypatch.setattr(session, "status", lambda refresh=False: status)
    monkeypatch.setattr(session, "_MAIN", None)
    return status


def test_backend_refuses_to_start_without_julia(no_julia):
    with pytest.raises(bridge.JuliaUnavailableError) as info:
        _julia.jl()
    assert "no Julia executable (test)" in str(info.value)
    assert "python -m bridge install" in str(info.value)
    prob = _julia_problem()
    opts = check_options(prob.tspan, None, 1e-3, 1e-6, 9)
    with pytest.raises(bridge.JuliaUnavailableError, match="no Julia executable"):
        BACKEND.solve(prob, check_alg("Tsit5"), opts)


def test_julia_function_without_julia_says_how_to_get_julia(monkeypatch):
    status = _julia.JuliaStatus(usable=False, reason="no Julia executable (test)")
    monkeypatch.setattr(_julia, "status", lambda refresh=False: status)
    monkeypatch.delenv("BRIDGE_BACKEND", raising=False)
    prob = _julia_problem()
    for backend in (None, "auto", "reference"):
        with pytest.raises(bridge.BackendUnsupportedError) as info:
            bridge.solve(prob, "Tsit5", backend=backend)
        message = str(info.value)
        assert "JuliaFunction" in message and "python -m bridge install" in message, message
        assert "backend='julia'" not in message, message
    with pytest.raises(bridge.JuliaUnavailableError, match=r"no Julia executable \(test\)"):
        bridge.solve(prob, "Tsit5", backend="julia")


def test_asking_for_the_julia_backend_without_julia_says_why(no_julia):
    with pytest.raises(bridge.JuliaUnavailableError, match=r"no Julia executable.*reference"):
        bridge.solve(_julia_problem(), "Tsit5", backend="julia")


# ------------------------------------------------------------------------- with Julia

TIGHT = {"reltol": 1e-10, "abstol": 1e-12}
SENSEALGS = [s for s in bridge.SENSEALGS]


@pytest.mark.julia
def test_solution_is_a_view_of_the_julia_matrix():
    prob = LINEAR.problem("julia")
    sol = bridge.solve(prob, "Tsit5", saveat=0.25, backend="julia")
    owner = sol.u
    while not isinstance(owner, JuliaMemory):
        owner = owner.base  # the views' chain ends at the Julia array's owner
    pointer = _julia.jl().seval("x -> UInt(pointer(x))")
    assert sol.u.ctypes.data == int(pointer(owner.value))
    assert sol.u.flags.c_contiguous and sol.u.shape == (9, 2)


@pytest.mark.julia
def test_cotangent_reaches_julia_without_a_copy():
    cot = np.arange(12.0).reshape(6, 2)  # (nt, n)
    look = _julia.jl().seval("x -> (UInt(pointer(x)), size(x, 1), size(x, 2), x[2, 3])")
    address, rows, cols, value = look(cotangent_for_julia(cot))
    assert int(address) == cot.ctypes.data
    assert (int(rows), int(cols)) == (2, 6)  # the n x nt matrix
    assert float(value) == cot[2, 1]  # column 3 = time point 3, row 2 = state 2


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("alg", ["Tsit5", "Rodas5P"])
def test_each_sensealg_agrees_with_the_reference_backend(sensealg, alg):
    prob = LOTKA_VOLTERRA.problem("julia", tspan=(0.0, 5.0))
    kw = {"saveat": 0.5, "sensealg": sensealg, **TIGHT}
    sol_j, pb_j = bridge.vjp(prob, alg, backend="julia", **kw)
    ref_sensealg = "InterpolatingAdjoint" if sensealg != "ForwardDiffSensitivity" else sensealg
    sol_r, pb_r = bridge.vjp(prob, alg, backend="reference", **{**kw, "sensealg": ref_sensealg})
    np.testing.assert_allclose(sol_j.t, sol_r.t)
    np.testing.assert_allclose(sol_j.u, sol_r.u, rtol=1e-6, atol=1e-8)
    cot = np.sin(np.arange(sol_j.u.size, dtype=float)).reshape(sol_j.u.shape)
    g_j, g_r = pb_j(cot), pb_r(cot)
    np.testing.assert_allclose(g_j.u0, g_r.u0, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_j.p, g_r.p, rtol=1e-5, atol=1e-7)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("saveat", [[1.5, 1.0, 0.5], None], ids=["inner-times", "every-step"])
def test_backwards_time_gradients_match_the_reference(sensealg, saveat):
    # A random cotangent: with an all-ones one, columns paired with mirrored save times (what
    # the continuous adjoints did for t1 < t0 before DiffBridge reflected time) look right.
    prob = LINEAR.problem("julia", tspan=(2.0, 0.0))
    kw = {"sensealg": sensealg, **TIGHT}
    sol_j, pb_j = bridge.vjp(prob, "Tsit5", saveat=saveat, backend="julia", **kw)
    ref_saveat = sol_j.t if saveat is None else saveat
    ref_sensealg = "ForwardDiffSensitivity" if sensealg == "ForwardDiffSensitivity" else "auto"
    sol_r, pb_r = bridge.vjp(
        prob, "Tsit5", saveat=ref_saveat, backend="reference", **{**kw, "sensealg": ref_sensealg}
    )
    np.testing.assert_array_equal(sol_j.t, ref_saveat)
    np.testing.assert_allclose(sol_j.u, sol_r.u, rtol=1e-7)
    cot = np.random.default_rng(3).standard_normal(sol_j.u.shape)
    g_j, g_r = pb_j(cot), pb_r(cot)
    np.testing.assert_allclose(g_j.u0, g_r.u0, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g_j.p, g_r.p, rtol=1e-5, atol=1e-8)


@pytest.mark.julia
@pytest.mark.parametrize("sensealg", SENSEALGS)
@pytest.mark.parametrize("kind", ["traced", "julia-function"])
def test_every_sensealg_without_parameters(sensealg, kind):
    # GaussAdjoint with NullParameters is a MethodError in SciMLSensitivity 7.112.3;
    # DiffBridge runs InterpolatingAdjoint with the same VJP instead.
    if kind == "traced":
        prob = bridge.ODEProblem(lambda u, p, t: -u, [2.0], (0.0, 1.0))
    else:
        rhs = bridge.JuliaFunction("(du, u, p, t) -> (du[1] = -u[1]; nothing)")
        prob = bridge.ODEProblem(rhs, [2.0], (0.0, 1.0))
    _, pullback = bridge.vjp(
        prob, "Tsit5", saveat=[1.0], sensealg=sensealg, backend="julia", **TIGHT
    )
    g = pullback(np.ones((1, 1)))
    np.testing.assert_allclose(g.u0, [np.exp(-1.0)], rtol=1e-7)
    assert g.p.shape == (0,)


@pytest.mark.julia
def test_installed_julia_packages_are_the_pinned_versions():
    pins = {
        name: entry["version"].removeprefix("=")
        for name, entry in json.loads(JULIAPKG_JSON.read_text())["packages"].items()
        if "version" in entry
    }
    installed = _julia.status(refresh=True).packages
    for name in ("OrdinaryDiffEq", "SciMLSensitivity", "Zygote"):
        assert installed.get(name) == pins[name], (name, installed.get(name), pins[name])


@pytest.mark.julia
def test_julia_function_rhs_solves_and_differentiates():
    prob = _julia_problem(u0=[2.0], p=[0.5])
    sol = bridge.solve(prob, "Rodas5P", saveat=[0.0, 1.0], backend="julia", **TIGHT)
    np.testing.assert_allclose(sol.u[:, 0], [2.0, 2.0 * np.exp(-0.5)], rtol=1e-8)
    for sensealg in ("ForwardDiffSensitivity", "GaussAdjoint", "InterpolatingAdjoint"):
        _, pullback = bridge.vjp(
            prob, "Tsit5", saveat=[1.0], sensealg=sensealg, backend="julia", **TIGHT
        )
        g = pullback(np.ones((1, 1)))
        np.testing.assert_allclose(g.u0, [np.exp(-0.5)], rtol=1e-6)
        np.testing.assert_allclose(g.p, [-2.0 * np.exp(-0.5)], rtol=1e-6)


@pytest.mark.julia
@pytest.mark.parametrize(
    ("source", "julia_type"),
    [
        ('(du, u, p, t) -> throw(DimensionMismatch("wrong size"))', "DimensionMismatch"),
        ('(du, u, p, t) -> error("boom")', "ErrorException"),
        ("(du, u, p, t) -> (du[5] = 1.0; nothing)", "BoundsError"),
    ],
)
def test_julia_exceptions_become_julia_errors(source, julia_type):
    prob = bridge.ODEProblem(bridge.JuliaFunction(source), [1.0], (0.0, 1.0), [1.0])
    with pytest.raises(bridge.JuliaError) as info:
        bridge.solve(prob, "Tsit5", backend="julia")
    assert info.value.julia_type == julia_type
    assert "Stacktrace" not in info.value.message and len(info.value.message) <= 400


@pytest.mark.julia
def test_syntax_error_in_julia_source_is_a_julia_error():
    prob = bridge.ODEProblem(bridge.JuliaFunction("(du, u, p, t) ->"), [1.0], (0.0, 1.0))
    with pytest.raises(bridge.JuliaError) as info:
        bridge.solve(prob, "Tsit5", backend="julia")
    assert info.value.julia_type in {"ParseError", "ErrorException"}


@pytest.mark.julia
def test_failed_solve_is_a_retcode_and_refuses_gradients():
    prob = LOTKA_VOLTERRA.problem("julia")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = bridge.solve(prob, "Tsit5", maxiters=5, backend="julia")
    assert sol.retcode == "MaxIters" and not sol.success
    assert any(issubclass(w.category, bridge.SolverWarning) for w in caught)
    assert sol.t[-1] < prob.tspan[1] and sol.u.shape == (len(sol.t), 2)
    with pytest.raises(bridge.SolveFailedError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge.vjp(prob, "Tsit5", saveat=1.0, maxiters=5, backend="julia")
    assert info.value.retcode == "MaxIters"


@pytest.mark.julia
def test_every_algorithm_runs():
    prob = LINEAR.problem("julia")
    for alg in bridge.ALGORITHMS:
        sol = bridge.solve(prob, alg, saveat=1.0, backend="julia", **TIGHT)
        assert sol.success, (alg, sol.retcode)
        np.testing.assert_array_equal(sol.t, [0.0, 1.0, 2.0])
