"""LocalEngine pieces that need no engine: the outputs document and stopping a process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smoke.local import LocalEngine, LocalEngineError
from smoke.outputs import parse_outputs
from smoke.tiny_model import TinyModelError, generate_tiny_model


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


@pytest.mark.timeout(30)
def test_an_engine_that_exits_while_starting_fails_at_once_with_its_code(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "model", tmp_path / "o.json", ready_timeout_s=60)
    engine.log_path.parent.mkdir(parents=True, exist_ok=True)
    engine.log_path.write_text("the last words of the engine\n")
    engine.process = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    start = time.monotonic()
    with pytest.raises(LocalEngineError, match="exited with code 3") as info:
        engine._wait_ready()
    assert time.monotonic() - start < 10, "the exit must not cost the ready timeout"
    assert "the last words of the engine" in str(info.value)


@pytest.mark.timeout(30)
def test_an_engine_that_never_answers_fails_at_its_deadline_with_the_last_error(
        tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "model", tmp_path / "o.json", ready_timeout_s=1.0)
    engine.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                      start_new_session=True)
    try:
        with pytest.raises(LocalEngineError, match=r"not ready after 1s \(.*connection refused"):
            engine._wait_ready()
    finally:
        engine.stop(grace_s=1.0)


@pytest.mark.engines
@pytest.mark.timeout(120)
def test_generate_tiny_model_is_complete_reused_and_safe(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="needs the engines extra")
    from transformers import AutoConfig, AutoTokenizer

    model = generate_tiny_model(tmp_path / "tiny")
    config = AutoConfig.from_pretrained(str(model))
    # vLLM's CPU attention needs head_dim 64 (docs/smoke.md).
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads,
            config.num_hidden_layers, config.head_dim) == (128, 2, 1, 2, 64)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi ü"}], tokenize=False,
                                           add_generation_prompt=True)
    assert isinstance(prompt, str)
    assert prompt.endswith("<|start|>assistant\n")
    ids = tokenizer.encode("any text, even ünïcode")
    assert tokenizer.decode(ids) == "any text, even ünïcode"  # byte-level: nothing is unknown
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no build directory left behind
    stamp = (model / "model.safetensors").stat().st_mtime_ns
    assert generate_tiny_model(model) == model  # reused, not rewritten
    assert (model / "model.safetensors").stat().st_mtime_ns == stamp
    other = tmp_path / "someone-elses-model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(TinyModelError, match="is not a generated tiny model"):
        generate_tiny_model(other)
    assert (other / "config.json").read_text() == "{}"
