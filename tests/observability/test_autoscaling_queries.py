"""The generated KEDA queries react to real load (issue 16).

vLLM: a real engine (CPU build, `--max-num-seqs 2`, so a handful of requests already wait) and a
real Prometheus scraping it with the labels the PodMonitor gives (`namespace`, `pod`; the engine
itself adds `model_name`). The query and activation threshold are the ones the stack renders in
its ScaledObject (tests/observability/autoscaled.py), run as they are. At idle the query returns
exactly one sample, at or below activation; under `python -m smoke bench` load exactly one
sample above it (and above the per-replica target, so the HPA formula asks for more replicas);
after the load, back at or below.

SGLang: no SGLang engine here, so its query shape is checked with `promtool test rules` on
synthetic per-rank series: it parses, and several ranks of one pod count once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from components.autoscaling import recommend
from smoke.local_prometheus import LocalPrometheus, StaticTarget
from tests.observability import autoscaled

# 2 s, and the scrape may take as long: a busy CPU engine answers /metrics late, and a timed-out
# scrape would leave the idle sample in place for the whole load.
INTERVAL_S = 2
CLIENTS = 20


def _query(prometheus: LocalPrometheus, expr: str) -> list[dict[str, Any]]:
    body = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr},
                        timeout=10).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _one_value(prometheus: LocalPrometheus, expr: str) -> float:
    result = _query(prometheus, expr)
    assert len(result) == 1, f"{expr} returned {len(result)} samples: {result}"
    return float(result[0]["value"][1])


def _wait_value(prometheus: LocalPrometheus, expr: str, ok: Any, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        value = _one_value(prometheus, expr)
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


@pytest.fixture
def scraped_engine(small_batch_engine: Any, prometheus_bin: str) -> Any:
    address = small_batch_engine.base_url.removeprefix("http://")
    target = StaticTarget(address, autoscaled.ENDPOINT, f"{autoscaled.ENDPOINT}-0",
                          namespace=autoscaled.NAMESPACE)
    with LocalPrometheus([target], scrape_interval_s=INTERVAL_S) as prometheus:
        assert prometheus.wait_for(f'up{{inference_endpoint="{autoscaled.ENDPOINT}"}} == 1',
                                   20), prometheus.log_tail()
        yield small_batch_engine, prometheus


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(400)
def test_the_generated_vllm_query_crosses_activation_under_bench_load_and_drops_back(
    scraped_engine: Any, tmp_path: Path,
) -> None:
    engine, prometheus = scraped_engine
    meta = autoscaled.trigger("vllm", engine.served_model_name)
    query, activation = meta["query"], float(meta["activationThreshold"])
    policy = autoscaled.policy("vllm", engine.served_model_name)
    assert f'model_name="{engine.served_model_name}"' in query  # the stack's own substitution

    idle = _wait_value(prometheus, query, lambda v: v <= activation, 10 * INTERVAL_S)
    assert idle <= activation, f"idle engine: {query} = {idle}"

    # A closed loop of 20 clients on two batch slots keeps up to 18 requests waiting for as long
    # as it runs. Not an open burst: hundreds of requests at once starve the engine's HTTP
    # server (and its /metrics, so scrapes time out) and the client on 2 cores. Once the query
    # has shown the queue a few times the load is stopped instead of waited out.
    bench = subprocess.Popen(
        [sys.executable, "-m", "smoke", "bench", "--outputs", str(engine.outputs_path),
         "--concurrency", str(CLIENTS), "--num-requests", "600", "--warmup", "0",
         "--input-tokens", "32", "--output-tokens", "64", "--read-timeout", "300",
         "--no-progress", "--no-records", "--slo", "ttft_p95_ms=none"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[float] = []
    try:
        # Until the HPA formula has asked for a second replica at three polls (a starved client
        # keeps fewer requests in flight than it has clients, so the ramp can take a while).
        while bench.poll() is None and sum(recommend(v, 1, policy) > 1 for v in seen) < 3:
            seen.append(_one_value(prometheus, query))  # exactly one sample at every poll
            time.sleep(0.5)
    finally:
        stopped = bench.poll() is None
        if stopped:
            bench.send_signal(signal.SIGINT)
        try:
            output, _ = bench.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            bench.kill()
            output, _ = bench.communicate()
    if not stopped:
        assert bench.returncode == 0, output
    peak = max(seen, default=0.0)
    print(f"\n{query}: idle {idle:g}, peak under load {peak:g} over {len(seen)} polls")
    assert peak > activation, f"the queue never showed under load: {seen}\n{output[-2000:]}"
    assert recommend(peak, 1, policy) > 1, "the HPA formula would not add a replica"

    after = _wait_value(prometheus, query, lambda v: v <= activation, 60)
    assert after <= activation, f"{query} stayed at {after} after the load"


# --- SGLang: the query shape on synthetic per-rank series ------------------------------------


def test_the_generated_sglang_query_counts_each_pod_once(promtool: str, tmp_path: Path) -> None:
    query = autoscaled.trigger("sglang", "tiny-llama")["query"]
    mine = f'namespace="{autoscaled.NAMESPACE}", model_name="tiny-llama"'
    series = [  # every scheduler rank of a pod reports the pod's queue
        (f'{{{mine}, pod="p0", tp_rank="0"}}', "3x4"),
        (f'{{{mine}, pod="p0", tp_rank="1"}}', "3x4"),
        (f'{{{mine}, pod="p1", tp_rank="0"}}', "4x4"),
        (f'{{{mine}, pod="p1", tp_rank="1"}}', "4x4"),
        ('{namespace="other", model_name="tiny-llama", pod="q0", tp_rank="0"}', "50x4"),
        (f'{{namespace="{autoscaled.NAMESPACE}", model_name="another", pod="r0"}}', "60x4"),
    ]
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": f"sglang:num_queue_reqs{labels}", "values": values}
                             for labels, values in series],
            "promql_expr_test": [{"expr": query, "eval_time": "2m",
                                  "exp_samples": [{"labels": "{}", "value": 7}]}],
        }],
    }
    path = tmp_path / "sglang_query_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
