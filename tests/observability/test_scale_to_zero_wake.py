"""The scale-to-zero wake query on a real Prometheus scraping a real router with no live engine.

The honest proof that the signal stays up: smg 1.13.0 in front of a dead worker URL and
vllm-router 0.1.17 with no worker at all (what service discovery gives at zero replicas) are
scraped as the router's ServiceMonitor labels them; the engine's queue query finds nothing, yet
the router's demand query answers one sample, 0 while idle, and rises above the activation
threshold (0) when a request arrives. When the router stops being scraped the query answers
nothing (an error to KEDA), never zero.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from components.autoscaling import queue_query, router_demand_query
from components.router_manifests import COLD_START_RETRY_ARGS
from smoke.local import free_port, stop_group
from smoke.local_prometheus import LocalPrometheus, StaticTarget

NAMESPACE, ENDPOINT = "inference", "qwen3-0-6b"
BODY = {"model": "Qwen3-0.6B", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


def _binary(name: str) -> str:
    binary = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(binary).exists():
        pytest.skip(f"{name} not installed")
    return binary


@contextlib.contextmanager
def router(kind: str, tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    port, metrics_port = free_port(), free_port()
    common = ["--host", "127.0.0.1", "--port", str(port), "--policy", "round_robin",
              "--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics_port)]
    if kind == "smg":  # a worker URL nothing listens on: never healthy, never registered
        cmd = [_binary("smg"), "launch", *common, "--disable-tokenizer-autoload",
               "--worker-urls", f"http://127.0.0.1:{free_port()}"]
    else:  # vllm-router waits for explicit workers at start; discovery at zero pods has none
        cmd = [_binary("vllm-router"), *common, *COLD_START_RETRY_ARGS]
    with open(tmp_path / f"{kind}.log", "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # /liveness: the process is up (readiness is 503 with no worker)
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/liveness", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, (tmp_path / f"{kind}.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"{kind} not up in 60 s"
            time.sleep(0.5)
        yield url, f"127.0.0.1:{metrics_port}", process
    finally:
        stop_group(process)




def _values(result: list[dict]) -> list[float]:
    return [float(r["value"][1]) for r in result]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["smg", "vllm-router"])
def test_the_router_wakes_a_zero_replica_endpoint(kind: str, tmp_path: Path,
                                                  prometheus_bin: str) -> None:
    query = router_demand_query(kind, NAMESPACE, ENDPOINT)
    with router(kind, tmp_path) as (url, metrics, process), LocalPrometheus(
            [StaticTarget(metrics, ENDPOINT, f"{ENDPOINT}-router-0", namespace=NAMESPACE,
                          component="router")], scrape_interval_s=1) as prometheus:
        assert prometheus.wait_for('up{inference_component="router"} == 1', 30)
        idle = prometheus.wait_for(query, 15)
        assert _values(idle) == [0.0], f"an idle router answers one sample, 0: {idle}"
        engine = queue_query("vllm", "vllm:num_requests_waiting", NAMESPACE, "Qwen3-0.6B")
        assert prometheus.wait_for(engine, 0) == [], "no engine: the queue query is empty"

        answers: list[int | str] = []

        def ask() -> None:
            try:
                answers.append(requests.post(f"{url}/v1/chat/completions", json=BODY,
                                             timeout=400).status_code)
            except requests.RequestException as exc:  # the router stopped while holding it
                answers.append(type(exc).__name__)

        client = threading.Thread(target=ask, daemon=True)
        client.start()
        woken = prometheus.wait_for(f"{query} > 0", 20)
        assert len(woken) == 1 and _values(woken)[0] >= 1, woken
        if kind == "vllm-router":
            assert client.is_alive(), "the router holds the request while the endpoint wakes"
        else:
            client.join(10)
            assert answers == [404], "smg answers 404 model_not_found at once with no worker"

        stop_group(process)  # the router is gone: missing data, never zero
        gone = prometheus.wait_for(f"absent({query})", 20)
        assert gone, prometheus.wait_for(query, 0)
