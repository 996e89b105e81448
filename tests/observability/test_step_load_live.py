"""`python -m smoke bench --step-load` on a real engine and a real Prometheus (issue 16).

There is no Kubernetes here, so KEDA is played by a stand-in, and this test says so: a small
HTTP server exposes `kube_deployment_status_replicas_available` and `kube_deployment_spec_replicas`
with the Deployment's `namespace` and `deployment` labels, as kube-state-metrics does, and the
real local Prometheus scrapes it with `honor_labels` (kube-prometheus-stack's ServiceMonitor for
kube-state-metrics sets `honorLabels: true`). Every half second the stand-in runs the stack's
generated ScaledObject query (tests/observability/autoscaled.py) against that Prometheus, which
also scrapes the real vLLM engine (`--max-num-seqs 2`), and sets the replica count to what the
pure KEDA/HPA model decides (components/autoscaling: `recommend`, then `stabilized` with no
scale-up window and a 10 s scale-down window, so a momentary dip does not flap it and a
sampler delayed by a starved host still sees the second replica), noting when
it changed. It scales out once and in once, no more: a starved client can send a late burst
after the queue drained, and one change each way keeps "when did it change" well defined.
Only the replica count is simulated: the load, the queue and the query are real.

The report's time to scale out and in must match the stand-in's changes, measured from the
step that caused them: never earlier than the change, and no later than the first replica
sample asked a scrape interval after it (on a starved host the sampler's own gaps grow, so the
bound is read from the report's sample times); every step has its own TTFT percentiles.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from components.autoscaling import recommend, stabilized
from smoke.local_prometheus import LocalPrometheus, StaticTarget
from tests.observability import autoscaled

SCRAPE_S = 2  # Prometheus scrape interval (and scrape timeout)
SAMPLE_S = 1  # bench --sample-interval
# The middle step offers twice what two batch slots serve right now (measured first), so the
# queue grows by the capacity per second, far above the target of 5 per replica, and drains in
# about 10 s whatever the host's speed; the last step leaves room for that and the 10 s window.
LOW_RATE, UP_S, LOW_S = 0.3, 10.0, 40.0
OUTPUT_TOKENS = 128
ENDPOINT = "local"  # the endpoint name in the local outputs: the Deployment name queried


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a scrape that timed out on a busy host closed its socket: Prometheus counts it


class StandInAutoscaler:
    """Plays KEDA + kube-state-metrics: /metrics shows the replicas; a thread decides them."""

    def __init__(self, prometheus_url: str, query: str, policy: Any) -> None:
        self.prometheus_url, self.query, self.policy = prometheus_url, query, policy
        self.replicas = 1
        self.history: list[tuple[float, int]] = [(time.time(), 1)]
        self.changes: list[tuple[float, int]] = []  # (wall clock, new count)
        self.polls: list[tuple[float, int]] = []  # (wall clock, samples the query returned)
        self.seen: list[float] = []  # the query's values
        self.stop = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                labels = f'namespace="{autoscaled.NAMESPACE}",deployment="{ENDPOINT}"'
                body = "".join(
                    f"# TYPE {name} gauge\n{name}{{{labels}}} {owner.replicas}\n"
                    for name in ("kube_deployment_status_replicas_available",
                                 "kube_deployment_spec_replicas")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.thread = threading.Thread(target=self._decide, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _decide(self) -> None:
        while not self.stop.wait(0.5):
            try:
                result = requests.get(f"{self.prometheus_url}/api/v1/query",
                                      params={"query": self.query}, timeout=10).json()
            except requests.RequestException:
                continue  # a stalled host: KEDA too just misses a poll
            samples = result["data"]["result"]
            self.polls.append((time.time(), len(samples)))
            if len(samples) != 1:
                continue  # KEDA errors on an empty result (ignoreNullValues false): no change
            self.seen.append(float(samples[0]["value"][1]))
            now = time.time()
            self.history.append(
                (now, recommend(float(samples[0]["value"][1]), self.replicas, self.policy)))
            wanted = stabilized(self.history, now, self.replicas, self.policy)
            if wanted != self.replicas and len(self.changes) < 2:
                self.replicas = wanted
                self.changes.append((time.time(), wanted))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in(small_batch_engine: Any, prometheus_bin: str) -> Iterator[tuple[Any, Any, Any]]:
    engine = small_batch_engine
    meta = autoscaled.trigger("vllm", engine.served_model_name)
    engine_target = StaticTarget(engine.base_url.removeprefix("http://"), autoscaled.ENDPOINT,
                                 f"{autoscaled.ENDPOINT}-0", namespace=autoscaled.NAMESPACE)
    with LocalPrometheus([engine_target], scrape_interval_s=SCRAPE_S) as prometheus:
        policy = replace(autoscaled.policy("vllm", engine.served_model_name),
                         scale_down_window_s=10)
        scaler = StandInAutoscaler(prometheus.url, meta["query"], policy)
        try:
            prometheus.reload([engine_target, StaticTarget(
                scaler.address, "kube-state-metrics", "kube-state-metrics-0",
                namespace="monitoring", component="kube-state-metrics", honor_labels=True)])
            ready = (f'kube_deployment_status_replicas_available{{namespace='
                     f'"{autoscaled.NAMESPACE}", deployment="{ENDPOINT}"}}')
            assert prometheus.wait_for(ready, 20), prometheus.log_tail()
            assert prometheus.wait_for(meta["query"], 20), prometheus.log_tail()
            scaler.thread.start()
            yield engine, prometheus, scaler
        finally:
            scaler.close()


def _reached(changes: list[tuple[float, int]], after: float, to: int) -> float:
    """When the stand-in was first at `to` from `after` on (`after` itself if it already was)."""
    before = [n for t, n in changes if t < after]
    if (before[-1] if before else 1) == to:
        return after
    found = [t for t, n in changes if t >= after and n == to]
    assert found, f"the stand-in never went to {to} after {after}: {changes}"

    return found[0]


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(400)
@pytest.mark.skipif(not os.environ.get("STEP_LOAD_LIVE"), reason=(
    "timing-sensitive: on an oversubscribed host the client, the sampler and the scrapes are "
    "starved for seconds; run with STEP_LOAD_LIVE=1 on a quiet machine"))
def test_step_load_times_the_scale_out_and_in_that_the_real_queue_caused(
    stand_in: tuple[Any, Any, Any], tmp_path: Path,
) -> None:
    engine, prometheus, scaler = stand_in
    outputs = json.loads(engine.outputs_path.read_text())
    meta = autoscaled.trigger("vllm", engine.served_model_name)
    autoscaling = {"min": 1, "max": autoscaled.MAX, "target": float(meta["threshold"]),
                   "metric": meta["query"]}
    outputs["endpoints"][ENDPOINT].update(namespace=autoscaled.NAMESPACE,
                                          autoscaling=autoscaling)
    outputs_path = tmp_path / "outputs.json"
    outputs_path.write_text(json.dumps(outputs))
    report = tmp_path / "step.json"
    high = round(2 * autoscaled.capacity(engine, OUTPUT_TOKENS, tmp_path), 1)
    steps = [(LOW_RATE, 12.0), (high, UP_S), (LOW_RATE, LOW_S)]
    spec = ",".join(f"{rate:g}:{seconds:g}" for rate, seconds in steps)
    proc = subprocess.run(
        [sys.executable, "-m", "smoke", "bench", "--outputs", str(outputs_path),
         "--step-load", spec, "--sample-interval", str(SAMPLE_S), "--prometheus-url",
         prometheus.url, "--warmup", "0", "--input-tokens", "32",
         "--output-tokens", str(OUTPUT_TOKENS), "--read-timeout", "120",
         # Not an SLO test: an overloaded 2-core host may reset a connection or two.
         "--slo", "ttft_p95_ms=none", "--slo", "success_rate_min=none",
         "--no-progress", "--no-records", "--report", str(report)],
        capture_output=True, text=True, timeout=300, check=False)
    print("\n" + proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    endpoint = json.loads(report.read_text())["endpoints"][0]
    block = endpoint["step_load"]
    assert block["autoscaling"] == autoscaling
    # On a starved host a scrape or a query can time out: a named gap in the series, not a stop.
    assert set(block["sample_errors"]) <= {"no_sample", "prometheus_unreachable"}, block
    assert sum(1 for s in block["replicas"] if s["ready"] is not None) >= 20, block
    assert all(n == 1 for _, n in scaler.polls), "the generated query must return one sample"

    points = endpoint["load_points"]
    assert [p["label"] for p in points] == [f"step{i + 1} rate={r:g}"
                                            for i, (r, _) in enumerate(steps)]
    for point in points:
        ttft = point["summary"]["ttft_ms"]
        assert point["summary"]["completed"] > 0 and ttft["count"] > 0
        assert 0 < ttft["median"] <= ttft["p95"] <= ttft["p99"]
    assert points[1]["summary"]["ttft_ms"]["p95"] > points[0]["summary"]["ttft_ms"]["p95"]

    started = block["started_at"]
    answered = [s for s in block["replicas"] if s["ready"] is not None]
    print(f"stand-in: {len(scaler.polls)} polls, {len(scaler.seen)} with one sample, "
          f"query values max {max(scaler.seen, default=None)}: {scaler.seen[-80:]}")
    changed = 0.0  # a late scale-out (a starved client sends late) may come after the step down
    for what, step, to in (("scale_out", 1, 2), ("scale_in", 2, 1)):
        step_at = sum(seconds for _, seconds in steps[:step])
        changed = _reached(scaler.changes, started + max(step_at, changed), to) - started
        # The first sample that must see it: asked a scrape interval (+ 1 s of scrape jitter
        # and timeout) after the change.
        latest = min((s["t_s"] for s in answered if s["from_s"] >= changed + SCRAPE_S + 1.0),
                     default=math.inf)
        for series in ("ready", "desired"):
            event = block["events"][series][what]
            print(f"{series} {what}: {event}; the stand-in changed {changed - step_at:.2f} s "
                  f"after the step, first sure sample {latest - step_at:.2f} s after it")
            assert (event["from"], event["to"]) == (3 - to, to), event
            # (times in the report are rounded to 10 ms)
            assert changed - step_at - 0.2 <= event["seconds"] <= latest - step_at + 0.01, (
                event, [(round(t - started, 2), n) for t, n in scaler.changes], answered)
    counts = [s["ready"] for s in block["replicas"] if s["ready"] is not None]
    assert counts[0] == 1 and max(counts) == 2 and counts[-1] == 1
    assert "ready replicas: scale out 1 -> 2" in proc.stdout
