"""Fuzzing tracing + solving with random right-hand sides (hypothesis).

Right-hand sides are drawn from a small grammar over ``u[i]``, ``p[j]`` and ``t`` with
``+ - *``, squares, a division by a denominator bounded away from zero, ``np.sin``,
``np.cos``, ``np.tanh`` and ``np.exp`` of a bounded argument. Each is written out as Python
source (so a failing example prints readably) and compiled into a plain function.

For every example, tracing + solving on the reference backend either

* succeeds and agrees with SciPy's ``solve_ivp`` run on the plain Python function, at the
  save points, within a bound derived from the tolerances; or
* returns a non-success retcode (solver trouble is data); or
* raises a ``bridge.BridgeError``;

and never lets an exception from inside SciPy, SymPy or NumPy escape unhandled.

Bounded for CI: few examples, short spans, tight tolerances so comparisons are meaningful.
Under ``CI`` the examples are derandomized (reproducible); locally they vary run to run.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

import bridge

RELTOL, ABSTOL = 1e-8, 1e-10
#: Global error of an adaptive solve is the local tolerance times an amplification that,
#: over spans ≤ 1.5 with |f'| of order 10, stays far below this factor; the oracle is run
#: 100x tighter so its own error does not count.
AMPLIFICATION = 1e3
#: Beyond this size the problem is near a blow-up and agreement says little; then only
#: "no unhandled exception" is checked.
HUGE = 1e4

ALGS = ["Tsit5", "auto", "Rodas5P", "FBDF"]

FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


def expressions(n: int, m: int) -> st.SearchStrategy[str]:
    """Python source of a scalar expression over u[0..n-1], p[0..m-1], t."""
    leaves = [st.sampled_from([f"u[{i}]" for i in range(n)])]
    if m:
        leaves.append(st.sampled_from([f"p[{j}]" for j in range(m)]))
    leaves.append(st.just("t"))
    leaves.append(st.floats(-2.0, 2.0, allow_nan=False).map(lambda c: repr(round(c, 3))))
    leaf = st.one_of(*leaves)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.tuples(
            st.sampled_from(
                [
                    "np.sin({})",
                    "np.cos({})",
                    "np.tanh({})",
                    "np.exp(np.sin({}))",
                    "np.exp(-np.tanh({}))",
                    "({}) ** 2",
                    "-({})",
                ]
            ),
            inner,
        ).map(lambda pair: pair[0].format(pair[1]))
        binary = st.tuples(
            st.sampled_from(["({} + {})", "({} - {})", "({} * {})", "({} / (1.5 + np.sin({})))"]),
            inner,
            inner,
        ).map(lambda tpl: tpl[0].format(tpl[1], tpl[2]))
        return st.one_of(unary, binary)

    return st.recursive(leaf, extend, max_leaves=6)


@st.composite
def problems(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 3))
    m = draw(st.integers(0, 2))
    exprs = [draw(expressions(n, m)) for _ in range(n)]
    src = "lambda u, p, t: [" + ", ".join(exprs) + "]"
    coord = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
    u0 = [draw(coord) for _ in range(n)]
    p = [draw(coord) for _ in range(m)]
    t0 = draw(st.floats(-1.0, 1.0))
    length = draw(st.floats(0.1, 1.5))
    sign = draw(st.sampled_from([1.0, -1.0]))
    return {
        "src": src,
        "u0": u0,
        "p": p,
        "tspan": (t0, t0 + sign * length),
        "alg": draw(st.sampled_from(ALGS)),
    }


def compile_rhs(src: str):
    f = eval(src, {"np": np})  # the grammar only produces arithmetic on u, p, t
    f.__name__ = "fuzz_rhs"
    return f


def oracle(f, u0, p, tspan, saveat):
    """SciPy on the plain Python function; None when it fails or the solution is huge."""
    p_arr = np.asarray(p, dtype=float)
    with np.errstate(all="ignore"):
        res = solve_ivp(
            lambda t, y: np.asarray(f(y, p_arr, t), dtype=float),
            tspan,
            np.asarray(u0, dtype=float),
            method="DOP853",
            t_eval=saveat,
            rtol=RELTOL / 100,
            atol=ABSTOL / 100,
        )
    if res.status != 0 or not np.all(np.isfinite(res.y)) or np.abs(res.y).max() > HUGE:
        return None
    return res.y.T


def check_example(case: dict) -> str:
    """Run one example; return how it ended (for the test's bookkeeping)."""
    f = compile_rhs(case["src"])
    saveat = np.linspace(*case["tspan"], 5)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", bridge.SolverWarning)
            prob = bridge.ODEProblem(f, case["u0"], case["tspan"], case["p"])
            sol = bridge.solve(
                prob,
                case["alg"],
                saveat=saveat,
                reltol=RELTOL,
                abstol=ABSTOL,
                backend="reference",
            )
    except bridge.BridgeError:
        return "bridge-error"
    if not sol.success:
        assert sol.retcode != "Success"
        assert sol.u.shape[1] == len(case["u0"])
        return "retcode"
    assert sol.u.shape == (5, len(case["u0"])) and sol.u.dtype == np.float64
    np.testing.assert_array_equal(sol.t, saveat)
    ref = oracle(f, case["u0"], case["p"], case["tspan"], saveat)
    if ref is None:
        return "unchecked"
    bound = AMPLIFICATION * (RELTOL * np.abs(ref) + ABSTOL)
    err = np.abs(sol.u - ref)
    assert np.all(err <= bound), (
        f"{case}: max error {err.max():.3g} vs bound {bound[err > bound].min():.3g}\n"
        f"bridge:\n{sol.u}\nscipy:\n{ref}"
    )
    return "agreed"


@FUZZ_SETTINGS
@given(case=problems())
def test_traced_solve_agrees_with_scipy_or_fails_cleanly(case):
    event(check_example(case))  # outcome counts show with --hypothesis-show-statistics


def test_every_grammar_construct_traces_and_agrees():
    # The fuzz test accepts a BridgeError; this pins that the grammar itself is supported
    # (each construct once), so the fuzz is not passing on "everything is refused".
    src = (
        "lambda u, p, t: [np.sin(u[0]) * p[0] + np.cos(t) - u[1] ** 2, "
        "np.tanh(u[1] - p[1]) + np.exp(np.sin(u[0] * t)) / (1.5 + np.sin(u[1])), "
        "-(u[2]) + np.exp(-np.tanh(p[0] * u[0])) - 0.5]"
    )
    for alg in ALGS:
        case = {
            "src": src,
            "u0": [0.3, -0.7, 1.1],
            "p": [1.2, -0.4],
            "tspan": (0.0, 1.5),
            "alg": alg,
        }
        assert check_example(case) == "agreed", alg


def test_reverse_time_and_parameter_free_problems_agree():
    cases = [
        {"src": "lambda u, p, t: [u[0] * np.cos(t)]", "u0": [1.0], "p": [], "tspan": (1.0, -0.5)},
        {"src": "lambda u, p, t: [0.5, t]", "u0": [0.0, 1.0], "p": [], "tspan": (0.0, 1.0)},
    ]
    for case in cases:
        assert check_example({**case, "alg": "Tsit5"}) == "agreed", case


@pytest.mark.parametrize(
    "src",
    [
        # Each hits a different edge of the grammar: constant output, t-only output,
        # an expression that does not use u at all.
        "lambda u, p, t: [1.0]",
        "lambda u, p, t: [t]",
        "lambda u, p, t: [p[0] * 2.0]",
    ],
)
def test_rhs_not_depending_on_u(src):
    case = {"src": src, "u0": [0.25], "p": [0.5], "tspan": (0.0, 1.0), "alg": "Rodas5P"}
    assert check_example(case) == "agreed"


def fd_gradient(f, u0, p, tspan, saveat, cotangent, h=1e-6):
    """Central differences of sum(cotangent * u(saveat)) with SciPy on the plain function."""
    theta = np.concatenate([u0, p]).astype(float)
    n = len(u0)

    def loss(th):
        ref = oracle(f, th[:n], th[n:], tspan, saveat)
        return None if ref is None else float(np.sum(cotangent * ref))

    grad = np.empty_like(theta)
    for k in range(len(theta)):
        step = h * max(1.0, abs(theta[k]))
        hi, lo = theta.copy(), theta.copy()
        hi[k] += step
        lo[k] -= step
        a, b = loss(hi), loss(lo)
        if a is None or b is None:
            return None
        grad[k] = (a - b) / (2 * step)
    return grad


@settings(
    max_examples=20,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
@given(
    case=problems(),
    sensealg=st.sampled_from(["ForwardDiffSensitivity", "InterpolatingAdjoint"]),
    seed=st.integers(0, 2**16),
)
def test_traced_gradients_agree_with_finite_differences(case, sensealg, seed):
    # The generated Jacobians and VJPs are what the gradients are made of; random
    # right-hand sides exercise the derivative code generation far beyond hand-picked ones.
    f = compile_rhs(case["src"])
    saveat = np.linspace(*case["tspan"], 3)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", bridge.SolverWarning)
            prob = bridge.ODEProblem(f, case["u0"], case["tspan"], case["p"])
            sol, pullback = bridge.vjp(
                prob,
                case["alg"],
                saveat=saveat,
                sensealg=sensealg,
                reltol=RELTOL,
                abstol=ABSTOL,
                backend="reference",
            )
            cot = np.random.default_rng(seed).standard_normal(sol.u.shape)
            g = pullback(cot)
    except bridge.BridgeError:
        event("bridge-error")
        return
    assert g.u0.shape == (len(case["u0"]),) and g.p.shape == (len(case["p"]),)
    fd = fd_gradient(f, case["u0"], case["p"], case["tspan"], saveat, cot)
    if fd is None or np.abs(sol.u).max() > HUGE:
        event("unchecked")
        return
    got = np.concatenate([g.u0, g.p])
    # FD error ~ oracle tol / h + h² ~ 1e-6; the solves' own error ~ AMPLIFICATION * tol.
    bound = 1e-4 * (1.0 + np.abs(fd)) * max(1.0, float(np.abs(cot).sum()))
    assert np.all(np.abs(got - fd) <= bound), f"{case} {sensealg}:\nbridge {got}\nfd     {fd}"
    event("agreed")
