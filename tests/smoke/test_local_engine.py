"""LocalEngine pieces that need no engine: the outputs document and stopping a process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smoke.local import LocalEngine
from smoke.outputs import parse_outputs


def test_outputs_document_follows_contract_v1(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "model", tmp_path / "o.json", port=18000, api_key="k-123456",
                         served_model_name="tiny")
    outputs = parse_outputs(json.dumps(engine.outputs_document()), "local")
    endpoint = outputs.endpoints["local"]
    assert outputs.platform == "local"
    assert (endpoint.base_url, endpoint.exposure, endpoint.api_key) == (
        "http://127.0.0.1:18000", "public", "k-123456")
    assert endpoint.served_model_name == "tiny"
    # The key travels in the environment, never on the command line `ps` shows.
    assert "k-123456" not in " ".join(engine.command())
    assert engine.environment()["VLLM_API_KEY"] == "k-123456"


@pytest.mark.timeout(30)
def test_stop_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    # A parent that ignores SIGTERM with a child in the same group, like vLLM's engine core.
    script = ("import signal, subprocess, sys, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "print(child.pid, flush=True)\n"
              "time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               start_new_session=True)
    assert process.stdout is not None
    child_pid = int(process.stdout.readline())
    engine = LocalEngine(tmp_path / "model", tmp_path / "o.json")
    engine.process = process
    start = time.monotonic()
    engine.stop(grace_s=1.0)
    assert process.poll() is not None
    assert time.monotonic() - start < 15
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)
    assert engine.process is None
    engine.stop()  # idempotent

