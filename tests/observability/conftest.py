"""Observability tests: the real vLLM engine fixture (tests/e2e) and binary skips."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import local_engine  # noqa: F401  (re-exported fixture)


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed: run scripts/install-prometheus.sh")
    return path


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip("prometheus not installed: run scripts/install-prometheus.sh")
    return path
