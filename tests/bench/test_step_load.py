"""`smoke bench --step-load`: the step spec, the scale-out/in computation, the replica sampler's
error kinds, and the CLI end to end against the scripted chat server (no engine).

The Prometheus here is a scripted answer to `/api/v1/query` (what the sampler reads); the real
Prometheus scraping a real engine is tests/e2e/test_step_load_e2e.py.
"""

from __future__ import annotations

import argparse
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from smoke.__main__ import main
from smoke.local import free_port
from smoke.replicas import (
    PrometheusReplicas,
    Sample,
    StepMark,
    default_queries,
    scale_events,
    scale_in,
    scale_out,
)
from smoke.step_load import parse_steps
from tests.bench.conftest import FakeServer

pytestmark = pytest.mark.timeout(60)

# --- the spec --------------------------------------------------------------------------------


def test_steps_follow_each_other() -> None:
    steps = parse_steps("2:60, 12:120,0.5:30")
    assert [(s.rate, s.seconds, s.start_s) for s in steps] == [
        (2.0, 60.0, 0.0), (12.0, 120.0, 60.0), (0.5, 30.0, 180.0)]
    assert steps[-1].end_s == 210.0


@pytest.mark.parametrize(("text", "words"), [
    ("2:60", "at least two"),
    ("2:60,abc", "step 2 'abc'"),
    ("2:60,12", "step 2 '12'"),
    ("0:60,2:60", "step 1 '0:60'"),
    ("2:60,inf:10", "step 2"),
    ("2:60,3:-1", "step 2"),
    ("2:60,3:nan", "step 2"),
    ("4:10,4:20", "same rate"),
])
def test_bad_specs_are_refused(text: str, words: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        parse_steps(text)


def _bench(*args: str) -> int:
    return main(["bench", "--no-progress", *args])


@pytest.mark.parametrize(("extra", "words"), [
    (["--step-load", "2:60"], "at least two RATE:SECONDS steps"),
    (["--step-load", "2:5,x:5"], "expected RATE:SECONDS"),
])
def test_the_cli_names_a_bad_spec_and_exits_2(tmp_path: Path, extra: list[str], words: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _bench("--outputs", str(tmp_path / "never-read.json"), *extra)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "words"), [
    (["--step-load", "1:1,2:1", "--rate", "3"], "drop --rate"),
    (["--step-load", "1:1,2:1", "--duration", "3"], "drop --duration"),
    (["--replica-query", "up"], "go with --step-load"),
])
def test_the_cli_refuses_clashing_flags_with_exit_2(fake_server: FakeServer, tmp_path: Path,
                                                    extra: list[str], words: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    outputs = fake_server.outputs_file(tmp_path)
    assert _bench("--outputs", str(outputs), *extra) == 2
    assert words in capsys.readouterr().err
    assert not fake_server.state.requests, "a usage error must not send load"


# --- scale out / scale in --------------------------------------------------------------------

STEPS = [StepMark(0, 60, 2), StepMark(60, 180, 12), StepMark(180, 300, 2)]


def test_scale_out_counts_from_the_step_up_to_the_first_higher_sample() -> None:
    points = [(0.0, 1), (30.0, 1), (61.0, 1), (95.0, 2), (100.0, 3)]
    event = scale_out(points, STEPS)
    assert event == {"seconds": 35.0, "step_start_s": 60, "from": 1, "to": 2,
                     "within_step": True}


def test_scale_out_compares_with_the_count_just_before_the_step_up() -> None:
    # Two replicas already before the step: a third one is the scale-out, not the second.
    points = [(0.0, 1), (50.0, 2), (70.0, 2), (130.0, 3)]
    assert scale_out(points, STEPS)["seconds"] == 70.0


def test_no_scale_out_is_named_not_zero() -> None:
    event = scale_out([(0.0, 1), (100.0, 1), (250.0, 1)], STEPS)
    assert event["seconds"] is None and "did not scale out" in event["reason"]
    late = scale_out([(0.0, 1), (250.0, 2)], STEPS)
    assert late["seconds"] == 190.0 and late["within_step"] is False


def test_scale_in_counts_from_the_step_down_to_the_first_sample_below_the_peak() -> None:
    points = [(0.0, 1), (90.0, 3), (170.0, 3), (200.0, 3), (260.0, 2), (290.0, 1)]
    assert scale_in(points, STEPS) == {"seconds": 80.0, "step_start_s": 180, "from": 3,
                                       "to": 2, "within_step": True}
    stays = scale_in([(0.0, 1), (90.0, 2), (290.0, 2)], STEPS)
    assert stays["seconds"] is None and "did not scale in" in stays["reason"]


def test_scale_events_per_series_skip_failed_samples() -> None:
    samples = [Sample(0.0, {"ready": 1, "desired": 1}),
               Sample(65.0, {"ready": None, "desired": 2}, {"ready": "no_sample"}),
               Sample(75.0, {"ready": 2, "desired": 2})]
    events = scale_events(samples, STEPS)
    assert events["desired"]["scale_out"]["seconds"] == 5.0
    assert events["ready"]["scale_out"]["seconds"] == 15.0


def test_no_step_up_means_no_event() -> None:
    down = [StepMark(0, 10, 5), StepMark(10, 20, 1)]
    assert scale_out([(0.0, 1)], down)["reason"] == "no step up in the load"
    assert scale_in([(0.0, 1)], down)["reason"] == "no step down after a step up"


# --- the sampler against a scripted Prometheus API -------------------------------------------


class ScriptedPrometheus:
    """Answers instant queries from `series[query]` (a list of values, one series each)."""

    def __init__(self) -> None:
        self.series: dict[str, list[float]] = {}
        self.queries: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)["query"][0]
                owner.queries.append(query)
                result = [{"metric": {"i": str(i)}, "value": [time.time(), str(v)]}
                          for i, v in enumerate(owner.series.get(query, []))]
                body = json.dumps({"status": "success",
                                   "data": {"resultType": "vector", "result": result}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def prometheus() -> Iterator[ScriptedPrometheus]:
    scripted = ScriptedPrometheus()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


def test_each_failure_is_a_named_kind(prometheus: ScriptedPrometheus) -> None:
    queries = {"ready": "one", "desired": "two", "x": "none"}
    prometheus.series = {"one": [3.0], "two": [1.0, 1.0]}
    sample = PrometheusReplicas(prometheus.url, queries).sample(1.0)
    assert sample.values == {"ready": 3, "desired": None, "x": None}
    assert sample.errors == {"desired": "several_series", "x": "no_sample"}
    down = PrometheusReplicas(f"http://127.0.0.1:{free_port()}", {"ready": "one"}).sample(1.0)
    assert down.errors == {"ready": "prometheus_unreachable"}


def test_default_queries_name_the_deployment_as_kube_state_metrics_labels_it() -> None:
    assert default_queries("inference", "qwen") == {
        "ready": 'kube_deployment_status_replicas_available{namespace="inference", '
                 'deployment="qwen"}',
        "desired": 'kube_deployment_spec_replicas{namespace="inference", deployment="qwen"}'}
    assert default_queries(None, "local")["ready"].endswith('{deployment="local"}')


# --- the CLI end to end (scripted chat server) -----------------------------------------------


def _run(fake_server: FakeServer, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    outputs = fake_server.outputs_file(tmp_path, {"ttft_p95_ms": 5000})
    report = tmp_path / "r.json"
    code = _bench("--outputs", str(outputs), "--warmup", "1", "--output-tokens", "3",
                  "--step-load", "4:1.5,40:1.5,4:1.5", "--sample-interval", "0.25",
                  "--report", str(report), *extra)
    return code, json.loads(report.read_text())["endpoints"][0]


def test_step_load_reports_each_step_and_the_scale_out(
        fake_server: FakeServer, prometheus: ScriptedPrometheus, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ready = default_queries(None, "fake")["ready"]
    prometheus.series = {ready: [1.0]}
    # The stand-in autoscaler: two replicas 0.5 s into the step up (which starts at 1.5 s
    # after the warmup and the preflight, so it is timed from the first step-up request).
    def scale_when_loaded() -> None:
        while len(fake_server.state.requests) < 12:
            time.sleep(0.01)
        time.sleep(0.5)
        prometheus.series[ready] = [2.0]

    threading.Thread(target=scale_when_loaded, daemon=True).start()
    code, endpoint = _run(fake_server, tmp_path, "--prometheus-url", prometheus.url)
    assert code == 0
    labels = [p["label"] for p in endpoint["load_points"]]
    assert labels == ["step1 rate=4", "step2 rate=40", "step3 rate=4"]
    step2 = endpoint["load_points"][1]["summary"]
    assert step2["requests"] > endpoint["load_points"][0]["summary"]["requests"]
    assert step2["ttft_ms"]["p95"] > 0 and step2["request_throughput"] > 0
    block = endpoint["step_load"]
    assert block["sample_errors"] == {"no_sample": len(block["replicas"])}  # no desired series
    event = block["events"]["ready"]["scale_out"]
    assert event["from"] == 1 and event["to"] == 2
    assert 0.5 <= event["seconds"] <= 1.5 + 0.25 + 0.5
    assert "ready replicas: scale out 1 -> 2" in capsys.readouterr().out


def test_an_unreachable_prometheus_is_named_and_the_load_still_completes(
        fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, endpoint = _run(fake_server, tmp_path, "--prometheus-url",
                          f"http://127.0.0.1:{free_port()}")
    assert code == 0
    assert len(endpoint["load_points"]) == 3
    assert all(p["summary"]["completed"] > 0 for p in endpoint["load_points"])
    block = endpoint["step_load"]
    assert set(block["sample_errors"]) == {"prometheus_unreachable"}
    assert block["events"] == {}
    out = capsys.readouterr().out
    assert "replica sampling errors: prometheus_unreachable=" in out and "Traceback" not in out


def test_outputs_without_a_prometheus_name_the_missing_source(
        fake_server: FakeServer, tmp_path: Path) -> None:
    code, endpoint = _run(fake_server, tmp_path)
    assert code == 0 and endpoint["step_load"]["sample_errors"] == {"no_replica_source": 1}
    assert "give --prometheus-url" in endpoint["step_load"]["replica_source_error"]


def test_an_in_cluster_prometheus_without_a_kubeconfig_is_named_unreachable(
        fake_server: FakeServer, tmp_path: Path) -> None:
    outputs = fake_server.outputs_file(tmp_path, {})
    doc = json.loads(outputs.read_text())
    doc["observability"] = {"mode": "bundled", "prometheus": {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        "namespace": "monitoring", "service": "kube-prometheus-stack-prometheus", "port": 9090,
        "port_forward": "kubectl port-forward ..."}}
    outputs.write_text(json.dumps(doc))
    report = tmp_path / "r.json"
    assert _bench("--outputs", str(outputs), "--warmup", "0", "--output-tokens", "2",
                  "--step-load", "5:0.5,20:0.5", "--report", str(report)) == 0
    block = json.loads(report.read_text())["endpoints"][0]["step_load"]
    assert block["sample_errors"] == {"prometheus_unreachable": 1}
    assert "no kubeconfig" in block["replica_source_error"]
