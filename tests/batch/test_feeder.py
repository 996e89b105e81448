"""The batch feeder against a recording stand-in engine: validation, sharding, resume, status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components.batch_feeder import EXIT_INVALID, EXIT_OK, EXIT_RETRY, cli
from components.batch_feeder.requests_file import InvalidInput, shard, validate_lines
from components.batch_feeder.results import Progress
from components.batch_feeder.serve import start_server
from smoke.batch import status_from_log
from smoke.batch_checks import coverage_problems
from tests.batch.fakes import RecordingEngine, chat_line, read_ids, write_jsonl
from tests.helpers import ROOT

pytestmark = pytest.mark.timeout(120)


def feed(inp: Path | str, out: Path, url: str, *extra: str) -> int:
    return cli.main(["--input", str(inp), "--output-dir", str(out), "--engine-url", url,
                     "--metrics-port", "0", "--served-model", "tiny-llama",
                     "--work-dir", str(out.parent / "work"), *extra])


def status_of(out: Path, index: int = 0) -> dict:
    return json.loads((out / f"shard-{index:05d}" / "status.json").read_text())


def lines_of(*docs: object) -> list[str]:
    return [d if isinstance(d, str) else json.dumps(d) for d in docs]


def test_validation_names_every_bad_line() -> None:
    get = {**chat_line("c"), "method": "GET"}
    extra = {**chat_line("f"), "metadata": {}}
    lines = lines_of(chat_line("a"), "{not json", {"custom_id": "b", "method": "POST"}, get,
                     {**chat_line("d"), "url": "/v1/responses"}, chat_line("e", stream=True),
                     chat_line("a"), extra, chat_line("g", model="other"), "", [1])
    with pytest.raises(InvalidInput) as info:
        validate_lines(lines, model="tiny-llama")
    problems = "\n".join(info.value.problems)
    for expected in ("line 2: not JSON", "line 3: missing url, body", "line 4: method must be",
                     "line 5: url '/v1/responses'", "line 6: body.stream", "line 7: custom_id "
                     "'a' already used on line 1", "line 8: unknown key(s) metadata",
                     "line 9: body.model 'other'", "line 10: empty line",
                     "line 11: not a JSON object"):
        assert expected in problems
    assert info.value.total_problems == 10


def test_one_url_per_file() -> None:
    embed = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings",
             "body": {"input": "x"}}
    with pytest.raises(InvalidInput, match="one url per batch file"):
        validate_lines(lines_of(chat_line("a"), embed))


def test_shards_partition_the_file_and_do_not_move_when_lines_are_added() -> None:
    requests = validate_lines(lines_of(*[chat_line(f"r{i}") for i in range(100)]))
    parts = [{r.custom_id for r in shard(requests, i, 4)} for i in range(4)]
    assert set().union(*parts) == {f"r{i}" for i in range(100)}
    assert sum(len(p) for p in parts) == 100 and all(parts)
    grown = validate_lines(lines_of(chat_line("new"), *[chat_line(f"r{i}") for i in range(100)]))
    regrown = [{r.custom_id for r in shard(grown, i, 4)} - {"new"} for i in range(4)]
    assert regrown == parts


def test_bad_input_fails_before_any_request_or_engine_wait(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line("a"), "{oops", chat_line("a")])
    engine = RecordingEngine(healthy=False)
    start = time.monotonic()
    with engine.serve() as url:
        code = feed(inp, tmp_path / "out", url, "--health-timeout", "60")
    assert code == EXIT_INVALID and time.monotonic() - start < 10
    assert engine.requests == []
    status = status_of(tmp_path / "out")
    assert status["status"] == "failed" and "line 2: not JSON" in status["error"]
    assert "line 3: custom_id 'a' already used on line 1" in status["error"]


def test_run_writes_openai_output_and_error_lines(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl",
                      [chat_line(f"r{i}") for i in range(12)] + [chat_line("x", "bad-request")])
    engine = RecordingEngine()
    with engine.serve() as url:
        assert feed(inp, tmp_path / "out", url, "--concurrency", "3") == EXIT_OK
    shard_dir = tmp_path / "out" / "shard-00000"
    records = [json.loads(x) for x in (shard_dir / "output.jsonl").read_text().splitlines()]
    assert sorted(r["custom_id"] for r in records) == sorted(f"r{i}" for i in range(12))
    first = records[0]
    assert set(first) == {"id", "custom_id", "response", "error"} and first["error"] is None
    assert first["id"].startswith("batch_req_")
    assert first["response"]["status_code"] == 200
    assert first["response"]["request_id"].startswith("cmpl-")
    assert first["response"]["body"]["echo"]["messages"][0]["content"] == "hi"
    (error,) = [json.loads(x) for x in (shard_dir / "errors.jsonl").read_text().splitlines()]
    assert error["custom_id"] == "x" and error["response"]["status_code"] == 400
    status = status_of(tmp_path / "out")
    assert (status["status"], status["total"], status["completed"], status["failed"]) == (
        "completed", 13, 12, 1)
    assert len(engine.requests) == 13
    # The last log line is the final status, as `smoke batch` reads it from a finished pod.
    logged = status_from_log(capsys.readouterr().out, "log")
    assert logged is not None and (logged.status, logged.completed) == ("completed", 12)


def test_resume_skips_answered_ids_and_cuts_a_torn_last_line(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(10)])
    shard_dir = tmp_path / "out" / "shard-00000"
    shard_dir.mkdir(parents=True)
    done = [json.dumps({"id": "batch_req_x", "custom_id": f"r{i}", "error": None,
                        "response": {"status_code": 200, "request_id": "", "body": {}}})
            for i in range(3)]
    (shard_dir / "output.jsonl").write_text("\n".join(done) + '\n{"id": "batch_req_y", "cus')
    engine = RecordingEngine()
    with engine.serve() as url:
        assert feed(inp, tmp_path / "out", url) == EXIT_OK
    assert len(engine.requests) == 7
    ids = read_ids(shard_dir / "output.jsonl")
    assert sorted(ids) == sorted(f"r{i}" for i in range(10))
    assert coverage_problems(inp, tmp_path / "out") == []
    assert status_of(tmp_path / "out")["completed"] == 10


def test_a_restarted_shard_never_reports_fewer_answers(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(10)])
    with RecordingEngine().serve() as url:
        assert feed(inp, tmp_path / "out", url) == EXIT_OK
        # The validation step of the next attempt rewrites the status before counting.
        assert feed(inp, tmp_path / "out", url, "--validate-only") == EXIT_OK
    status = status_of(tmp_path / "out")
    assert (status["total"], status["completed"], status["status"]) == (10, 10, "validating")


def test_corruption_before_the_last_line_is_refused(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line("r0"), chat_line("r1")])
    shard_dir = tmp_path / "out" / "shard-00000"
    shard_dir.mkdir(parents=True)
    (shard_dir / "output.jsonl").write_text('garbage\n{"custom_id": "r0"}\n')
    engine = RecordingEngine()
    with engine.serve() as url:
        assert feed(inp, tmp_path / "out", url) == EXIT_INVALID
    assert engine.requests == []


def test_results_of_another_shard_layout_are_refused(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line("r0")])
    shard_dir = tmp_path / "out" / "shard-00000"
    shard_dir.mkdir(parents=True)
    (shard_dir / "output.jsonl").write_text('{"custom_id": "elsewhere"}\n')
    with RecordingEngine().serve() as url:
        assert feed(inp, tmp_path / "out", url) == EXIT_INVALID
    assert "not in this shard" in status_of(tmp_path / "out")["error"]


def test_shards_together_answer_every_request_once(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(30)])
    engine = RecordingEngine()
    with engine.serve() as url:
        for index in range(3):
            assert feed(inp, tmp_path / "out", url, "--shard-index", str(index),
                        "--shard-count", "3") == EXIT_OK
    totals = [status_of(tmp_path / "out", i)["total"] for i in range(3)]
    assert sum(totals) == 30 and min(totals) > 0
    assert len(engine.requests) == 30
    assert coverage_problems(inp, tmp_path / "out") == []


def test_engine_never_healthy_is_a_retryable_failure(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line("r0")])
    with RecordingEngine(healthy=False).serve() as url:
        assert feed(inp, tmp_path / "out", url, "--health-timeout", "2") == EXIT_RETRY
    status = status_of(tmp_path / "out")
    assert status["status"] == "failed" and "not healthy after 2s" in status["error"]


def test_an_engine_outage_is_waited_out_in_place(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(30)])
    engine = RecordingEngine(outage=(10, 1.5))
    with engine.serve() as url:
        code = feed(inp, tmp_path / "out", url, "--retries", "0", "--health-timeout", "20")
    assert code == EXIT_OK
    assert coverage_problems(inp, tmp_path / "out") == []
    status = status_of(tmp_path / "out")
    assert (status["status"], status["completed"], status["failed"]) == ("completed", 30, 0)
    assert len(engine.requests) > 30  # the requests refused during the outage were re-sent


def test_an_outage_beyond_the_health_deadline_fails_the_attempt(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(30)])
    with RecordingEngine(outage=(10, 30.0)).serve() as url:
        code = feed(inp, tmp_path / "out", url, "--retries", "0", "--health-timeout", "1")
    assert code == EXIT_RETRY
    status = status_of(tmp_path / "out")
    assert status["status"] == "failed" and "not healthy after 1s" in status["error"]
    assert 0 < status["completed"] < 30


def test_http_input_is_downloaded_first(tmp_path: Path) -> None:
    served = tmp_path / "site"
    served.mkdir()
    write_jsonl(served / "in.jsonl", [chat_line("r0"), chat_line("r1")])
    site = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                            cwd=served, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert site.stdout is not None
        port = site.stdout.readline().split(" port ")[1].split(" ")[0]
        engine = RecordingEngine()
        with engine.serve() as url:
            code = feed(f"http://127.0.0.1:{port}/in.jsonl", tmp_path / "out", url)
    finally:
        site.terminate()
        site.wait()
    assert code == EXIT_OK and len(engine.requests) == 2
    assert (tmp_path / "work" / "input.jsonl").is_file()


def test_metrics_and_status_are_served(tmp_path: Path) -> None:
    progress = Progress(tmp_path / "status.json", 1, 2)
    progress.update(status="in_progress", phase="sending", total=5)
    progress.counted(True)
    progress.counted(False)
    server = start_server(progress, 0, host="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        status = json.loads(urllib.request.urlopen(f"{base}/status", timeout=5).read())
    finally:
        server.shutdown()
    assert 'batch_requests_total{shard="1"} 5' in metrics
    assert 'batch_requests_completed_total{shard="1"} 1' in metrics
    assert 'batch_requests_failed_total{shard="1"} 1' in metrics
    assert 'batch_status{shard="1",status="in_progress"} 1' in metrics
    assert 'batch_status{shard="1",status="completed"} 0' in metrics
    assert "batch_last_progress_timestamp_seconds{" in metrics
    assert (status["completed"], status["failed"], status["shard"]) == (1, 1, 1)


def _spawn(inp: Path, out: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "components.batch_feeder", "--input", str(inp),
           "--output-dir", str(out), "--engine-url", url, "--metrics-port", "0", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(predicate, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_heartbeat_keeps_the_status_fresh_while_no_progress_is_made(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line("r0")])
    out = tmp_path / "out"
    with RecordingEngine(healthy=False).serve() as url:
        proc = _spawn(inp, out, url, "--health-timeout", "30", "--status-interval", "0.3")
        try:
            _wait_for(lambda: (out / "shard-00000" / "status.json").exists()
                      and status_of(out)["phase"] == "waiting_for_engine")
            first = status_of(out)
            time.sleep(1.0)
            second = status_of(out)
        finally:
            proc.kill()
            proc.wait()
    assert second["updated_at"] - first["updated_at"] >= 0.5
    assert second["last_progress_at"] == first["last_progress_at"]
    assert second["status"] == "in_progress"


def test_sigterm_leaves_a_failed_status_and_durable_results(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(200)])
    out = tmp_path / "out"
    output = out / "shard-00000" / "output.jsonl"
    with RecordingEngine(delay_s=0.05).serve() as url:
        proc = _spawn(inp, out, url, "--concurrency", "2")
        _wait_for(lambda: len(read_ids(output)) >= 5)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    status = status_of(out)
    assert status["status"] == "failed" and "SIGTERM" in status["error"]
    assert status["completed"] == len(read_ids(output)) < 200


def test_sigkill_then_restart_answers_every_request_once(tmp_path: Path) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(80)])
    out = tmp_path / "out"
    output = out / "shard-00000" / "output.jsonl"
    engine = RecordingEngine(delay_s=0.05)
    with engine.serve() as url:
        proc = _spawn(inp, out, url, "--concurrency", "4")
        _wait_for(lambda: len(read_ids(output)) >= 20)
        proc.kill()
        proc.wait()
        killed_at = len(read_ids(output))
        assert killed_at < 80
        restarted = _spawn(inp, out, url, "--concurrency", "4")
        assert restarted.wait(timeout=60) == EXIT_OK, restarted.stderr
    assert coverage_problems(inp, out) == []
    assert status_of(out)["completed"] == 80
    # At most the requests in flight at the kill are sent twice; none is recorded twice.
    assert len(engine.requests) - 80 <= 4
