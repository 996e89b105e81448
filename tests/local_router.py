"""A real router (smg 1.13.0 or vllm-router 0.1.17) on loopback in front of given worker URLs,
and a stand-in replica that can be killed once the router has registered it.

For the tests that need the router's own `/readiness` and Prometheus port: the router panels and
metric-name contract (tests/observability) and the `router_workers` smoke check
(tests/e2e/test_router_smoke_e2e.py). Same flags as the benchmark's runner
(benchmarks/routing/run_routing.py): the routing flags the stack renders for the kind
(`router_manifests.routing_argv` of the default router: power_of_two, and for smg the queue
veto), static `--worker-urls` instead of Kubernetes discovery.

A worker URL where nothing ever listened is registered by vllm-router (health 0) but not by smg
(it retries the registration in the background and leaves it out of `total_workers`). A replica
that crashes after registering is what both count as unhealthy: `DoomedReplica`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from components import router_manifests as rm
from smoke.local import free_port, stop_group

BINARIES = {"smg": "smg", "vllm-router": "vllm-router"}


@dataclass(frozen=True)
class RunningRouter:
    kind: rm.RouterKind
    url: str  # the router's main port (clients, /readiness)
    metrics_address: str  # host:port of its Prometheus endpoint
    log: Path
    process: subprocess.Popen[bytes]

    def readiness(self) -> requests.Response:
        return requests.get(f"{self.url}/readiness", timeout=5)


def router_binary(kind: str) -> str:
    name = BINARIES[kind]
    binary = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(binary).exists():
        pytest.skip(f"{name} not installed (engines extra)")
    return binary


def routing_args(kind: str) -> list[str]:
    """The stack's default routing flags for this kind (infra/config: power_of_two; smg on the
    engines' request counts with a queue veto of 1)."""
    spec = rm.RouterSpec(endpoint="local", namespace="local", image=rm.DEFAULT_IMAGES[kind],
                         policy="power_of_two", port=1, engine_port=1, engine_selector={},
                         kind=kind, load_metric="requests",  # type: ignore[arg-type]
                         queue_veto=1 if kind == "smg" else None)
    return rm.routing_argv(spec)


def command(kind: str, port: int, metrics_port: int, workers: list[str],
            api_key: str) -> list[str]:
    cmd = [router_binary(kind)]
    if kind == "smg":
        cmd += ["launch", "--log-level", "warn"]
    return [*cmd, "--host", "127.0.0.1", "--port", str(port), *routing_args(kind),
            "--worker-urls", *workers, "--prometheus-host", "127.0.0.1",
            "--prometheus-port", str(metrics_port), "--health-check-interval-secs", "2",
            "--api-key", api_key]


@contextlib.contextmanager
def running_router(kind: rm.RouterKind, workers: list[str], api_key: str, log: Path,
                   healthy: int = 1, timeout_s: float = 90.0) -> Iterator[RunningRouter]:
    """Start the router; ready once `/readiness` reports `healthy` healthy workers."""
    port, metrics_port = free_port(), free_port()
    with open(log, "wb") as handle:
        process = subprocess.Popen(command(kind, port, metrics_port, workers, api_key),
                                   stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    router = RunningRouter(kind, f"http://127.0.0.1:{port}", f"127.0.0.1:{metrics_port}", log,
                           process)
    try:
        wait_healthy(router, healthy, timeout_s)
        yield router
    finally:
        stop(process)


def wait_healthy(router: RunningRouter, healthy: int, timeout_s: float = 60.0) -> None:
    """Until the router's `/readiness` reports exactly `healthy` healthy workers."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(requests.RequestException, ValueError):
            ready = router.readiness()
            if ready.status_code == 200 and ready.json().get("healthy_workers") == healthy:
                return
        assert router.process.poll() is None, router.log.read_text()[-2000:]
        assert time.monotonic() < deadline, \
            f"{router.kind} did not see {healthy} healthy workers in {timeout_s:g} s: " \
            f"{router.log.read_text()[-2000:]}"
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the router's process group (started in its own session), then SIGKILL."""
    stop_group(process)


class DoomedReplica:
    """A stand-in engine replica on loopback (health, models, metrics, chat) to kill on demand:
    the router registers it as a healthy worker, then `kill()` closes its port for good."""

    def __init__(self, served_model_name: str) -> None:
        model = served_model_name

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.startswith("/v1/models"):
                    self._send(200, {"object": "list", "data": [{"id": model,
                                                                 "object": "model"}]})
                elif self.path.startswith("/metrics"):
                    self._send(200, b"vllm:num_requests_waiting 0\n"
                                    b"vllm:num_requests_running 0\n", "text/plain")
                else:
                    self._send(200, {})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(200, {"id": "doomed", "object": "chat.completion", "model": model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant",
                                                          "content": "hi"}}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                           "total_tokens": 2}})

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def kill(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
