"""Generated code of array models: Julia golden files, lint, names, USAGE.md §4, twins.

``pytest --update-golden tests/test_array_codegen.py`` rewrites tests/golden_array/*.jl
from the current printers; review the diff before committing it.

The NumPy printer and the Julia printer print the same schedule (program.py): statement by
statement, the same names in the same order and the same number of lines. The NumPy
functions are checked numerically in test_array_derivatives.py, so each Julia function is
pinned by its golden file and tied to a tested NumPy twin line for line.
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

from bridge._errors import BridgeValueError, TraceError
from bridge._problem import _flatten_params
from bridge._trace.array.julia_printer import JuliaArrayPrinter
from bridge._trace.array.model import ArrayModel
from bridge._trace.array.numpy_printer import NumpyArrayPrinter
from bridge._trace.array.tracer import trace_arrays

from .array_models import ARRAY_MODELS, mlp
from .models import Example

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = Path(__file__).parent / "golden_array"
CHECKER = ROOT.parent / "shared" / "julia-api" / "check_julia_names.py"


def _domain_functions(u, p, t):
    """Functions Julia's Base throws on outside their domain (NaN helpers), a real power."""
    h = np.sqrt(np.abs(p[:4].reshape(2, 2) @ u) + 1.0) + np.log(1.0 + u**2) * p[4]
    return np.arctanh(0.5 * np.tanh(h)) + np.abs(u) ** p[5] + np.arcsin(np.sin(u))


def _mlp_example(sizes, activation, cube=False) -> Example:
    f, m = mlp(sizes, activation, cube)
    return Example(f, np.zeros(sizes[0]), np.zeros(m), (0.0, 1.0))


GOLDEN: dict[str, Example] = {
    **ARRAY_MODELS,
    "mlp_2_8_8_2_tanh": _mlp_example([2, 8, 8, 2], "tanh"),
    "spiral_2_4_2_sigmoid": _mlp_example([2, 4, 2], "sigmoid", cube=True),
    "domain_functions": Example(_domain_functions, np.zeros(2), np.zeros(6), (0.0, 1.0)),
}


def module_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def array_model(name: str) -> ArrayModel:
    example = GOLDEN[name]
    flat, spec = _flatten_params(example.p)
    n, m = len(example.u0), len(flat)
    return ArrayModel(example.f, trace_arrays(example.f, n, m, spec, name), spec, name)


@pytest.mark.parametrize("name", GOLDEN)
def test_julia_matches_golden(name: str, update_golden: bool) -> None:
    path = GOLDEN_DIR / f"{name}.jl"
    source = array_model(name).julia_source(module_name(name))
    if update_golden:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(source)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert source == path.read_text(), f"{path.name} differs: review, then --update-golden"


def _fatou() -> str:
    exe = shutil.which("fatou") or str(Path(sys.executable).parent / "fatou")
    if not Path(exe).is_file():
        pytest.fail("fatou is not installed: pip install -e '.[test]' (it pins fatou)")
    return exe


