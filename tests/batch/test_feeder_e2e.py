"""The feeder end to end against the real local vLLM engine (CPU build, tiny model).

Measured numbers are printed (run with -s to see them): requests, wall time, and for the
kill-and-resume run how many answers were on disk at the kill and how many requests the engine
served in total.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from components.batch_feeder import EXIT_INVALID, EXIT_OK
from smoke.batch_checks import coverage_problems
from smoke.local import LocalEngine
from tests.batch.fakes import chat_line, read_ids, write_jsonl
from tests.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REQUESTS = 40
CONCURRENCY = 4


def _lines(prefix: str, n: int = REQUESTS, max_tokens: int = 8) -> list[dict]:
    return [chat_line(f"{prefix}-{i}", f"Count to {i % 7 + 2}.", max_tokens=max_tokens,
                      temperature=0) for i in range(n)]


def _feeder(engine: LocalEngine, inp: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "INFERENCE_API_KEY": engine.api_key}
    cmd = [sys.executable, "-m", "components.batch_feeder", "--input", str(inp),
           "--output-dir", str(out), "--engine-url", engine.base_url, "--served-model",
           engine.served_model_name, "--metrics-port", "0", "--status-interval", "1",
           "--concurrency", str(CONCURRENCY), "--health-timeout", "60", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _status(out: Path) -> dict:
    return json.loads((out / "shard-00000" / "status.json").read_text())


def _successes(engine: LocalEngine) -> float:
    """vLLM's own count of finished requests (all label sets)."""
    text = requests.get(f"{engine.base_url}/metrics", timeout=10,
                        headers={"Authorization": f"Bearer {engine.api_key}"}).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


def test_a_batch_file_completes(local_engine: LocalEngine, tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", _lines("full"))
    out = tmp_path / "out"
    start = time.monotonic()
    proc = _feeder(local_engine, inp, out)
    log, _ = proc.communicate(timeout=480)
    elapsed = time.monotonic() - start
    assert proc.returncode == EXIT_OK, log
    status = _status(out)
    assert (status["status"], status["total"], status["completed"], status["failed"]) == (
        "completed", REQUESTS, REQUESTS, 0)
    assert coverage_problems(inp, out) == []
    record = json.loads((out / "shard-00000" / "output.jsonl").read_text().splitlines()[0])
    body = record["response"]["body"]
    assert record["response"]["status_code"] == 200 and record["response"]["request_id"]
    assert body["object"] == "chat.completion" and body["model"] == "tiny-llama"
    assert 0 < body["usage"]["completion_tokens"] <= 8
    print(f"\nbatch e2e: {REQUESTS} requests, concurrency {CONCURRENCY}, {elapsed:.1f}s")
    # `smoke batch` agrees, reading the same files the way an operator would.
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"schema_version": 1, "platform": "local", "endpoints": {},
                                   "batch_jobs": {"e2e": {
                                       "job": "e2e", "namespace": "local", "input": str(inp),
                                       "output": str(out), "status": str(out)}}}))
    check = subprocess.run(
        [sys.executable, "-m", "smoke", "batch", "--outputs", str(outputs), "--status-file",
         str(out), "--input", str(inp), "--output-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every input custom_id answered exactly once" in check.stdout


def test_killed_halfway_and_restarted_answers_every_request_once(
        local_engine: LocalEngine, tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", _lines("resume", max_tokens=16))
    out = tmp_path / "out"
    output = out / "shard-00000" / "output.jsonl"
    served_before = _successes(local_engine)
    start = time.monotonic()
    proc = _feeder(local_engine, inp, out)
    while len(read_ids(output)) < REQUESTS // 4:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() - start < 300, "no answers within 300 s"
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no handler runs, whatever was in flight is lost
    proc.wait()
    at_kill = len(read_ids(output))
    assert at_kill < REQUESTS, "finished before the kill; the test proves nothing"
    assert _status(out)["status"] == "in_progress"  # the dead feeder's last word
    restarted = _feeder(local_engine, inp, out)
    log, _ = restarted.communicate(timeout=480)
    elapsed = time.monotonic() - start
    assert restarted.returncode == EXIT_OK, log
    assert f"{at_kill} already answered, {REQUESTS - at_kill} to send" in log
    assert coverage_problems(inp, out) == []
    status = _status(out)
    assert (status["status"], status["total"], status["completed"], status["failed"]) == (
        "completed", REQUESTS, REQUESTS, 0)
    time.sleep(1.0)  # let vLLM finish the requests orphaned by the kill before counting
    served = _successes(local_engine) - served_before
    # Only the requests in flight at the kill may have been served twice.
    assert REQUESTS <= served <= REQUESTS + CONCURRENCY
    print(f"\nkill-and-resume: {REQUESTS} requests, {at_kill} on disk at SIGKILL, engine "
          f"served {served:.0f}, total {elapsed:.1f}s")


def test_malformed_lines_are_rejected_before_any_request(
        local_engine: LocalEngine, tmp_path: Path) -> None:
    good = _lines("ok", n=5)
    bad = [*good[:3], "{not json", {**good[3], "url": "/v1/responses"}, good[4]]
    inp = write_jsonl(tmp_path / "bad.jsonl", bad)
    before = _successes(local_engine)
    proc = _feeder(local_engine, inp, tmp_path / "out")
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INVALID, log
    assert "line 4: not JSON" in log and "line 5: url '/v1/responses'" in log
    assert _successes(local_engine) == before
    # The counter does move when the same good lines are sent, so the check above can fail.
    proc = _feeder(local_engine, write_jsonl(tmp_path / "good.jsonl", good), tmp_path / "out2")
    assert proc.wait(timeout=120) == EXIT_OK
    assert _successes(local_engine) == before + len(good)
