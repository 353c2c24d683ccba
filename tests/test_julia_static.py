"""Static checks of the Julia code that run without Julia (CI runs them on every push).

* fatou, pass 1: the package against its Project.toml, rule ``unresolved-import``;
* fatou, pass 2: ``undefined-name``, resolved from the entry point ``src/DiffBridge.jl``
  through its ``include`` graph (a file the entry point does not include resolves nothing);
  a canary plants an undefined name in every file of a copy and requires each to be found,
  so no file is silently skipped (fatou skips a whole file that calls ``eval``);
* fatou with its default rules (what the pre-stop hook runs);
* ``../shared/julia-api/check_julia_names.py --strict julia/``: every imported or qualified
  name exists in the pinned package versions; a canary proves it fails on a stale name;
* golden generated code (``tests/golden/*.jl``) linted the same way;
* the name tables in ``algorithms.jl`` and ``sensitivity.jl`` have exactly the keys of
  ``bridge.ALGORITHMS`` and ``bridge.SENSEALGS`` (read from the source text).

Commands, from the repository root (the config files just ``select`` the rule):
    fatou lint --config <select unresolved-import> --output concise julia/DiffBridge
    fatou lint --config <select undefined-name>    --output concise julia/DiffBridge
    fatou lint --no-config --output concise julia
    python ../shared/julia-api/check_julia_names.py --strict julia/
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bridge

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "julia" / "DiffBridge"
SHARED = ROOT.parent / "shared" / "julia-api"
CHECKER = SHARED / "check_julia_names.py"
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.jl"))
UNDEFINED_NAME_RULES = ["undefined-name", "missing-include-file", "include-cycle"]


def _fatou() -> str:
    exe = shutil.which("fatou") or str(Path(sys.executable).parent / "fatou")
    if not Path(exe).is_file():
        pytest.fail("fatou is not installed: pip install -e '.[test]' (it pins fatou)")
    return exe


def _config(tmp_path: Path, rules: list[str]) -> Path:
    cfg = tmp_path / f"fatou-{rules[0]}.toml"
    cfg.write_text("[lint]\nselect = [" + ", ".join(f'"{r}"' for r in rules) + "]\n")
    return cfg


def fatou_lint(tmp_path: Path, rules: list[str] | None, *paths: Path) -> tuple[int, str]:
    """Run ``fatou lint`` with exactly ``rules`` (None: fatou's defaults)."""
    config = ["--no-config"] if rules is None else ["--config", str(_config(tmp_path, rules))]
    proc = subprocess.run(
        [_fatou(), "lint", *config, "--color", "never", "--output", "concise", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _julia_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jl"))


def _assert_clean(rc: int, out: str, nfiles: int) -> None:
    assert rc == 0, out
    assert f"checked {nfiles} file(s): clean" in out, out


def test_fatou_package_pass_unresolved_import(tmp_path):
    rc, out = fatou_lint(tmp_path, ["unresolved-import"], PACKAGE)
    _assert_clean(rc, out, len(_julia_files(PACKAGE)))


def test_fatou_entry_point_pass_undefined_name(tmp_path):
    rc, out = fatou_lint(tmp_path, UNDEFINED_NAME_RULES, PACKAGE)
    _assert_clean(rc, out, len(_julia_files(PACKAGE)))


def test_fatou_default_rules(tmp_path):
    rc, out = fatou_lint(tmp_path, None, ROOT / "julia")
    _assert_clean(rc, out, len(_julia_files(ROOT / "julia")))


def test_every_source_file_is_included_from_the_entry_point():
    entry = (PACKAGE / "src" / "DiffBridge.jl").read_text()
    included = set(re.findall(r'^include\("([^"]+)"\)', entry, flags=re.MULTILINE))
    files = {p.name for p in (PACKAGE / "src").glob("*.jl")} - {"DiffBridge.jl"}
    assert included == files


def _copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "DiffBridge"
    shutil.copytree(PACKAGE, copy)
    return copy


def test_canary_undefined_name_pass_reports_a_planted_name_in_every_file(tmp_path):
    copy = _copy_package(tmp_path)
    planted = {}
    for path in _julia_files(copy):
        name = f"planted_undefined_{path.stem.lower()}"
        text = path.read_text()
        if path.name == "DiffBridge.jl":  # inside the module, before its closing `end`
            head, sep, tail = text.rpartition("\nend")
            text = f"{head}\ncanary() = {name}\n{sep}{tail}"
        else:
            text += f"\ncanary_{path.stem.lower()}() = {name}\n"
        path.write_text(text)
        planted[path.name] = name
    rc, out = fatou_lint(tmp_path, UNDEFINED_NAME_RULES, copy)
    assert rc != 0, out
    for filename, name in planted.items():
        assert re.search(rf"{re.escape(filename)}:\d+:\d+: \w+\[undefined-name\] `{name}`", out), (
            f"fatou did not report the name planted in {filename}: is the file skipped?\n{out}"
        )


def test_canary_unresolved_import_pass_reports_an_undeclared_package(tmp_path):
    copy = _copy_package(tmp_path)
    entry = copy / "src" / "DiffBridge.jl"
    entry.write_text(
        entry.read_text().replace("module DiffBridge\n", "module DiffBridge\nusing Frobnicate: x\n")
    )
    rc, out = fatou_lint(tmp_path, ["unresolved-import"], copy)
    assert rc != 0 and "`Frobnicate` is not a dependency" in out, out


def require_shared(path: Path) -> Path:
    """``path`` in the project's shared folder, which sits beside the repository in CI and
    on the team's machines but not in a user's clone: there the test is skipped, saying so
    (nothing is wrong with the install). In CI (``CI=true``) a missing file fails the test."""
    if path.is_file():
        return path
    reason = (
        f"CI-only check: needs {path}, from the project's shared folder beside the "
        "repository (CI and the team's machines have it; a fresh clone does not, and "
        "nothing is wrong with this install)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _check_names(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(require_shared(CHECKER)), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_check_julia_names_strict():
    proc = _check_names("--strict", "julia/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 unknown" in proc.stdout, proc.stdout


def test_canary_check_julia_names_rejects_a_name_ordinarydiffeq_no_longer_exports(tmp_path):
    stale = tmp_path / "stale.jl"
    stale.write_text("module Stale\nusing OrdinaryDiffEq: QNDF\nend\n")
    proc = _check_names("--strict", str(stale))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "QNDF" in proc.stdout + proc.stderr


@pytest.mark.skipif(not GOLDEN, reason="no golden generated code in tests/golden yet")
@pytest.mark.parametrize("golden", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_generated_code_lints_clean(tmp_path, golden):
    for rules in (["unresolved-import"], UNDEFINED_NAME_RULES, None):
        rc, out = fatou_lint(tmp_path, rules, golden)
        _assert_clean(rc, out, 1)
    proc = _check_names("--strict", str(golden))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def julia_table_keys(path: Path, const: str) -> list[str]:
    """The string keys of ``const NAME = Dict{String, Any}(...)`` in a .jl file, in order."""
    text = path.read_text()
    match = re.search(
        rf"^const {const} = Dict\{{String, Any\}}\(\n(.*?)^\)", text, flags=re.S | re.M
    )
    assert match, f"{path.name} has no `const {const} = Dict{{String, Any}}(...)` table"
    return re.findall(r'^    "([^"]+)" =>', match.group(1), flags=re.M)


@pytest.mark.parametrize(
    ("filename", "const", "names"),
    [
        ("algorithms.jl", "ALGORITHMS", lambda: list(bridge.ALGORITHMS)),
        ("sensitivity.jl", "SENSEALGS", lambda: list(bridge.SENSEALGS)),
    ],
    ids=["algorithms", "sensealgs"],
)
def test_julia_name_tables_have_exactly_bridges_names(filename, const, names):
    keys = julia_table_keys(PACKAGE / "src" / filename, const)
    assert len(keys) == len(set(keys)), f"duplicate keys in {filename}: {keys}"
    assert sorted(keys) == sorted(names()), (
        f"{filename}'s {const} and bridge's names differ: only in Julia "
        f"{sorted(set(keys) - set(names()))}, only in Python {sorted(set(names()) - set(keys))}"
    )


def test_table_reader_sees_a_missing_row(tmp_path):
    source = (PACKAGE / "src" / "sensitivity.jl").read_text()
    planted = tmp_path / "sensitivity.jl"
    planted.write_text(source.replace('    "BacksolveAdjoint" =>', '    # "BacksolveAdjoint" =>'))
    assert "BacksolveAdjoint" not in julia_table_keys(planted, "SENSEALGS")
    assert "GaussAdjoint" in julia_table_keys(planted, "SENSEALGS")
