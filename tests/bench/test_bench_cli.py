"""`python -m smoke bench` end to end against the scripted server: result file, gates, usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smoke.__main__ import main
from smoke.results import SCHEMA
from tests.bench.conftest import API_KEY, FakeServer

pytestmark = pytest.mark.timeout(60)


def bench(outputs: Path, *extra: str) -> int:
    return main(["bench", "--outputs", str(outputs), "--no-progress", "--warmup", "1", *extra])


def test_sweep_writes_consistent_result(fake_server: FakeServer, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    outputs = fake_server.outputs_file(tmp_path, {"ttft_p95_ms": 5000, "success_rate_min": 1})
    report = tmp_path / "r.json"
    code = bench(outputs, "--concurrency", "1,3", "--rate", "50", "--num-requests", "9",
                 "--input-tokens", "40", "--output-tokens", "5", "--report", str(report))
    assert code == 0
    result = json.loads(report.read_text())
    assert result["schema"] == SCHEMA and result["passed"]
    endpoint = result["endpoints"][0]
    # The scripted server counts one token per word plus 5: calibration finds exactly that.
    assert endpoint["prompt_length"]["per_word"] == pytest.approx(1.0)
    assert endpoint["prompt_length"]["overhead"] == pytest.approx(5.0)
    assert [p["label"] for p in endpoint["load_points"]] == ["c=1", "c=3", "rate=50"]
    for point in endpoint["load_points"]:
        s = point["summary"]
        assert s["completed"] == 9 and s["success_rate"] == 1.0
        assert s["mean_prompt_tokens"] == pytest.approx(40)
        assert s["output_token_throughput"] * s["duration_s"] == pytest.approx(45)
        assert len(point["requests"]) == 9 and point["client"]["cpu_s"] > 0
    assert API_KEY not in report.read_text()
    table = capsys.readouterr().out
    assert "c=3" in table and "rate=50" in table and API_KEY not in table


def test_open_loop_rate_alone_runs_only_rate_points(fake_server: FakeServer,
                                                    tmp_path: Path) -> None:
    outputs = fake_server.outputs_file(tmp_path, {})
    report = tmp_path / "r.json"
    code = bench(outputs, "--rate", "40", "--num-requests", "4", "--output-tokens", "2",
                 "--report", str(report))
    assert code == 0
    points = json.loads(report.read_text())["endpoints"][0]["load_points"]
    assert [p["label"] for p in points] == ["rate=40"]


def test_impossible_slo_exits_1(fake_server: FakeServer, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    outputs = fake_server.outputs_file(tmp_path, {"ttft_p95_ms": 5000})
    code = bench(outputs, "--num-requests", "3", "--output-tokens", "2",
                 "--slo", "ttft_p95_ms=0.0001")
    assert code == 1
    assert "SLO ttft_p95_ms" in capsys.readouterr().out


def test_failed_requests_fail_success_rate_gate(fake_server: FakeServer, tmp_path: Path) -> None:
    outputs = fake_server.outputs_file(tmp_path, {"success_rate_min": 0.99})
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"prompt": "fine"}\n{"prompt": "server-error"}\n')
    report = tmp_path / "r.json"
    code = bench(outputs, "--num-requests", "4", "--dataset", str(dataset),
                 "--output-tokens", "2", "--report", str(report))
    assert code == 1
    summary = json.loads(report.read_text())["endpoints"][0]["load_points"][0]["summary"]
    assert summary["errors_by_kind"] == {"http_500": 2} and summary["success_rate"] == 0.5


def test_unreachable_endpoint_exits_1(tmp_path: Path) -> None:
    outputs = tmp_path / "o.json"
    outputs.write_text(json.dumps({"schema_version": 1, "platform": "local", "endpoints": {
        "dead": {"engine": "vllm", "model": "m", "served_model_name": "m",
                 "base_url": "http://127.0.0.1:9", "exposure": "public", "port": 9}}}))
    assert bench(outputs, "--num-requests", "2", "--connect-timeout", "2") == 1


@pytest.mark.parametrize("args", [
    ["--slo", "bogus=1"],
    ["--slo", "ttft_p95_ms=fast"],
    ["--concurrency", "0"],
    ["--num-requests", "3", "--duration", "2"],
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench(tmp_path / "o.json", *args)
    assert exc.value.code == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--rate", "inf", "--duration", "3"], "--rate inf"),
    (["--dataset", "missing.jsonl"], "missing.jsonl"),
    (["--max-concurrency", "3"], "--max-concurrency"),
])
def test_semantic_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], message: str) -> None:
    assert bench(tmp_path / "o.json", *args) == 2
    assert message in capsys.readouterr().err


def test_defaults_of_the_limits() -> None:
    from smoke.__main__ import build_parser

    args = build_parser("bench").parse_args(["bench", "--outputs", "o.json"])
    assert (args.connect_timeout, args.read_timeout, args.request_timeout) == (10.0, 30.0, 600.0)
    assert args.max_body_bytes == 16 * 1024 * 1024


def test_max_body_bytes_reaches_every_request(fake_server: FakeServer, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    # The one-token preflight fits in 2000 bytes; 50-token answers do not.
    code = bench(fake_server.outputs_file(tmp_path), "--num-requests", "2", "--output-tokens",
                 "50", "--no-calibrate", "--max-body-bytes", "2000", "--report", str(report),
                 "--slo", "success_rate_min=1")
    assert code == 1
    (point,) = json.loads(report.read_text())["endpoints"][0]["load_points"]
    assert point["summary"]["errors_by_kind"] == {"too_large": 2}


def test_request_timeout_reaches_every_request(fake_server: FakeServer, tmp_path: Path) -> None:
    fake_server.state.delay_s = 0.1
    report = tmp_path / "r.json"
    # The one-token preflight ends in 0.1 s; 20 tokens take 2 s.
    code = bench(fake_server.outputs_file(tmp_path), "--num-requests", "2", "--output-tokens",
                 "20", "--no-calibrate", "--request-timeout", "1", "--report", str(report),
                 "--slo", "success_rate_min=1")
    assert code == 1
    (point,) = json.loads(report.read_text())["endpoints"][0]["load_points"]
    assert point["summary"]["errors_by_kind"] == {"timeout": 2}
