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

from .models import FEATURE_MODELS, MODELS

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = [*MODELS, *FEATURE_MODELS]
ALL = {**MODELS, **FEATURE_MODELS}


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
        (sp.sqrt(x), "sqrt(u[1])", "sqrt(u_0)"),
        (x ** sp.Float(2.5), "u[1]^2.5", "fpow(u_0, 2.5)"),
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
