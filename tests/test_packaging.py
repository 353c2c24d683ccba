"""The wheel carries julia/DiffBridge and juliapkg resolves our entry from an installed wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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


def test_juliapkg_resolves_our_entry_offline_from_an_installed_wheel(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
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
    # juliapkg and juliacall come from this environment, *after* the fresh venv's own packages
    outer = sysconfig.get_paths()["purelib"]
    Path(site, "zz_outer.pth").write_text(outer + "\n")
    code = textwrap.dedent(
        """
        import json, os
        import juliapkg.deps as deps
        compat, pkgs = deps.find_requirements()
        ours = [p for p in pkgs if p.name == "DiffBridge"]
        print(json.dumps({"compat": str(compat), "path": ours[0].path if ours else None,
                          "dev": ours[0].dev if ours else None,
                          "names": sorted(p.name for p in pkgs)}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHON_JULIAPKG_OFFLINE"] = "yes"
    proc = subprocess.run(
        [str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["dev"] is True
    path = Path(info["path"])
    assert path.is_dir() and str(path).startswith(site), info
    assert (path / "src" / "DiffBridge.jl").is_file()
    assert {"DiffBridge", "OrdinaryDiffEq", "SciMLSensitivity", "Zygote", "PythonCall"} <= set(
        info["names"]
    )


def test_juliapkg_json_uuids_match_the_pinned_packages():
    """UUIDs and versions in juliapkg.json agree with the names.json of the pinned sources."""
    names_file = ROOT.parent / "shared" / "julia-api" / "names.json"
    if not names_file.is_file():
        pytest.skip(f"{names_file} not found (the shared folder sits beside the repo)")
    pinned = json.loads(names_file.read_text())
    spec = json.loads((ROOT / "bridge" / "juliapkg.json").read_text())
    for name, entry in spec["packages"].items():
        if name == "DiffBridge":
            assert entry["path"] == "julia/DiffBridge" and entry["dev"] is True
            continue
        assert entry["uuid"] == pinned[name]["uuid"], name
        assert pinned[name]["version"].startswith(entry["version"]), (name, entry["version"])
