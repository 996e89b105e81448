"""`smoke check` and `smoke bench` against a misbehaving server never hang, crash or leak the key.

Each fault of `tests/faults/server.py` runs both commands as subprocesses, side by side, with small
deadlines set through their flags. Every run must end in bounded time with exit code 1 (0 for
the well-behaved control), print no traceback, write its report files, name the failure's kind,
and show the key in no form anywhere (terminal, report, JUnit).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.faults.server import KEY, MODEL, FaultServer

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]
LIMITS = ["--connect-timeout", "1", "--read-timeout", "0.5", "--request-timeout", "1",
          "--max-body-bytes", "1000000"]
CHECK_BOUND_S = 15.0  # five requests at one deadline each, plus interpreter start
BENCH_BOUND_S = 10.0

# fault -> (text in a failed check's reason or error kind, text in the bench endpoint error);
# None: the control, where everything passes.
EXPECT: dict[str, tuple[str, str] | None] = {
    "none": None,
    "drip-body": ("deadline", "stalled"),
    "endless-body": ("too-large", "too_large"),
    "bad-shapes": ("shape", "not a JSON object"),
    "bad-utf8": ("not UTF-8", "stream_error"),
    "keepalive-drip": ("keep-alive", "stalled"),
    "key-echo": ("HTTP 500", "stream_error"),
    "reset-mid-stream": ("broke mid-response", "disconnected"),
    "html-200": ("did not answer JSON", "no_tokens"),
    "sse-no-done": ("without [DONE]", "incomplete_stream"),
    "no-headers": ("read-timeout", "timeout"),
    "gzip-bomb": ("too-large", "stream_error"),
    "huge-headers": ("connection", "client_error"),
    "redirect-loop": ("redirects in a loop", "client_error"),
    "http-500": ("HTTP 500", "http_500"),
}


def outputs_file(directory: Path, base_url: str, port: int) -> Path:
    endpoint = {"engine": "vllm", "model": "fake/model", "served_model_name": MODEL,
                "base_url": base_url, "exposure": "internal", "port": port, "api_key": KEY}
    path = directory / "outputs.json"
    path.write_text(json.dumps({"schema_version": 1, "platform": "local",
                                "endpoints": {"fake": endpoint}}))
    return path


def key_forms() -> list[str]:
    """Every form of the key a report must not hold, and its longer pieces (a cut echo)."""
    forms = {KEY, json.dumps(KEY)[1:-1], quote(KEY, safe=""), quote_plus(KEY),
             base64.b64encode(f"Bearer {KEY}".encode()).decode()[12:]}
    pieces = {KEY[i:i + 10] for i in range(len(KEY) - 9)}
    return sorted(forms | pieces)


def run_both(commands: list[list[str]]) -> list[tuple[int, str, float]]:
    """Run the commands side by side; (exit code, stdout + stderr, wall seconds) of each."""
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "smoke", *c], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    ended: dict[int, float] = {}
    while len(ended) < len(procs) and time.monotonic() - start < 40:
        ended.update({i: time.monotonic() - start for i, p in enumerate(procs)
                      if i not in ended and p.poll() is not None})
        time.sleep(0.05)
    results = []
    for i, proc in enumerate(procs):
        if i not in ended:
            proc.kill()
        out, err = proc.communicate()
        if i not in ended:
            pytest.fail(f"hung: {commands[i][0]}: {out}{err}")
        results.append((proc.returncode, out + err, ended[i]))
    return results


def assert_no_key(*texts: str) -> None:
    for text in texts:
        leaked = [form for form in key_forms() if form in text]
        assert not leaked, f"key leaked as {leaked}: {text[:2000]}"


@pytest.mark.parametrize("fault", list(EXPECT))
def test_fault(fault: str, tmp_path: Path) -> None:
    with FaultServer(fault) as server:
        outputs = outputs_file(tmp_path, server.url, int(server.url.rsplit(":", 1)[1]))
        report, junit, result = tmp_path / "check.json", tmp_path / "junit.xml", tmp_path / "b.json"
        (check_code, check_text, check_s), (bench_code, bench_text, bench_s) = run_both([
            ["check", "--outputs", str(outputs), "--report", str(report), "--junit", str(junit),
             "--wait", "2", "--no-aws", *LIMITS],
            ["bench", "--outputs", str(outputs), "--report", str(result), "--num-requests", "2",
             "--warmup", "0", "--output-tokens", "2", "--input-tokens", "8", "--no-calibrate",
             "--no-progress", *LIMITS],
        ])
    print(f"\nFAULT {fault}: check exit {check_code} in {check_s:.1f}s, "
          f"bench exit {bench_code} in {bench_s:.1f}s")
    expect = EXPECT[fault]
    assert "Traceback" not in check_text + bench_text
    assert (check_code, bench_code) == ((0, 0) if expect is None else (1, 1)), \
        check_text + bench_text
    assert check_s < CHECK_BOUND_S and bench_s < BENCH_BOUND_S
    check_doc = json.loads(report.read_text())
    bench_doc = json.loads(result.read_text())
    assert junit.read_text().startswith("<?xml")
    assert_no_key(check_text, bench_text, report.read_text(), junit.read_text(),
                  result.read_text())
    if expect is not None:
        assert_named_failures(check_doc, bench_doc, *expect)


def assert_named_failures(check_doc: dict[str, Any], bench_doc: dict[str, Any],
                          check_text: str, bench_text: str) -> None:
    failed = [r for r in check_doc["results"] if r["status"] == "fail"]
    assert [r["name"] for r in failed if r["name"] == "health"] == []
    said = [r["reason"] + " " + str(r["details"].get("error_kind")) for r in failed]
    assert any(check_text in s for s in said), said
    (endpoint,) = bench_doc["endpoints"]
    assert bench_text in (endpoint["error"] or ""), endpoint


@pytest.mark.parametrize("command", ["check", "bench"])
@pytest.mark.parametrize("base_url", ["not a url", "ftp://host/x", "http://:8000",
                                      "http://host:port"])
def test_base_url_that_is_not_a_url_is_a_usage_error(tmp_path: Path, command: str,
                                                     base_url: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "smoke", command, "--outputs",
                           str(outputs_file(tmp_path, base_url, 8000))], cwd=REPO,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "base_url is not" in proc.stderr and "Traceback" not in proc.stderr
