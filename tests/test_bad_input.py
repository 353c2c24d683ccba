"""A catalogue of bad inputs across the public API.

Each case asserts the exception type and that the message names the argument and the
offending value or shape. Everything here is refused before any solving starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bridge


def decay(u, p, t):
    return -p[0] * u


def lv(u, p, t):
    x, y = u
    a, b, c, d = p
    return [a * x - b * x * y, -c * y + d * x * y]


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
        r"prob must be a bridge.ODEProblem, got str",
    ),
    (
        "alg-unknown",
        lambda: solve_ref(alg="RK4000"),
        ValueError,
        r"alg='RK4000' is not a known algorithm; valid names: auto, Tsit5",
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
        "unknown-keyword",
        lambda: solve_ref(rtol=1e-3),
        TypeError,
        r"unexpected keyword argument 'rtol'",
    ),
    (
        "backend-unknown",
        lambda: bridge.solve(good_problem(), backend="gpu"),
        ValueError,
        r"unknown backend 'gpu'.*valid backends: 'auto', 'julia', 'reference'",
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


def test_float64_contiguous_u0_is_not_copied():
    u0 = np.array([1.0, 2.0])
    assert good_problem(u0=u0, f=lambda u, p, t: -u).u0 is u0
