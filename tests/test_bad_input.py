"""A catalogue of bad inputs across the public API.

Each case asserts the exception type and that the message names the argument and the
offending value or shape. Everything here is refused before any solving starts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bridge
import bridge._validate


def decay(u, p, t):
    return -p[0] * u


def good_problem(**kw: Any) -> bridge.ODEProblem:
    args: dict[str, Any] = {"f": decay, "u0": [1.0], "tspan": (0.0, 1.0), "p": [0.5]}
    args.update(kw)
    return bridge.ODEProblem(**args)


def solve_ref(**kw: Any) -> Any:
    prob = kw.pop("prob", None) or good_problem()
    return bridge.solve(prob, kw.pop("alg", "Tsit5"), backend="reference", **kw)


# (id, callable, exception type, regex the message must match)
CASES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- problem construction: u0
    (
        "u0-2d",
        lambda: good_problem(u0=np.ones((2, 2))),
        ValueError,
        r"u0 must be a 1-D array, got shape \(2, 2\)",
    ),
    ("u0-string", lambda: good_problem(u0="1.0"), TypeError, r"u0 .*string '1.0'"),
    ("u0-empty", lambda: good_problem(u0=[]), ValueError, r"u0 must not be empty, got \[\]"),
    ("u0-complex", lambda: good_problem(u0=[1 + 2j]), TypeError, r"u0 is complex \(complex128\)"),
    (
        "u0-bool",
        lambda: good_problem(u0=[True]),
        TypeError,
        r"u0 must hold real numbers, got dtype bool",
    ),
    (
        "u0-object",
        lambda: good_problem(u0=[object()]),
        TypeError,
        r"u0 must hold real numbers.*object",
    ),
    (
        "u0-nan",
        lambda: good_problem(u0=[1.0, np.nan]),
        ValueError,
        r"u0 must be finite, but entry 1 is nan",
    ),
    (
        "u0-inf",
        lambda: good_problem(u0=[np.inf]),
        ValueError,
        r"u0 must be finite, but entry 0 is inf",
    ),
    (
        "u0-scalar",
        lambda: good_problem(u0=1.0),
        ValueError,
        r"u0 must be a 1-D array, got the scalar 1.0",
    ),
    (
        "u0-ragged",
        lambda: good_problem(u0=[[1.0], [1.0, 2.0]]),
        ValueError,
        r"u0 could not be read",
    ),
    # --- parameters
    (
        "p-nan",
        lambda: good_problem(p=[np.nan]),
        ValueError,
        r"p must be finite, but entry 0 is nan",
    ),
    (
        "p-2d",
        lambda: good_problem(p=np.ones((2, 2))),
        ValueError,
        r"p must be a 1-D array, got shape \(2, 2\)",
    ),
    ("p-string", lambda: good_problem(p="abc"), TypeError, r"p must be an array .* string 'abc'"),
    (
        "p-dict-key",
        lambda: good_problem(p={1: [1.0]}),
        TypeError,
        r"p: parameter names must be strings, got 1",
    ),
    (
        "p-dict-inf",
        lambda: good_problem(p={"W": [1.0, np.inf]}),
        ValueError,
        r"p\['W'\] must be finite, but entry 1 is inf",
    ),
    ("p-complex", lambda: good_problem(p=[1j]), TypeError, r"p is complex"),
    # --- tspan
    (
        "tspan-3",
        lambda: good_problem(tspan=(0, 1, 2)),
        ValueError,
        r"tspan must have 2 entries \(t0, t1\), got 3: \(0, 1, 2\)",
    ),
    (
        "tspan-equal",
        lambda: good_problem(tspan=(1.0, 1.0)),
        ValueError,
        r"tspan must have distinct ends, got \(1.0, 1.0\)",
    ),
    (
        "tspan-string",
        lambda: good_problem(tspan="0,1"),
        TypeError,
        r"tspan must be a pair \(t0, t1\), got '0,1'",
    ),
    (
        "tspan-scalar",
        lambda: good_problem(tspan=5.0),
        TypeError,
        r"tspan must be a pair \(t0, t1\), got 5.0",
    ),
    (
        "tspan-set",
        lambda: good_problem(tspan={0.0, 1.0}),
        TypeError,
        r"tspan must be an ordered pair \(t0, t1\) such as a tuple, got the set \{0.0, 1.0\}, "
        r"which has no order",
    ),
    (
        "tspan-dict",
        lambda: good_problem(tspan={"t0": 0.0, "t1": 1.0}),
        TypeError,
        r"tspan must be an ordered pair .* got the mapping",
    ),
    (
        "tspan-2d",
        lambda: good_problem(tspan=np.zeros((2, 2))),
        ValueError,
        r"tspan must be a pair \(t0, t1\), got shape \(2, 2\)",
    ),
    (
        "tspan-nan",
        lambda: good_problem(tspan=(0.0, np.nan)),
        ValueError,
        r"tspan\[1\] must be finite, got nan",
    ),
    (
        "tspan-complex",
        lambda: good_problem(tspan=(0.0, 1j)),
        TypeError,
        r"tspan\[1\] must be a real number, got 1j",
    ),
    # --- the right-hand side itself
    (
        "f-not-callable",
        lambda: good_problem(f=42),
        TypeError,
        r"f must be a callable f\(u, p, t\) or a bridge.JuliaFunction, got int",
    ),
    (
        "trace-not-bool",
        lambda: good_problem(trace="yes"),
        TypeError,
        r"trace must be True or False, got 'yes'",
    ),
    (
        "juliafunction-empty",
        lambda: bridge.JuliaFunction(""),
        TypeError,
        r"JuliaFunction source must be a non-empty string",
    ),
    (
        "remake-u0-length",
        lambda: good_problem().remake(u0=[1.0, 2.0]),
        ValueError,
        r"u0 has length 2, but the problem has 1 states",
    ),
    # --- solve arguments
    (
        "prob-type",
        lambda: bridge.solve("problem"),
        TypeError,
        r"prob must be a bridge.ODEProblem.*, got str",
    ),
    (
        "alg-unknown",
        lambda: solve_ref(alg="RK4000"),
        ValueError,
        r"alg='RK4000' is not a known algorithm; valid names \(DifferentialEquations.jl's\): "
        r"auto, Tsit5",
    ),
    (
        "alg-wrong-case",
        lambda: solve_ref(alg="tsit5"),
        ValueError,
        r"alg='tsit5' is not a known algorithm; did you mean alg='Tsit5'\?",
    ),
    (
        "alg-close",
        lambda: solve_ref(alg="Rodas5"),
        ValueError,
        r"alg='Rodas5' is not a known algorithm; did you mean alg='Rodas5P'\?",
    ),
    (
        "alg-scipy-rk45",
        lambda: solve_ref(alg="RK45"),
        ValueError,
        r"alg='RK45' is not a known algorithm; scipy's RK45 is alg='DP5' here",
    ),
    (
        "alg-scipy-lsoda",
        lambda: solve_ref(alg="LSODA"),
        ValueError,
        r"scipy's LSODA is alg='auto' here",
    ),
    (
        "alg-scipy-radau",
        lambda: solve_ref(alg="Radau"),
        ValueError,
        r"scipy's Radau is alg='RadauIIA5' here",
    ),
    (
        "alg-scipy-bdf",
        lambda: solve_ref(alg="BDF"),
        ValueError,
        r"scipy's BDF is alg='FBDF' here",
    ),
    (
        "alg-type",
        lambda: solve_ref(alg=None),
        TypeError,
        r"alg must be an algorithm name .* got None",
    ),
    (
        "saveat-descending",
        lambda: solve_ref(saveat=[0.5, 0.2]),
        ValueError,
        r"saveat must be strictly increasing, but saveat\[0\] = 0.5 and saveat\[1\] = 0.2",
    ),
    (
        "saveat-outside",
        lambda: solve_ref(saveat=[0.5, 2.0]),
        ValueError,
        r"saveat must lie inside tspan \(0.0, 1.0\), but saveat\[1\] = 2.0",
    ),
    (
        "saveat-step-negative",
        lambda: solve_ref(saveat=-0.1),
        ValueError,
        r"saveat as a step must be positive, got -0.1",
    ),
    (
        "saveat-nan",
        lambda: solve_ref(saveat=[0.1, np.nan]),
        ValueError,
        r"saveat must be finite, but entry 1 is nan",
    ),
    ("reltol-zero", lambda: solve_ref(reltol=0), ValueError, r"reltol must be positive, got 0.0"),
    (
        "abstol-negative",
        lambda: solve_ref(abstol=-1e-6),
        ValueError,
        r"abstol must be non-negative, got -1e-06",
    ),
    (
        "reltol-string",
        lambda: solve_ref(reltol="1e-3"),
        TypeError,
        r"reltol must be a real number, got '1e-3'",
    ),
    (
        "maxiters-zero",
        lambda: solve_ref(maxiters=0),
        ValueError,
        r"maxiters must be a positive integer, got 0",
    ),
    (
        "maxiters-float",
        lambda: solve_ref(maxiters=10.5),
        TypeError,
        r"maxiters must be a positive integer, got 10.5",
    ),
    (
        "maxiters-bool",
        lambda: solve_ref(maxiters=True),
        TypeError,
        r"maxiters must be a positive integer, got True",
    ),
    (
        "reltol-array",
        lambda: solve_ref(reltol=np.array([1e-6])),
        TypeError,
        r"reltol must be a real number, got array\(\[1.e-06\]\)",
    ),
    (
        "reltol-bool-0d",
        lambda: solve_ref(reltol=np.array(True)),
        TypeError,
        r"reltol must be a real number, got True",
    ),
    # --- a problem's inputs are read-only (it owns copies): assignment points at remake
    (
        "assign-p",
        lambda: setattr(good_problem(), "p", [2.0]),
        AttributeError,
        r"ODEProblem.p cannot be assigned \(got p=\[2.0\]\).*prob.remake\(p=...\)",
    ),
    (
        "assign-u0",
        lambda: setattr(good_problem(), "u0", [2.0]),
        AttributeError,
        r"ODEProblem.u0 cannot be assigned.*prob.remake\(u0=...\)",
    ),
    (
        "assign-tspan",
        lambda: setattr(good_problem(), "tspan", (0.0, 2.0)),
        AttributeError,
        r"ODEProblem.tspan cannot be assigned.*prob.remake\(tspan=...\)",
    ),
    (
        "unknown-keyword",
        lambda: solve_ref(rtol=1e-3),
        TypeError,
        r"unexpected keyword argument 'rtol'",
    ),
    (
        "backend-unknown",
        lambda: bridge.solve(good_problem(), backend="gpu"),
        ValueError,
        r"unknown backend 'gpu'.*valid backends: 'auto', 'julia', 'diffsol', 'reference'",
    ),
    (
        "sensealg-unknown",
        lambda: bridge.vjp(good_problem(), sensealg="Magic", backend="reference"),
        ValueError,
        r"sensealg='Magic' is not a known sensitivity method; valid names: auto",
    ),
    (
        "vjp-unknown-keyword",
        lambda: bridge.vjp(good_problem(), sense="GaussAdjoint"),
        TypeError,
        r"unexpected keyword argument 'sense'",
    ),
]


# --- tracing and pullback errors (added for issue 9). A bad right-hand side is found when
# the problem is first traced, which may be at construction or at the first solve, so each
# case builds and solves.


def short_rhs(u, p, t):
    return [-u[0]]  # one entry for two states


def none_rhs(u, p, t):
    -u  # noqa: B018 (the classic bug: no return)


def string_rhs(u, p, t):
    return [-u[0], "fast"]


def complex_rhs(u, p, t):
    return u * 1j


def _build_and_solve(f: Any, u0: Any = (1.0, 2.0), trace: bool = True) -> Any:
    prob = bridge.ODEProblem(f, list(u0), (0.0, 1.0), [0.5], trace=trace)
    return bridge.solve(prob, "Tsit5", backend="reference")


def _all_of(*patterns: str) -> str:
    """A regex matching text that contains every one of ``patterns`` (in any order)."""
    return "".join(f"(?=(?s:.*){p})" for p in patterns)


def _pullback() -> Callable[[Any], Any]:
    """A pullback of a good solve whose sol.u has shape (3, 1)."""
    _, pullback = bridge.vjp(good_problem(), "Tsit5", saveat=[0.0, 0.5, 1.0], backend="reference")
    return pullback


_ONE = r"(\(1,\)|length 1\b|\b1 (value|entr|element|component|output|item))"
_TWO = r"(\(2,\)|\b2 states|length 2\b|\b2\b)"

CASES += [
    (
        "rhs-wrong-length-traced",
        lambda: _build_and_solve(short_rhs),
        bridge.BridgeError,
        _all_of("short_rhs", _ONE, _TWO),
    ),
    (
        "rhs-wrong-length-opaque",
        lambda: _build_and_solve(short_rhs, trace=False),
        ValueError,
        r"right-hand side 'short_rhs' returned shape \(1,\), but u0 has 2 states",
    ),
    (
        "rhs-returns-none-traced",
        lambda: _build_and_solve(none_rhs),
        bridge.BridgeError,
        _all_of("none_rhs", "None"),
    ),
    (
        "rhs-returns-none-opaque",
        lambda: _build_and_solve(none_rhs, trace=False),
        bridge.BridgeError,
        _all_of("none_rhs", "None"),
    ),
    (
        "rhs-non-numeric-traced",
        lambda: _build_and_solve(string_rhs),
        bridge.BridgeError,
        _all_of("string_rhs", "(str|'fast')"),
    ),
    (
        "rhs-non-numeric-opaque",
        lambda: _build_and_solve(string_rhs, trace=False),
        TypeError,
        _all_of("string_rhs", "not a numeric array", "'fast'"),
    ),
    (
        "rhs-complex-traced",
        lambda: _build_and_solve(complex_rhs),
        bridge.BridgeError,
        _all_of("complex_rhs", "[Cc]omplex"),
    ),
    (
        # NumPy would silently drop the imaginary part (a ComplexWarning at most).
        "rhs-complex-opaque",
        lambda: _build_and_solve(complex_rhs, trace=False),
        TypeError,
        _all_of("complex_rhs", "[Cc]omplex"),
    ),
    (
        "cotangent-wrong-shape",
        lambda: _pullback()(np.ones((3, 2))),
        ValueError,
        r"cotangent must have the shape of sol.u \(3, 1\), got \(3, 2\)",
    ),
    (
        "cotangent-transposed",
        lambda: _pullback()(np.ones((1, 3))),
        ValueError,
        r"cotangent must have the shape of sol.u \(3, 1\), got \(1, 3\)",
    ),
    (
        "cotangent-flat",
        lambda: _pullback()(np.ones(3)),
        ValueError,
        r"cotangent must have the shape of sol.u \(3, 1\), got \(3,\)",
    ),
    (
        "cotangent-complex",
        lambda: _pullback()(np.ones((3, 1), dtype=complex)),
        TypeError,
        r"cotangent must hold real numbers like sol.u, got dtype complex128",
    ),
    (
        "cotangent-string",
        lambda: _pullback()([["a"], ["b"], ["c"]]),
        TypeError,
        r"cotangent must hold real numbers like sol.u, got dtype <U1",
    ),
    (
        "cotangent-bool",
        lambda: _pullback()(np.ones((3, 1), dtype=bool)),
        TypeError,
        r"cotangent must hold real numbers like sol.u, got dtype bool",
    ),
    (
        "cotangent-nan",
        lambda: _pullback()(np.array([[1.0], [np.nan], [0.0]])),
        ValueError,
        r"cotangent must be finite",
    ),
]


@pytest.mark.parametrize(
    ("make", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_clearly(make, exc, pattern):
    with pytest.raises(exc) as info:
        make()
    assert isinstance(info.value, bridge.BridgeError) or exc is TypeError
    assert re.search(pattern, str(info.value)), f"message was: {info.value}"


def test_catalogue_is_large_and_distinct():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


def test_integer_u0_is_cast_once_to_float64():
    prob = good_problem(u0=np.array([1, 2, 3]), f=lambda u, p, t: -u)
    assert prob.u0.dtype == np.float64 and prob.u0.tolist() == [1.0, 2.0, 3.0]


def test_the_problem_owns_read_only_copies_of_its_inputs():
    u0, p = np.array([1.0, 2.0]), np.array([0.5])
    prob = good_problem(u0=u0, p=p, f=lambda u, p, t: -p[0] * u)
    assert not np.shares_memory(prob.u0, u0) and not np.shares_memory(prob.p, p)
    u0[0] = p[0] = 99.0  # the caller's arrays are theirs to change
    assert prob.u0.tolist() == [1.0, 2.0] and prob.p.tolist() == [0.5]
    with pytest.raises(ValueError, match="read-only"):
        prob.p[0] = 3.0
    new = prob.remake(p=[2.0])
    assert new.p.tolist() == [2.0] and not new.p.flags.writeable
    assert prob.p.tolist() == [0.5]


def test_saveat_is_copied_when_a_solve_starts():
    ts = np.array([0.0, 0.5, 1.0])
    opts = bridge._validate.check_options((0.0, 1.0), ts, 1e-6, 1e-8, 100)
    assert opts.saveat is not None and not np.shares_memory(opts.saveat, ts)
    assert not opts.saveat.flags.writeable


# --- real scalars in any form (issue 13): 0-d arrays, NumPy, torch and JAX scalars


def _scalar_forms(value: float) -> list[Any]:
    forms: list[Any] = [value, np.float64(value), np.float32(value), np.array(value)]
    if float(value).is_integer():
        forms += [int(value), np.int64(int(value)), np.array(int(value))]
    return forms


@pytest.mark.parametrize("form", range(4))
def test_real_scalars_in_numpy_forms_are_accepted(form):
    t1, step, rtol = (_scalar_forms(x)[form] for x in (1.0, 0.5, 1e-8))
    prob = good_problem(tspan=(_scalar_forms(0.0)[form], t1))
    sol = bridge.solve(
        prob,
        "Tsit5",
        saveat=step,
        reltol=rtol,
        abstol=rtol,
        maxiters=np.int64(1000),
        backend="reference",
    )
    np.testing.assert_allclose(sol.t, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(sol.u[-1, 0], np.exp(-0.5), rtol=1e-6)


def test_maxiters_accepts_integral_floats_and_0d_arrays():
    for maxiters in (1e6, np.array(1000), np.float64(1e3)):
        assert solve_ref(maxiters=maxiters).retcode == "Success"


def _solve_with_tensor_scalars(make: Callable[[float], Any]) -> Any:
    prob = good_problem(tspan=(make(0.0), make(1.0)))
    return bridge.solve(
        prob,
        "Tsit5",
        saveat=make(0.5),
        reltol=make(1e-8),
        abstol=make(1e-10),
        backend="reference",
    )


def test_torch_scalars_are_accepted():
    torch = pytest.importorskip("torch")
    sol = _solve_with_tensor_scalars(lambda x: torch.tensor(x, dtype=torch.float64))
    np.testing.assert_allclose(sol.t, [0.0, 0.5, 1.0])
    # a scalar that requires grad (a parameter of a model) works too: its value is used
    sol = _solve_with_tensor_scalars(lambda x: torch.tensor(x, requires_grad=True))
    np.testing.assert_allclose(sol.u[-1, 0], np.exp(-0.5), rtol=1e-6)
    tspan_tensor = good_problem(tspan=torch.tensor([0.0, 2.0]))
    assert tspan_tensor.tspan == (0.0, 2.0)
    with pytest.raises(TypeError, match="reltol must be a real number"):
        solve_ref(reltol=torch.tensor(True))


def test_jax_scalars_are_accepted():
    jnp = pytest.importorskip("jax.numpy")
    sol = _solve_with_tensor_scalars(lambda x: jnp.asarray(x))
    np.testing.assert_allclose(sol.t, [0.0, 0.5, 1.0])
    assert good_problem(tspan=jnp.array([0.0, 2.0])).tspan == (0.0, 2.0)


def test_reltol_below_float64_is_clamped_with_a_warning():
    with pytest.warns(bridge.BridgeWarning, match=r"reltol=1e-16 is below what float64") as w:
        sol = solve_ref(reltol=1e-16, abstol=1e-16)
    assert w[0].filename == __file__, "the warning points at the caller's line"
    assert sol.retcode == "Success"
    assert "using reltol=2.2e-14" in str(w[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bridge.BridgeWarning)
        solve_ref(reltol=1e-12)  # reachable: no warning


def test_scipy_names_map_to_the_algorithm_running_that_scipy_method():
    from bridge._algorithms import ALGORITHMS, SCIPY_NAMES
    from bridge._reference.methods import scipy_method

    for scipy_name, (name, _) in SCIPY_NAMES.items():
        assert scipy_method(ALGORITHMS[name]) == scipy_name


# --- a right-hand side that raises: the user's own exception surfaces, with its traceback.


class UserBug(Exception):
    pass


def _helper_that_fails(x):
    raise UserBug(f"bad value {x!r} in the user's helper")


def raising_rhs(u, p, t):
    return [_helper_that_fails(1)]


def raises_late_rhs(u, p, t):
    if t > 0.5:
        raise UserBug("late failure at t > 0.5")
    return -u


def _frames(exc: BaseException) -> list[str]:
    import traceback

    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


@pytest.mark.parametrize("trace", [True, False], ids=["traced", "opaque"])
@pytest.mark.parametrize("entry", ["solve", "vjp"])
def test_rhs_exception_surfaces_with_its_own_traceback(entry, trace):
    if entry == "vjp" and not trace:
        pytest.skip("trace=False has no gradients (its own error, tested elsewhere)")
    prob = bridge.ODEProblem(raising_rhs, [1.0], (0.0, 1.0), trace=trace)
    call = bridge.solve if entry == "solve" else bridge.vjp
    with pytest.raises(UserBug) as info:
        call(prob, "Tsit5", backend="reference")
    assert type(info.value) is UserBug, "the user's exception, not a wrapper"
    assert str(info.value) == "bad value 1 in the user's helper"
    frames = _frames(info.value)
    assert "raising_rhs" in frames and frames[-1] == "_helper_that_fails", frames


def test_rhs_exception_mid_solve_is_not_turned_into_a_retcode():
    # A bug in the user's function is not solver trouble: no Solution, no retcode.
    prob = bridge.ODEProblem(raises_late_rhs, [1.0], (0.0, 1.0), trace=False)
    with pytest.raises(UserBug, match="late failure") as info:
        bridge.solve(prob, "Tsit5", backend="reference")
    assert _frames(info.value)[-1] == "raises_late_rhs"
    # ... and the problem is still usable on a span where f does not raise.
    sol = bridge.solve(prob.remake(tspan=(0.0, 0.4)), "Tsit5", backend="reference")
    assert sol.retcode == "Success"


def test_integer_cotangent_is_cast_and_gives_the_float_answer():
    pullback = _pullback()
    g_int = pullback(np.ones((3, 1), dtype=np.int64))
    g_float = pullback(np.ones((3, 1)))
    assert g_int.u0.dtype == np.float64
    np.testing.assert_array_equal(g_int.u0, g_float.u0)
    np.testing.assert_array_equal(g_int.p, g_float.p)


def test_bad_cotangent_leaves_the_pullback_usable():
    pullback = _pullback()
    with pytest.raises(ValueError):
        pullback(np.ones((2, 1)))
    g = pullback(np.ones((3, 1)))
    assert np.all(np.isfinite(g.u0)) and np.all(np.isfinite(g.p))
