"""The README's Quickstart block runs as written, on every engine installed here.

A user's first contact is that block; it once called ``sol(2.5)``, which the engine ``auto``
picked could not do. The block is taken from README.md itself, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import bridge
from bridge import _diffsol

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None, "README.md has no python block under '## Quickstart'"
    return match.group(1)


@pytest.mark.parametrize("engine", ["auto", "diffsol", "reference"])
def test_readme_quickstart_runs_and_its_numbers_are_right(engine, monkeypatch):
    if engine == "diffsol" and _diffsol.availability() is not None:
        pytest.skip(f"diffsol is not installed here: {_diffsol.availability()}")
    monkeypatch.setenv("BRIDGE_BACKEND", engine)
    namespace: dict[str, object] = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out:
        warnings.simplefilter("ignore", bridge.BridgeBackendWarning)
        exec(compile(quickstart_block(), str(README), "exec"), namespace)
    assert "F_i" in out.getvalue()  # the printed DiffSL source
    sol, prob, g = namespace["sol"], namespace["prob"], namespace["g"]
    assert isinstance(sol, bridge.Solution) and sol.success
    if engine != "auto":
        assert sol.backend == engine
    # sol(2.5) against a tight reference solve at 2.5 (the block solves at 1e-8; here the
    # check is loose enough for any engine at that tolerance)
    dense = bridge.solve(prob, "Tsit5", reltol=1e-8, abstol=1e-8)(2.5)
    tight = bridge.solve(prob, "Vern9", saveat=[2.5], reltol=1e-12, abstol=1e-12,
                         backend="reference").u[0]  # fmt: skip
    np.testing.assert_allclose(dense, tight, rtol=1e-5)

    # the gradient the block computes, against central differences of tight solves
    def loss(p: np.ndarray) -> float:
        s = bridge.solve(prob.remake(p=p), "Vern9", saveat=0.1, reltol=1e-12, abstol=1e-12,
                         backend="reference")  # fmt: skip
        return float(np.sum((s.u - 1.0) ** 2))

    p0 = np.asarray(prob.p)
    h = 1e-6
    fd = [(loss(p0 + h * e) - loss(p0 - h * e)) / (2 * h) for e in np.eye(len(p0))]
    np.testing.assert_allclose(g.p, fd, rtol=1e-4)
