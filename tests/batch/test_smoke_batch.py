"""`python -m smoke batch` on fake status files: fresh, stale, inconsistent, gaps, duplicates."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import pytest
from kubernetes.client import V1ObjectMeta, V1Pod, V1PodStatus

from components.batch_feeder import DEFAULT_METRICS_PORT, STATUS_LOG_PREFIX, STATUSES
from components.batch_feeder.results import Progress
from components.batch_feeder.serve import start_server
from smoke import batch
from smoke.batch_checks import Bounds, ShardStatus
from smoke.outputs import OutputsError
from tests.batch.fakes import chat_line, write_jsonl
from tests.helpers import ROOT

JOB = {"job": "nightly", "namespace": "batch", "input": "s3://in/b.jsonl",
       "output": "pvc://results/runs/1", "status": "pvc://results/runs/1/shard-*/status.json"}


def outputs_file(tmp_path: Path, jobs: dict[str, Any] | None = None) -> Path:
    doc = {"schema_version": 1, "platform": "eks", "endpoints": {}, "kubeconfig": None,
           "batch_jobs": {"nightly": JOB} if jobs is None else jobs}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(doc))
    return path


def status(shard: int = 0, shards: int = 1, **changes: Any) -> dict[str, Any]:
    now = time.time()
    doc = {"status": "in_progress", "phase": "sending", "shard": shard, "shards": shards,
           "total": 10, "completed": 4, "failed": 1, "in_flight": 2, "started_at": now - 100,
           "updated_at": now - 2, "last_progress_at": now - 1, "error": None}
    return {**doc, **changes}


def write_status(out: Path, doc: dict[str, Any]) -> Path:
    path = out / f"shard-{doc['shard']:05d}" / "status.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def answers(out: Path, shard: int, ids: list[str], name: str = "output.jsonl") -> None:
    path = out / f"shard-{shard:05d}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": "batch_req_1", "custom_id": i, "error": None,
                                        "response": {"status_code": 200}}) + "\n"
                            for i in ids))


def smoke_batch(tmp_path: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    batch.add_arguments(parser)
    args = parser.parse_args(["--outputs", str(outputs_file(tmp_path)), *argv])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = batch.run(args)
    return code, stdout.getvalue()


def test_fresh_progress_passes(tmp_path: Path) -> None:
    write_status(tmp_path / "out", status())
    code, text = smoke_batch(tmp_path, "--status-file", str(tmp_path / "out"))
    assert code == 0, text
    assert "shard 0/1 in_progress (sending): 4/10 completed, 1 failed" in text
    assert "OK: progressing" in text


def test_stale_status_fails_even_with_plausible_counts(tmp_path: Path) -> None:
    path = write_status(tmp_path / "out", status(updated_at=time.time() - 300))
    code, text = smoke_batch(tmp_path, "--status-file", str(path), "--stale-after", "60")
    assert code == 1 and "status is stale: not updated for 300s (bound 60s)" in text


def test_no_answer_for_too_long_while_sending_fails(tmp_path: Path) -> None:
    path = write_status(tmp_path / "out", status(last_progress_at=time.time() - 1000))
    code, text = smoke_batch(tmp_path, "--status-file", str(path))
    assert code == 1 and "no answer for 1000s (bound 900s) while sending" in text


def test_waiting_for_the_engine_is_not_a_lack_of_progress(tmp_path: Path) -> None:
    path = write_status(tmp_path / "out", status(phase="waiting_for_engine",
                                                 last_progress_at=time.time() - 1000))
    assert smoke_batch(tmp_path, "--status-file", str(path))[0] == 0


@pytest.mark.parametrize(("changes", "message"), [
    ({"completed": 9, "failed": 3}, "completed 9 + failed 3 > total 10"),
    ({"failed": -1}, "negative count"),
    ({"status": "completed", "phase": "done"}, "completed with 5 request(s) unanswered"),
    ({"shard": 3, "shards": 2}, "index out of range"),
])
def test_inconsistent_counts_fail(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = write_status(tmp_path / "out", status(**changes))
    code, text = smoke_batch(tmp_path, "--status-file", str(path))
    assert code == 1 and message in text


def test_counts_going_down_between_polls_fail() -> None:
    docs = iter([status(completed=6), status(completed=5)])

    def source() -> list[ShardStatus]:
        return [ShardStatus.model_validate(next(docs))]

    with contextlib.redirect_stdout(io.StringIO()):
        finished, problems = batch.watch(source, Bounds(), wait=True, interval_s=0,
                                         timeout_s=None, sleep=lambda s: None)
    assert not finished and problems == ["shard 0: completed went down from 6 to 5"]


def test_failed_shard_fails_with_its_reason(tmp_path: Path) -> None:
    path = write_status(tmp_path / "out", status(status="failed", phase="done",
                                                 error="engine not healthy after 1800s"))
    code, text = smoke_batch(tmp_path, "--status-file", str(path))
    assert code == 1 and "shard 0: failed: engine not healthy after 1800s" in text


def _finished_run(tmp_path: Path, ids_per_shard: list[list[str]]) -> tuple[Path, Path]:
    inp = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(6)])
    out = tmp_path / "out"
    for shard, ids in enumerate(ids_per_shard):
        answers(out, shard, ids)
        write_status(out, status(shard, 2, status="completed", phase="done", total=len(ids),
                                 completed=len(ids), failed=0, in_flight=0))
    return inp, out


def test_finished_run_with_every_id_once_passes(tmp_path: Path) -> None:
    inp, out = _finished_run(tmp_path, [["r0", "r2", "r4"], ["r1", "r3", "r5"]])
    code, text = smoke_batch(tmp_path, "--status-file", str(out), "--input", str(inp),
                             "--output-dir", str(out))
    assert code == 0, text
    assert "every input custom_id answered exactly once" in text and "OK: finished" in text


def test_finished_run_with_gaps_fails(tmp_path: Path) -> None:
    inp, out = _finished_run(tmp_path, [["r0", "r2"], ["r1", "r3", "r5"]])
    code, text = smoke_batch(tmp_path, "--status-file", str(out), "--input", str(inp),
                             "--output-dir", str(out))
    assert code == 1 and "1 custom_id(s) missing: r4" in text


def test_finished_run_with_duplicates_fails(tmp_path: Path) -> None:
    inp, out = _finished_run(tmp_path, [["r0", "r2", "r4"], ["r1", "r3", "r5"]])
    answers(out, 1, ["r4"], name="errors.jsonl")
    code, text = smoke_batch(tmp_path, "--status-file", str(out), "--input", str(inp),
                             "--output-dir", str(out))
    assert code == 1 and "1 custom_id(s) duplicated: r4" in text


def test_wait_gives_up_when_a_shard_never_reports(tmp_path: Path) -> None:
    write_status(tmp_path / "out", status(0, 2, status="completed", phase="done",
                                          completed=9, failed=1))
    code, text = smoke_batch(tmp_path, "--status-file", str(tmp_path / "out"), "--wait",
                             "--interval", "0.1", "--timeout", "0.3")
    assert code == 1 and "not finished after --timeout 0.3s" in text


def test_no_status_at_all_fails(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    code, text = smoke_batch(tmp_path, "--status-file", str(tmp_path / "out"))
    assert code == 1 and "no shard status found" in text


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smoke", "batch", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    good = outputs_file(tmp_path)
    assert _cli("--outputs", str(good), "--input", "x.jsonl").returncode == 2
    assert _cli("--outputs", str(good), "--job", "other",
                "--status-file", "x").returncode == 2
    assert _cli("--status-file", "x").returncode == 2  # neither --stack nor --outputs
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli("--outputs", str(outputs_file(empty, {})), "--status-file", "x").returncode == 2


def test_cli_reads_the_job_from_outputs(tmp_path: Path) -> None:
    write_status(tmp_path / "out", status())
    proc = _cli("--outputs", str(outputs_file(tmp_path)), "--status-file", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "batch job nightly in batch: input s3://in/b.jsonl" in proc.stdout


def _pod(name: str, index: int, phase: str, created_s: float) -> V1Pod:
    meta = V1ObjectMeta(name=name, annotations={batch.COMPLETION_INDEX: str(index)},
                        creation_timestamp=datetime.fromtimestamp(created_s, UTC))
    return V1Pod(metadata=meta, status=V1PodStatus(phase=phase))


def test_cluster_source_reads_each_shards_latest_pod(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Running shard: /status through the port-forward (replaced by a plain socket to a real
    feeder status server). Finished shard: the final status line of its latest pod's log."""
    progress = Progress(tmp_path / "status.json", 0, 3)
    progress.update(status="in_progress", phase="sending", total=3)
    progress.counted(True)
    server = start_server(progress, 0, host="127.0.0.1")
    final = status(1, 3, status="completed", phase="done", total=4, completed=4, failed=0)
    forwarded: list[tuple[str, str, int]] = []
    logs_read: list[tuple[str, str]] = []

    class FakeCore:
        def list_namespaced_pod(self, namespace: str, label_selector: str,
                                _request_timeout: Any) -> Any:
            assert (namespace, label_selector) == ("batch",
                                                   "batch.kubernetes.io/job-name=nightly")
            return SimpleNamespace(items=[
                _pod("n-0-a", 0, "Running", 200), _pod("n-1-old", 1, "Failed", 100),
                _pod("n-1-new", 1, "Succeeded", 300), _pod("n-2-a", 2, "Pending", 300)])

        def read_namespaced_pod_log(self, name: str, namespace: str, container: str,
                                    tail_lines: int, _request_timeout: Any) -> str:
            logs_read.append((name, container))
            return "shard 1/3: 4 request(s)\n" + batch.STATUS_LOG_PREFIX + json.dumps(final)

    def fake_socket(core: Any, namespace: str, pod: str, port: int) -> socket.socket:
        forwarded.append((namespace, pod, port))
        return socket.create_connection(("127.0.0.1", server.server_port))

    monkeypatch.setattr(batch, "kube_core_api", lambda kubeconfig: FakeCore())
    monkeypatch.setattr(batch, "pod_socket", fake_socket)
    try:
        source = batch.cluster_source(batch.BatchJobOutput.model_validate(JOB), "kubeconfig")
        running, finished = source()
    finally:
        server.shutdown()
    assert forwarded == [("batch", "n-0-a", batch.STATUS_PORT)]
    assert logs_read == [("n-1-new", "feeder")]
    assert (running.shard, running.status, running.completed) == (0, "in_progress", 1)
    assert (finished.shard, finished.status, finished.completed) == (1, "completed", 4)


def test_cluster_source_needs_a_kubeconfig() -> None:
    with pytest.raises(OutputsError, match="no kubeconfig"):
        batch.cluster_source(batch.BatchJobOutput.model_validate(JOB), None)


def test_smoke_reads_the_feeders_names_port_and_log_line() -> None:
    assert get_args(ShardStatus.model_fields["status"].annotation) == STATUSES
    assert batch.STATUS_PORT == DEFAULT_METRICS_PORT
    assert batch.STATUS_LOG_PREFIX == STATUS_LOG_PREFIX
