"""Generated Julia and NumPy code: golden files, fatou lint, the rules of USAGE.md §4, printers.

``pytest --update-golden tests/test_trace_codegen.py`` rewrites tests/golden/*.jl from the
current generator; review the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from bridge._errors import BridgeValueError, TraceError
from bridge._problem import _flatten_params
from bridge._trace import trace_model
from bridge._trace.functions import Clip, Maximum, Minimum, Sign
from bridge._trace.julia_codegen import JuliaPrinter
from bridge._trace.numpy_codegen import NumpyPrinter
from bridge._trace.ops import OPS, ROWS

from .models import FEATURE_MODELS, MODELS, Example


def domains(u, p, t):
    """Functions that are real on part of the line only: NumPy gives NaN outside, and so
    must the generated Julia (Base throws a DomainError there)."""
    x, y = u
    return [
        np.sqrt(x) - p[0] * np.log(y) + np.log1p(x * y) + x**1.5,
        np.arccos(0.5 * x) + np.arcsin(0.1 * y) + np.arctanh(0.2 * x) + np.sqrt(1.0 + y**2),
    ]


#: Golden-only models that exercise the code generator rather than the solvers.
CODEGEN_MODELS = {
    "domains": Example(domains, np.array([0.5, 1.5]), np.array([0.7]), (0.0, 1.0)),
}

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = [*MODELS, *FEATURE_MODELS, *CODEGEN_MODELS]
ALL = {**MODELS, **FEATURE_MODELS, **CODEGEN_MODELS}


def module_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def julia_source(name: str) -> str:
    f, u0, p, _ = ALL[name]
    flat, spec = _flatten_params(p)
    return trace_model(f, len(u0), len(flat), spec, name=name).julia_source(module_name(name))


@pytest.mark.parametrize("name", GOLDEN)
def test_julia_matches_golden(name: str, update_golden: bool) -> None:
    path = GOLDEN_DIR / f"{name}.jl"
    source = julia_source(name)
    if update_golden:
        path.write_text(source)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert source == path.read_text(), f"{path.name} differs: review, then --update-golden"


def _fatou() -> str | None:
    beside_python = Path(sys.executable).parent / "fatou"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("fatou")


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_is_fatou_clean(name: str, tmp_path: Path) -> None:
    fatou = _fatou()
    if fatou is None:
        print("fatou executable not found: install fatou (pip install fatou) to lint")
        pytest.skip("fatou executable not found (pip install fatou)")
    config = tmp_path / "fatou.toml"
    # undefined-name is off by default; it is the check that matters for generated code.
    config.write_text('[lint]\nextend-select = ["undefined-name"]\n')
    path = GOLDEN_DIR / f"{name}.jl"
    result = subprocess.run(
        [fatou, "lint", "--config", str(config), "--output", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    diagnostics = json.loads(result.stdout or "[]")
    assert diagnostics == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_fatou_config_catches_undefined_names(tmp_path: Path) -> None:
    """The lint above would be vacuous if fatou did not flag an unknown function."""
    fatou = _fatou()
    if fatou is None:
        pytest.skip("fatou executable not found (pip install fatou)")
    config = tmp_path / "fatou.toml"
    config.write_text('[lint]\nextend-select = ["undefined-name"]\n')
    bad = tmp_path / "bad.jl"
    bad.write_text(
        "module M\nfunction f!(du, u, p, t)\n    du[1] = gamma(u[1])\n"
        "    return nothing\nend\nend\n"
    )
    result = subprocess.run(
        [fatou, "lint", "--config", str(config), "--output", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "undefined-name" in result.stdout


FUNCTION = re.compile(r"^function (\w+!)\((\w+), ([\w, ]+)\)\n(.*?)^end$", re.M | re.S)


@pytest.mark.parametrize("name", GOLDEN)
def test_generated_julia_follows_usage_rules(name: str) -> None:
    source = (GOLDEN_DIR / f"{name}.jl").read_text()
    _, u0, p, _ = ALL[name]
    n, m = len(u0), len(_flatten_params(p)[0])
    assert source.startswith(f"module {module_name(name)}\n")
    assert f"const NSTATES = {n}\n" in source and f"const NPARAMS = {m}\n" in source
    for banned in ("Float64", "::", "**", "convert(", "similar(", "zeros(", "Vector"):
        assert banned not in source
    functions = {fn: (out, args, body) for fn, out, args, body in FUNCTION.findall(source)}
    assert set(functions) == {"f!", "jac!", "paramjac!", "vjp!", "vjp_p!"}
    sizes = {"f!": n, "vjp!": n, "vjp_p!": m}
    for fn, (out, args, body) in functions.items():
        assert args == ("v, u, p, t" if fn.startswith("vjp") else "u, p, t")
        assert body.rstrip().endswith("return nothing")
        if fn in sizes:  # vectors: every entry written exactly once, element by element
            written = re.findall(rf"^    {out}\[(\d+)\] = ", body, re.M)
            assert sorted(map(int, written)) == list(range(1, sizes[fn] + 1))
        else:  # matrices: zero-filled first (J is an AbstractMatrix), then non-zeros
            assert body.startswith(f"    fill!({out}, zero(eltype({out})))\n")
            for i, j in re.findall(rf"^    {out}\[(\d+), (\d+)\] = ", body, re.M):
                assert 1 <= int(i) <= n and 1 <= int(j) <= (n if fn == "jac!" else m)


def test_key_is_sha256_of_source_and_stable() -> None:
    f = MODELS["lorenz"].f
    model = trace_model(f, 3, 3, None, name="lorenz")
    assert re.fullmatch(r"[0-9a-f]{64}", model.key)

    def lorenz_copy(u, p, t):  # same code, another function object
        return f(u, p, t)

    other = trace_model(lorenz_copy, 3, 3, None, name="lorenz")
    assert other is not model and other.key == model.key


def test_module_name_must_be_identifier() -> None:
    f, *_ = MODELS["lotka_volterra"]
    model = trace_model(f, 2, 4)
    with pytest.raises(BridgeValueError, match="module_name"):
        model.julia_source("not a name")
    with pytest.raises(BridgeValueError, match="module_name"):
        model.julia_source("end")


# -- printers --------------------------------------------------------------------------------
x, y = sp.symbols("u_0 u_1", real=True)
JL = JuliaPrinter({x: "u[1]", y: "u[2]"})
PY = NumpyPrinter({})


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1.0"), (0.5, "0.5"), (1e-5, "1.0e-5"), (1.5e20, "1.5e20"), (2.5e-300, "2.5e-300")],
)
def test_julia_float_literals(value: float, text: str) -> None:
    assert JL.doprint(sp.Float(value)) == text


@pytest.mark.parametrize(
    ("expr", "julia", "python"),
    [
        (x**2, "u[1]^2", "u_0**2"),
        (x**-2, "u[1]^(-2)", "u_0**(-2)"),
        (sp.sqrt(x), "nan_sqrt(u[1])", "sqrt(u_0)"),
        (sp.sqrt(1 + x**2), "sqrt(1 + u[1]^2)", "sqrt(1 + u_0**2)"),
        (1 / sp.sqrt(x), "1/nan_sqrt(u[1])", "1/sqrt(u_0)"),
        (x ** sp.Float(2.5), "nan_pow(u[1], 2.5)", "fpow(u_0, 2.5)"),
        (sp.Abs(x) ** sp.Float(2.5), "abs(u[1])^2.5", "fpow(abs(u_0), 2.5)"),
        (x**y, "nan_pow(u[1], u[2])", "fpow(u_0, u_1)"),
        (
            sp.log(x) + sp.log(sp.exp(x) + y**2),
            "nan_log(u[1]) + log(u[2]^2 + exp(u[1]))",
            "log(u_0) + log(u_1**2 + exp(u_0))",
        ),
        (sp.acos(x), "nan_acos(u[1])", "arccos(u_0)"),
        (sp.atanh(sp.tanh(x) / 2), "nan_atanh(tanh(u[1])/2)", "arctanh(tanh(u_0)/2)"),
        ((x + y) ** 3, "(u[1] + u[2])^3", "(u_0 + u_1)**3"),
        ((-x) ** 3, "-u[1]^3", "-u_0**3"),
        (x / (2 * y), "u[1]/(2*u[2])", "u_0/(2*u_1)"),
        (x - 3 * y, "u[1] - 3*u[2]", "u_0 - 3*u_1"),
        (sp.Rational(1, 3) * x, "u[1]/3", "u_0/3"),
        (
            sp.Piecewise((x, x > 0), (y, True)),
            "ifelse(u[1] > 0, u[1], u[2])",
            "where(u_0 > 0, u_0, u_1)",
        ),
        (
            Minimum(x, y) + Maximum(x, 1),
            "max(u[1], 1) + min(u[1], u[2])",
            "maximum(u_0, 1) + minimum(u_0, u_1)",
        ),
        (Clip(x, -1, 1), "clamp(u[1], -1, 1)", "clip(u_0, -1, 1)"),
        (Sign(x) * sp.Abs(y), "abs(u[2])*sign(u[1])", "abs(u_1)*sign(u_0)"),
        (sp.atan2(y, x), "atan(u[2], u[1])", "arctan2(u_1, u_0)"),
        (sp.tanh(x - 1), "tanh(-1 + u[1])", "tanh(-1 + u_0)"),
    ],
)
def test_printers(expr: sp.Expr, julia: str, python: str) -> None:
    assert JL.doprint(expr) == julia
    assert PY.doprint(expr) == python


def test_unsupported_function_is_named() -> None:
    with pytest.raises(TraceError, match="gamma"):
        JL.doprint(sp.gamma(x))
    with pytest.raises(TraceError, match="NaN"):
        JL.doprint(sp.nan)


def test_generated_numpy_falls_back_to_nan_not_exceptions() -> None:
    def logs(u, p, t):
        return [np.log(u[0]) + np.sqrt(u[1]), p[0] / u[0]]

    model = trace_model(logs, 2, 1)
    with np.errstate(all="ignore"):
        out = model.f_generated(np.array([-1.0, 4.0]), np.array([1.0]), 0.0)
        assert np.isnan(out[0]) and out[1] == -1.0
        out = model.f_generated(np.array([0.0, 4.0]), np.array([1.0]), 0.0)
        assert np.isinf(out[0]) and np.isinf(out[1])
        jac = model.jac(np.array([-1.0, -4.0]), np.array([1.0]), 0.0)
        assert np.isnan(jac[0, 1]) and jac[0, 0] == -1.0 and jac[1, 0] == -1.0
    with pytest.raises(BridgeValueError, match="shape"):
        model.jac(np.array([1.0, 2.0, 3.0]), np.array([1.0]), 0.0)


# -- functions with a domain: NaN outside it, in NumPy and in the generated Julia ---------------
#: (name, g, u0 of the state that decreases as 1 - t..., the time it leaves g's domain)
DOMAIN_CASES = [
    ("sqrt", np.sqrt, 1.0, 1.0),
    ("log", np.log, 1.0, 1.0),
    ("log1p", np.log1p, 0.0, 1.0),
    ("arcsin", np.arcsin, 0.5, 1.5),
    ("arccos", np.arccos, 0.5, 1.5),
    ("arctanh", np.arctanh, 0.5, 1.5),
    ("power", lambda x: x**1.5, 1.0, 1.0),
]


@pytest.mark.parametrize(
    ("name", "g", "start", "leaves"), DOMAIN_CASES, ids=[c[0] for c in DOMAIN_CASES]
)
def test_outside_the_domain_is_nan_not_an_exception(name, g, start, leaves, backend) -> None:
    """u0' = -1 carries the argument out of g's domain: the solve stops there with a failed
    retcode on every backend (Julia's Base functions would throw a DomainError instead)."""
    import warnings

    import bridge

    def rhs(u, p, t):
        return [-1.0, g(u[0])]

    prob = bridge.ODEProblem(rhs, [start, 0.0], (0.0, leaves + 1.0))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", bridge.SolverWarning)
        try:
            sol = bridge.solve(prob, "Tsit5", reltol=1e-6, abstol=1e-9, backend=backend)
        except bridge.BackendUnsupportedError as exc:  # e.g. DiffSL has no asin
            pytest.skip(str(exc))
    assert not sol.success, sol.retcode
    assert leaves - 0.5 < sol.t[-1] <= leaves + 1e-6, (sol.retcode, sol.t[-1])


def _julia_condition(helper: str) -> str:
    """The out-of-domain condition of a NaN helper, as Python (for x a float)."""
    cond = re.fullmatch(r"nan_\w+\(x\) = \w+\(ifelse\((.*), zero\(x\) / zero\(x\), x\)\)", helper)
    assert cond is not None, helper
    return cond.group(1).replace("zero(x)", "0.0").replace("one(x)", "1.0")


@pytest.mark.parametrize("name", [op.name for op in ROWS if op.domain and op.arity == 1])
def test_julia_nan_helpers_match_the_domain_column(name: str) -> None:
    op = OPS[name]
    assert op.julia_helper is not None and op.julia_helper.startswith(f"{op.julia_nan}(x) = ")
    outside = _julia_condition(op.julia_helper)
    for x in np.linspace(-3.0, 3.0, 61):
        inside = bool(op.domain(sp.Float(x)) >= 0)
        assert eval(outside, {"abs": abs}, {"x": float(x)}) is not inside, (name, x)
        with np.errstate(invalid="ignore", divide="ignore"):
            assert np.isnan(getattr(np, op.numpy[0])(x)) is not inside, (name, x)


# -- ODEProblem.source -------------------------------------------------------------------------
def test_problem_source_julia_is_the_golden_module() -> None:
    import bridge

    f, u0, p, tspan = ALL["lotka_volterra"]
    prob = bridge.ODEProblem(f, u0, tspan, p, name="lotka_volterra")
    assert prob.source() == (GOLDEN_DIR / "lotka_volterra.jl").read_text()
    assert prob.source("julia") == prob.model.julia_source("LotkaVolterra")


def test_problem_source_numpy_is_the_code_that_runs() -> None:
    import bridge
    from bridge._trace.numpy_codegen import _namespace

    f, u0, p, tspan = ALL["stacked"]
    prob = bridge.ODEProblem(f, u0, tspan, p)
    text = prob.source("numpy")
    assert text.startswith("# Generated by bridge for model 'stacked'")
    ns = _namespace(fast=False)
    exec(compile(text, "<source>", "exec"), ns)
    u, q, v = np.asarray(u0, float) + 0.1, np.asarray(p, float), np.arange(1.0, 5.0)
    np.testing.assert_allclose(ns["f"](u, q, 0.3), f(u, q, 0.3), rtol=1e-12)
    np.testing.assert_array_equal(ns["jac"](u, q, 0.3), prob.model.jac(u, q, 0.3))
    np.testing.assert_array_equal(ns["vjp_p"](v, u, q, 0.3), prob.model.vjp_p(v, u, q, 0.3))


def test_problem_source_diffsl() -> None:
    import bridge

    f, u0, p, tspan = ALL["lotka_volterra"]
    text = bridge.ODEProblem(f, u0, tspan, p).source("diffsl")
    assert "u_i {" in text and "F_i {" in text


def test_problem_source_refuses_what_it_cannot_show() -> None:
    import bridge

    prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
    with pytest.raises(
        BridgeValueError, match="target must be 'julia', 'numpy' or 'diffsl', got 'c'"
    ):
        prob.source("c")
    opaque = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0), trace=False)
    with pytest.raises(BridgeValueError, match="trace=False: bridge calls the function as it is"):
        opaque.source()
    code = "(du, u, p, t) -> (du[1] = -u[1]; nothing)"
    jl = bridge.ODEProblem(bridge.JuliaFunction(code), [1.0], (0.0, 1.0))
    assert jl.source("julia") == code
    with pytest.raises(BridgeValueError, match="JuliaFunction"):
        jl.source("numpy")
