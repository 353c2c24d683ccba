"""Packaging: the wheel carries julia/DiffBridge, juliapkg resolves our entry from an
installed wheel (also beside diffeqpy), and the Julia pins are exact and consistent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
from juliapkg.compat import Compat, Version

from .test_julia_static import SHARED, require_shared

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (in bridge[test])")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = list(out.glob("bridge-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contains_the_julia_package(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    jl = [n for n in names if n.endswith(".jl")]
    assert "bridge/julia/DiffBridge/src/DiffBridge.jl" in jl
    assert "bridge/julia/DiffBridge/Project.toml" in names
    assert "bridge/juliapkg.json" in names
    source_jl = sorted(
        p.relative_to(ROOT / "julia").as_posix()
        for p in (ROOT / "julia" / "DiffBridge").rglob("*.jl")
    )
    assert sorted(n.removeprefix("bridge/julia/") for n in jl) == source_jl


@pytest.fixture(scope="module")
def venv_site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh venv with bridge's wheel installed; juliapkg and juliacall come from this
    environment, *after* the fresh venv's own packages. Returns (python, site-packages)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # install with this environment's pip into the fresh venv
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            site,
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    outer = sysconfig.get_paths()["purelib"]
    Path(site, "zz_outer.pth").write_text(outer + "\n")
    return py, site


def _merged_requirements(py: Path, cwd: Path, extra_path: Path | None = None) -> dict:
    """juliapkg's merged requirements, computed offline in the venv (no Julia is looked up)."""
    code = textwrap.dedent(
        """
        import json
        import juliapkg.deps as deps
        try:
            compat, pkgs = deps.find_requirements()
        except Exception as exc:
            print(json.dumps({"error": str(exc)}))
        else:
            print(json.dumps({"compat": str(compat), "packages": [
                {"name": p.name, "version": p.version, "path": p.path, "dev": p.dev}
                for p in pkgs]}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHON_JULIAPKG_OFFLINE"] = "yes"
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    proc = subprocess.run(
        [str(py), "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return info


def test_juliapkg_resolves_our_entry_offline_from_an_installed_wheel(venv_site, tmp_path):
    py, site = venv_site
    info = _merged_requirements(py, tmp_path)
    assert "error" not in info, info["error"]
    pkgs = {p["name"]: p for p in info["packages"]}
    ours = pkgs["DiffBridge"]
    assert ours["dev"] is True
    path = Path(ours["path"])
    assert path.is_dir() and str(path).startswith(site), info
    assert (path / "src" / "DiffBridge.jl").is_file()
    assert {"DiffBridge", "OrdinaryDiffEq", "SciMLSensitivity", "Zygote", "PythonCall"} <= set(pkgs)
    assert pkgs["SciMLSensitivity"]["version"] == _pins()["SciMLSensitivity"]


def test_installs_beside_diffeqpy(venv_site, tmp_path):
    """With diffeqpy's Julia requirements in the same environment, juliapkg's merge succeeds:
    the Julia compat entries and every shared package's versions intersect."""
    py, _site = venv_site
    beside = tmp_path / "other-site"
    shutil.copytree(DATA / "diffeqpy-2.6.0", beside / "diffeqpy")
    info = _merged_requirements(py, tmp_path, extra_path=beside)
    assert "error" not in info, info["error"]
    pkgs = {p["name"]: p for p in info["packages"]}
    assert {"DifferentialEquations", "ModelingToolkit", "DiffBridge"} <= set(pkgs)  # both read
    julia = Compat.parse(info["compat"])
    assert Version.parse("1.10.5") in julia and Version.parse("1.11.7") in julia, info["compat"]
    diffeqpy = json.loads((DATA / "diffeqpy-2.6.0" / "juliapkg.json").read_text())["packages"]
    for name, pin in _pins().items():
        if name in diffeqpy:
            assert pkgs[name]["version"] == pin, (name, pkgs[name]["version"])
            assert Version.parse(pin.removeprefix("=")) in Compat.parse(diffeqpy[name]["version"])


def test_diffeqpy_brings_versions_compatible_with_our_pins():
    """One level further than juliapkg looks: packages diffeqpy lists that our pins constrain
    (DifferentialEquations, OrdinaryDiffEqDefault) have versions whose compat admits the pins."""
    compat = json.loads((DATA / "julia_compat.json").read_text())["packages"]
    pins = _pins()
    diffeq = compat["DifferentialEquations"]
    diffeqpy = json.loads((DATA / "diffeqpy-2.6.0" / "juliapkg.json").read_text())["packages"]
    assert Version.parse(diffeq["version"]) in Compat.parse(
        diffeqpy["DifferentialEquations"]["version"]
    )
    for name, spec in diffeq["compat"].items():
        if name in pins:
            assert Version.parse(pins[name].removeprefix("=")) in Compat.parse(spec), (name, spec)
    wanted = Compat.parse(compat["OrdinaryDiffEq"]["compat"]["OrdinaryDiffEqDefault"])
    default = Version.parse(compat["OrdinaryDiffEqDefault"]["version"])
    assert default in wanted and default in Compat.parse(
        diffeqpy["OrdinaryDiffEqDefault"]["version"]
    )


def _pins() -> dict[str, str]:
    spec = json.loads((ROOT / "bridge" / "juliapkg.json").read_text())
    return {n: e["version"] for n, e in spec["packages"].items() if "version" in e}


def test_pins_are_exact_and_agree_everywhere():
    """juliapkg.json pins exactly (`=x.y.z`: the versions whose sources were read); the two
    Project.toml files say the same, and only Julia itself and PythonCall are ranges."""
    tomllib = pytest.importorskip("tomllib", reason="reading Project.toml needs Python 3.11+")
    pins = _pins()
    assert all(v.startswith("=") for v in pins.values()), pins
    for project in (ROOT / "Project.toml", ROOT / "julia" / "DiffBridge" / "Project.toml"):
        compat = tomllib.loads(project.read_text())["compat"]
        ranges = {k for k in compat if k not in pins}
        assert ranges <= {"julia", "PythonCall"}, (project, ranges)
        assert {k: v for k, v in compat.items() if k in pins} == {
            k: v for k, v in pins.items() if k in compat
        }, project
    spec = json.loads((ROOT / "bridge" / "juliapkg.json").read_text())
    assert spec["julia"] == tomllib.loads((ROOT / "Project.toml").read_text())["compat"]["julia"]


def test_pins_satisfy_each_others_compat():
    """Each pinned version is admitted by the compat tables of the other pinned versions
    (read from their sources: tests/data/julia_compat.json), and by their Julia compat."""
    compat = json.loads((DATA / "julia_compat.json").read_text())["packages"]
    pins = {n: Version.parse(v.removeprefix("=")) for n, v in _pins().items()}
    julia = Compat.parse(json.loads((ROOT / "bridge" / "juliapkg.json").read_text())["julia"])
    checked = 0
    for name, version in pins.items():
        if name not in compat:
            continue  # ChainRulesCore: a leaf here, its own compat names none of the pins
        entry = compat[name]
        assert Version.parse(entry["version"]) == version, (name, entry["version"])
        for dep, spec in entry["compat"].items():
            if dep in pins:
                assert pins[dep] in Compat.parse(spec), f"{name} {version} wants {dep} {spec}"
                checked += 1
        assert julia & Compat.parse(entry["compat"]["julia"]), (name, entry["compat"]["julia"])
    assert checked >= 10


def test_juliapkg_json_uuids_match_the_pinned_packages():
    """UUIDs and versions in juliapkg.json agree with the names.json of the pinned sources."""
    pinned = json.loads(require_shared(SHARED / "names.json").read_text())
    spec = json.loads((ROOT / "bridge" / "juliapkg.json").read_text())
    for name, entry in spec["packages"].items():
        if name == "DiffBridge":
            assert entry["path"] == "julia/DiffBridge" and entry["dev"] is True
            continue
        assert entry["uuid"] == pinned[name]["uuid"], name
        assert entry["version"] == "=" + pinned[name]["version"], (name, entry["version"])
