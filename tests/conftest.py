"""Test session options: `--update-golden` rewrites golden files (and fails the run)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true",
        help="rewrite tests/golden/ from the current plans; the run fails so a stale golden "
             "can never pass silently",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
