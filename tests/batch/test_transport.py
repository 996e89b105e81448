"""S3 input and result upload against moto's mock S3; a missing boto3 fails before GPU time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.batch_feeder import EXIT_INVALID, EXIT_OK
from tests.batch.fakes import RecordingEngine, chat_line, write_jsonl
from tests.batch.test_feeder import feed, status_of

pytestmark = pytest.mark.moto


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3")
        for bucket in ("batch-in", "batch-out"):
            client.create_bucket(Bucket=bucket)
        yield client


def test_s3_input_is_fetched_and_results_uploaded(s3: Any, tmp_path: Path) -> None:
    local = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(5)])
    s3.upload_file(str(local), "batch-in", "jobs/in.jsonl")
    engine = RecordingEngine()
    with engine.serve() as url:
        code = feed("s3://batch-in/jobs/in.jsonl", tmp_path / "out", url,
                    "--upload-s3", "s3://batch-out/runs/7")
    assert code == EXIT_OK and len(engine.requests) == 5
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="batch-out")["Contents"])
    assert keys == [f"runs/7/shard-00000/{n}" for n in ("errors.jsonl", "output.jsonl",
                                                        "status.json")]
    uploaded = json.loads(s3.get_object(Bucket="batch-out",
                                        Key="runs/7/shard-00000/status.json")["Body"].read())
    assert (uploaded["status"], uploaded["completed"]) == ("completed", 5)


def test_missing_s3_object_is_a_retryable_failure(s3: Any, tmp_path: Path) -> None:
    with RecordingEngine().serve() as url:
        code = feed("s3://batch-in/nope.jsonl", tmp_path / "out", url)
    assert code == 1 and "downloading s3://batch-in/nope.jsonl" in status_of(
        tmp_path / "out")["error"]


def test_without_boto3_s3_fails_before_the_engine_is_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 -> ImportError
    local = write_jsonl(tmp_path / "in.jsonl", [chat_line("r0")])
    engine = RecordingEngine(healthy=False)
    with engine.serve() as url:
        code = feed(local, tmp_path / "out", url, "--upload-s3", "s3://batch-out/x",
                    "--health-timeout", "60")
    assert code == EXIT_INVALID and engine.requests == []
    assert "needs boto3" in status_of(tmp_path / "out")["error"]
