"""The router panels' queries on a real vllm-router (0.1.17) in front of the real local engine.

Proves the names and the `worker` label the router dashboard groups by: Prometheus scrapes the
router's own metrics port labelled as the ServiceMonitor would (`inference_component=router`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from components import observability_manifests as om
from smoke.local import free_port
from smoke.local_prometheus import LocalPrometheus, StaticTarget

INTERVAL_S = 2


@pytest.fixture
def router(local_engine: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    binary = shutil.which("vllm-router") or str(Path(sys.executable).with_name("vllm-router"))
    if not Path(binary).exists():
        pytest.skip("vllm-router not installed (engines extra)")
    port, metrics_port = free_port(), free_port()
    cmd = [binary, "--host", "127.0.0.1", "--port", str(port), "--policy", "round_robin",
           "--worker-urls", local_engine.base_url, "--prometheus-host", "127.0.0.1",
           "--prometheus-port", str(metrics_port), "--health-check-interval-secs", "5",
           "--api-key", local_engine.api_key]
    with open(tmp_path / "router.log", "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/readiness", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, (tmp_path / "router.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "router not ready in 60 s"
            time.sleep(0.5)
        yield url, f"127.0.0.1:{metrics_port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(300)
def test_router_panels_show_requests_per_worker(local_engine: Any, router: tuple[str, str],
                                                prometheus_bin: str) -> None:
    url, metrics_address = router
    target = StaticTarget(metrics_address, "local", "local-router-0", component="router")
    with LocalPrometheus([target], scrape_interval_s=INTERVAL_S) as prometheus:
        assert prometheus.wait_for('up{inference_component="router"} == 1', 20)
        body = {"model": local_engine.served_model_name, "max_tokens": 4,
                "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            requests.post(f"{url}/v1/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {local_engine.api_key}"}
                          ).raise_for_status()
        time.sleep(3 * INTERVAL_S)
        (panel, _) = om.router_panels()
        (expr, _legend), = panel.queries
        runnable = om.substitute(expr, f"{4 * INTERVAL_S}s", {"endpoint": "local"})
        result = prometheus.wait_for(runnable, 10)
        workers = {r["metric"].get(om.ROUTER_WORKER_LABEL) for r in result}
        assert workers == {local_engine.base_url}, result
        total = prometheus.wait_for(
            f'sum({om.ROUTER_REQUESTS_PER_WORKER}{{inference_endpoint="local"}}) >= 3', 10)
        assert total, "the router's per-worker counter did not count the requests"