@pytest.mark.parametrize("rules", [None, ["undefined-name"]], ids=["default", "undefined-name"])
def test_golden_files_lint_clean(tmp_path: Path, rules: list[str] | None) -> None:
    files = sorted(GOLDEN_DIR.glob("*.jl"))
    assert len(files) == len(GOLDEN)
    if rules is None:
        config = ["--no-config"]
    else:
        cfg = tmp_path / "fatou.toml"
        cfg.write_text(f'[lint]\nextend-select = ["{rules[0]}"]\n')
        config = ["--config", str(cfg)]
    proc = subprocess.run(
        [_fatou(), "lint", *config, "--output", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert json.loads(proc.stdout or "[]") == [], proc.stdout + proc.stderr


def test_golden_files_pass_the_names_check() -> None:
    if not CHECKER.exists():
        pytest.skip(f"CI-only: the names checker {CHECKER} is outside this checkout")
    files = sorted(GOLDEN_DIR.glob("*.jl"))
    proc = subprocess.run(
        [sys.executable, str(CHECKER), "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and "0 unknown" in proc.stdout, proc.stdout + proc.stderr


def test_a_planted_undefined_name_is_found_in_generated_code(tmp_path: Path) -> None:
    # The lint test above must be able to fail: fatou finds a misspelt name in our code.
    source = array_model("mlp_2_8_8_2_tanh").julia_source("Canary").replace("tanh.(", "tahn.(")
    path = tmp_path / "canary.jl"
    path.write_text(source)
    cfg = tmp_path / "fatou.toml"
    cfg.write_text('[lint]\nextend-select = ["undefined-name"]\n')
    proc = subprocess.run(
        [_fatou(), "lint", "--config", str(cfg), "--output", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "tahn" in proc.stdout


_STATEMENT = re.compile(r"^(x\d+) = ")


@pytest.mark.parametrize("name", GOLDEN)
def test_julia_and_numpy_print_the_same_statements_line_for_line(name: str) -> None:
    model = array_model(name)
    for key in ("f", "vjp", "vjp_p", "jvp"):
        program = model.programs[key]
        numpy_lines = NumpyArrayPrinter(program).statement_lines()
        julia_lines = JuliaArrayPrinter(program).statement_lines()
        assert [len(s) for s in numpy_lines] == [len(s) for s in julia_lines], key
        for ours, theirs in zip(numpy_lines, julia_lines, strict=True):
            first_numpy, first_julia = _STATEMENT.match(ours[0]), _STATEMENT.match(theirs[0])
            assert (first_numpy and first_numpy[1]) == (first_julia and first_julia[1]), (
                key,
                ours,
                theirs,
            )


def _functions(source: str) -> dict[str, str]:
    return dict(re.findall(r"^function (\w+!)\(.*?\n(.*?)^end$", source, re.M | re.S))


@pytest.mark.parametrize("name", GOLDEN)
def test_generated_julia_follows_the_rules_for_generic_element_types(name: str) -> None:
    source = array_model(name).julia_source(module_name(name))
    functions = _functions(source)
    assert set(functions) == {"f!", "jac!", "paramjac!", "vjp!", "vjp_p!", "jvp!"}
    for fname, body in functions.items():
        assert body.rstrip().endswith("return nothing"), fname
        assert "::" not in body and "Float64" not in body and "convert(" not in body, fname
        assert "zeros(" not in body and "Vector{" not in body and "Array{" not in body, fname
        for call in re.findall(r"similar\(([^,)]*)", body):
            assert call == "u", (fname, call)  # similar(u, T, dims...) or similar(u, eltype)
        assert "similar(u, T" not in body or "    T = promote_type(" in body, fname
    for line in source.splitlines():
        if line.startswith("const C"):  # captured arrays: data of the program
            assert line.count("Float64[") + line.count("Bool[") == 1


def test_parameter_matrices_are_views_of_p_in_julias_order() -> None:
    source = array_model("mlp_2_8_8_2_tanh").julia_source("M")
    # W1 (8, 2) in C order is the Julia (2, 8) matrix over p[1:16]: W1 @ u is transpose(·)*u.
    assert "mul!(similar(u, T, 8), transpose(reshape(view(p, 1:16), 2, 8)), u)" in source
    # Its adjoint outer(g, u) goes straight into the same view of out, with no copy.
    assert re.search(r"mul!\(reshape\(view\(out, 1:16\), 2, 8\), u, transpose\(x\d+\)\)", source)


def test_module_name_must_be_a_julia_identifier() -> None:
    model = array_model("mlp_2_8_8_2_tanh")
    with pytest.raises(BridgeValueError, match="module_name must be a Julia identifier"):
        model.julia_source("not valid")


def test_source_targets() -> None:
    model = array_model("named_mlp")
    assert model.source("julia").startswith("module NamedMlp\n")
    numpy_source = model.source("numpy")
    namespace: dict[str, object] = {"np": np}
    exec(compile(numpy_source, "<source>", "exec"), namespace)  # what the reference runs
    assert callable(namespace["vjp_p"])
    with pytest.raises(TraceError, match="whole-array operations"):
        model.source("diffsl")
    with pytest.raises(BridgeValueError, match="target must be"):
        model.source("fortran")


def test_key_depends_on_the_program_not_the_module_name() -> None:
    a, b = array_model("matrices"), array_model("matrices")
    assert a.key == b.key and len(a.key) == 64
    assert a.key != array_model("named_mlp").key
