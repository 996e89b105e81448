"""Test session options and the shared real engines.

`--update-golden` rewrites golden files (and fails the run). `local_engine` is the session's
real local vLLM engine (tests/engines.py): every directory shares the same process. Tests must
not stop or reconfigure it; for failure cases write a modified outputs file (tests/e2e's
`outputs_variant`). `small_batch_engine` is a second one started with `--max-num-seqs 2`, so a
handful of requests already queue (the autoscaling signal).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from smoke.local import LocalEngine
    from tests.engines import EnginePool

SMALL_BATCH_ARGS = ("--max-num-seqs", "2")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true",
        help="rewrite tests/golden/ from the current plans; the run fails so a stale golden "
             "can never pass silently",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def engine_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePool]:
    from tests.engines import EnginePool  # imported here: most sessions start no engine

    pool = EnginePool(tmp_path_factory.mktemp("engines"))
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def local_engine(engine_pool: EnginePool) -> LocalEngine:
    return engine_pool.get()


@pytest.fixture(scope="session")
def small_batch_engine(engine_pool: EnginePool) -> LocalEngine:
    return engine_pool.get(*SMALL_BATCH_ARGS)
