"""Shared pytest configuration: the ``julia`` marker, backends to parametrise over, golden files."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.jl from the current code generator (review the diff!)",
    )


def _julia_status():
    from bridge import _julia

    return _julia.status()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker("julia") for item in items):
        return
    status = _julia_status()
    if status.usable:
        return
    skip = pytest.mark.skip(reason=f"needs Julia: {status.reason}")
    for item in items:
        if item.get_closest_marker("julia"):
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    status = _julia_status()
    if status.usable:
        return f"bridge: Julia {status.version} at {status.executable}: julia tests will run"
    return f"bridge: no usable Julia ({status.reason}): julia-marked tests are skipped"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def _diffsol_reason() -> str | None:
    from bridge._diffsol import availability

    return availability()


#: Parametrise over every backend; the Julia one is marked and skipped when Julia is missing,
#: the diffsol one is marked ``diffsol`` and skipped (with the reason) without pydiffsol.
BACKEND_PARAMS = [
    pytest.param("reference", id="reference"),
    pytest.param("julia", id="julia", marks=pytest.mark.julia),
    pytest.param(
        "diffsol",
        id="diffsol",
        marks=[
            pytest.mark.diffsol,
            pytest.mark.skipif(
                _diffsol_reason() is not None, reason=f"needs pydiffsol: {_diffsol_reason()}"
            ),
        ],
    ),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
