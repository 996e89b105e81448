"""Shared e2e fixtures. The engine itself is the session's `local_engine` (tests/conftest.py):
a started `smoke.local.LocalEngine` with `.outputs_path` (contract v1 JSON), `.base_url`,
`.api_key`, `.served_model_name`, `.port`, `.process`. Tests must not stop or reconfigure it:
other test modules (benchmarks, observability, batch) share it. For failure cases write a
modified outputs file with `outputs_variant` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smoke.local import LocalEngine

OutputsVariant = Callable[..., Path]


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
