"""Generated DiffSL: golden files, compiled models against the traced model, the switch
constructions against NumPy (NaN and infinities included), and what cannot be printed.

``pytest --update-golden tests/test_diffsol_codegen.py`` rewrites tests/golden/*.ds from the
current printer; review the diff before committing it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import bridge
from bridge._errors import TraceError
from bridge._problem import _flatten_params
from bridge._trace import trace_model
from bridge._trace.diffsl_codegen import DiffslPrinter, diffsl_source
from bridge._trace.functions import Clip, Maximum, Minimum, Sign, expm1, log1p

from .models import FEATURE_MODELS, MODELS

GOLDEN_DIR = Path(__file__).parent / "golden"
ALL = {**MODELS, **FEATURE_MODELS}
#: Every catalogue model but ``stacked``, which uses np.arctan (no DiffSL spelling).
GOLDEN = [name for name in ALL if name != "stacked"]


def _needs_pydiffsol() -> None:
    from bridge._diffsol import availability

    reason = availability()
    if reason is not None:
        pytest.skip(f"needs pydiffsol: {reason}")


def traced(name: str):
    f, u0, p, _ = ALL[name]
    flat, spec = _flatten_params(p)
    return trace_model(f, len(u0), len(flat), spec, name=name), np.asarray(u0), flat


@pytest.mark.parametrize("name", GOLDEN)
def test_diffsl_matches_golden(name: str, update_golden: bool) -> None:
    path = GOLDEN_DIR / f"{name}.ds"
    source = diffsl_source(traced(name)[0])
    if update_golden:
        path.write_text(source)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert source == path.read_text(), f"{path.name} differs: review, then --update-golden"


@pytest.mark.parametrize("name", GOLDEN)
@pytest.mark.parametrize("reflected", [False, True], ids=["forward", "reflected"])
def test_compiled_golden_computes_the_traced_model(name: str, reflected: bool) -> None:
    """diffsol's rhs of the compiled source equals the traced model's f (and -f(-t) reflected),
    and its initial state is the u0 inputs."""
    _needs_pydiffsol()
    from bridge._diffsol.compiled import compiled

    model, u0, p = traced(name)
    ode = compiled(diffsl_source(model, reflected=reflected)).ode
    rng = np.random.default_rng(7)
    params = np.concatenate([p, u0])
    np.testing.assert_array_equal(ode.y0(params), u0)
    for _ in range(5):
        u = u0 + 0.5 * rng.standard_normal(len(u0))
        t = float(rng.uniform(0.0, 3.0))
        want = model.f_generated(u, p, t)
        got = ode.rhs(params, -t if reflected else t, u)
        np.testing.assert_allclose(-got if reflected else got, want, rtol=1e-13, atol=1e-13)


def test_lotka_volterra_source_reads_as_documented() -> None:
    source = (GOLDEN_DIR / "lotka_volterra.ds").read_text()
    assert "in_i { p0 = 0, p1 = 0, p2 = 0, p3 = 0, ic0 = 0, ic1 = 0 }" in source
    assert "u_i { x0 = ic0, x1 = ic1 }" in source
    assert "p0*x0 - p1*x0*x1," in source


def test_time_dependence_uses_diffsl_t_and_reflection_negates_it() -> None:
    model = traced("forced_oscillator")[0]
    assert "w1 { cos(t) }" in diffsl_source(model)
    reflected = diffsl_source(model, reflected=True)
    assert "w1 { cos((-t)) }" in reflected and "F_i {\n  -(x1),\n" in reflected


def test_prob_source_returns_diffsl() -> None:
    prob = bridge.ODEProblem(MODELS["lotka_volterra"].f, [1.0, 1.0], (0.0, 1.0), [1, 2, 3, 4])
    if not hasattr(prob, "source"):
        pytest.skip("ODEProblem.source is the trace helper's (not merged yet)")
    assert prob.source("diffsl") == (GOLDEN_DIR / "lotka_volterra.ds").read_text()


# -- what cannot be printed -------------------------------------------------------------------
def test_arctan_is_refused_naming_the_numpy_function() -> None:
    with pytest.raises(TraceError, match=r"np\.arctan.*DiffSL.*has no such operation"):
        diffsl_source(traced("stacked")[0])


def test_array_models_are_refused_with_the_reason() -> None:
    def mlp(u, p, t):
        return p[:64].reshape(2, 32) @ np.tanh(p[64:128].reshape(32, 2) @ u)

    model = trace_model(mlp, 2, 128, None, name="mlp")
    if type(model).__name__ != "ArrayModel":
        pytest.skip("the array tracer did not take this model")
    with pytest.raises(TraceError, match="whole-array operations"):
        diffsl_source(model)


def test_model_name_cannot_reach_the_source_outside_a_comment() -> None:
    def f(u, p, t):
        return [-u[0]]

    model = trace_model(f, 1, 0, None, name="evil\n} F_i { 1 }")
    source = diffsl_source(model)
    code = [line for line in source.splitlines() if not line.startswith("//")]
    assert [line for line in code if line.startswith("F_i")] == ["F_i { -x0 }"]
    assert all(line.startswith("//") for line in source.splitlines() if "evil" in line)
    assert "\n}" not in source.split("\n", 1)[0]


# -- the constructions for what DiffSL lacks, against NumPy -----------------------------------
X, Y = sp.symbols("u_0 u_1", real=True)
SPECIAL = [
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    1e-17,
    -1e-12,
    1e-9,
    3e-5,
    -0.2,
    0.5,
    -0.9999,
    1.0,
    -1.0,
    2.0,
    -3.5,
    700.5,
    -750.0,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
]

CONSTRUCTIONS = [
    ("where >", sp.Piecewise((X, X > Y), (2 * Y, True)), lambda x, y: np.where(x > y, x, 2 * y)),
    ("where >=", sp.Piecewise((X, X >= Y), (-Y, True)), lambda x, y: np.where(x >= y, x, -y)),
    ("where <", sp.Piecewise((X, X < Y), (Y, True)), lambda x, y: np.where(x < y, x, y)),
    ("where <=", sp.Piecewise((1, X <= 0), (Y, True)), lambda x, y: np.where(x <= 0, 1.0, y)),
    ("where ==", sp.Piecewise((X, sp.Eq(X, Y)), (3, True)), lambda x, y: np.where(x == y, x, 3.0)),
    ("where !=", sp.Piecewise((X, sp.Ne(X, Y)), (3, True)), lambda x, y: np.where(x != y, x, 3.0)),
    (
        "where and",
        sp.Piecewise((X, sp.And(X > 0, Y < 1)), (Y, True)),
        lambda x, y: np.where((x > 0) & (y < 1), x, y),
    ),
    (
        "where or",
        sp.Piecewise((X, sp.Or(X > 0, Y < 1)), (Y, True)),
        lambda x, y: np.where((x > 0) | (y < 1), x, y),
    ),
    (  # SymPy turns Not(x > y) into x <= y, as the tracer's NumPy and Julia code print it
        "where not",
        sp.Piecewise((X, sp.Not(X > Y)), (Y, True)),
        lambda x, y: np.where(x <= y, x, y),
    ),
    (
        "where not eq",
        sp.Piecewise((X, sp.Not(sp.Eq(X, 1))), (Y, True)),
        lambda x, y: np.where(~(x == 1), x, y),
    ),
    (
        "nested where",
        sp.Piecewise((X, X > 1), (Y, X > 0), (X + Y, True)),
        lambda x, y: np.where(x > 1, x, np.where(x > 0, y, x + y)),
    ),
    ("minimum", Minimum(X, Y), np.minimum),
    ("maximum", Maximum(X, Y), np.maximum),
    ("clip", Clip(X, -1, Y), lambda x, y: np.minimum(np.maximum(x, -1.0), y)),
    ("sign", Sign(X), lambda x, y: np.sign(x)),
    ("log1p", log1p(X), lambda x, y: np.log1p(x)),
    ("expm1", expm1(X), lambda x, y: np.expm1(x)),
    ("atanh", sp.atanh(X), lambda x, y: np.arctanh(x)),
    ("abs", sp.Abs(X), lambda x, y: np.abs(x)),
]


@pytest.mark.parametrize(
    ("label", "expr", "numpy"), CONSTRUCTIONS, ids=[c[0] for c in CONSTRUCTIONS]
)
def test_construction_agrees_with_numpy_including_nan(label, expr, numpy) -> None:
    """Each construction, compiled by diffsol, against NumPy over special values: equal
    (to a few ulps) where finite, and NaN / the same infinity where NumPy's is."""
    _needs_pydiffsol()
    from bridge._diffsol import pydiffsol

    printer = DiffslPrinter({X: "x0", Y: "x1"})
    text = printer.doprint(expr)
    extra = "".join(f"{name} {{ {value} }}\n" for name, value in printer.definitions)
    code = f"u_i {{ x0 = 0, x1 = 0 }}\n{extra}F_i {{ {text}, 0 }}\n"
    ode = pydiffsol().Ode(code)
    empty = np.zeros(0)
    values = SPECIAL
    for x in values:
        for y in (0.0, 1.0, -2.0, 1e-9, math.inf, math.nan):
            if label in ("log1p", "expm1", "atanh", "sign", "abs") and y != 0.0:
                continue
            if label.startswith("where") and math.isinf(x) and x == y:
                continue  # inf - inf is NaN: equal infinities compare as unordered (documented)
            got = float(ode.rhs(empty, 0.0, np.array([x, y]))[0])
            with np.errstate(all="ignore"):
                want = float(numpy(np.float64(x), np.float64(y)))
            where = f"{label} at x={x!r}, y={y!r}: diffsol {got!r}, NumPy {want!r}\n{code}"
            if math.isnan(want):
                assert math.isnan(got), where
            elif math.isinf(want):
                assert got == want, where
            else:
                assert got == pytest.approx(want, rel=4e-16 * 8, abs=1e-300), where


def test_operands_read_twice_are_named_once() -> None:
    printer = DiffslPrinter({X: "x0", Y: "x1"})
    inner = Minimum(sp.exp(X), sp.sin(Y))
    text = printer.doprint(Maximum(inner, X * Y))
    # exp(x0) and sin(x1) are each written once, in a named intermediate
    defs = dict(printer.definitions)
    assert list(defs.values()).count("exp(x0)") == 1 and "exp(" not in text
    assert len(text) < 120


def test_powers_print_as_pow_sqrt_or_division() -> None:
    printer = DiffslPrinter({X: "x0"})
    assert printer.doprint(X**2) == "pow(x0, 2)"
    assert printer.doprint(X ** sp.Rational(1, 3)) == "pow(x0, 1/3)"
    assert printer.doprint(sp.sqrt(X)) == "sqrt(x0)"
    assert printer.doprint(1 / X) == "1/x0"
    assert printer.doprint(X ** sp.Float(2.5)) == "pow(x0, 2.5)"
