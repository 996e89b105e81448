"""Reaching endpoints: direct URLs, the missing-kubeconfig error, pod choice, the TCP bridge.

The real Kubernetes port-forward needs a cluster: `test_real_port_forward` runs only when
SMOKE_TEST_KUBECONFIG names a kubeconfig file (see its docstring).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from kubernetes.client import (
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
)

from smoke.outputs import OutputsError, StackOutputs, parse_outputs
from smoke.reach import ReachError, TcpBridge, open_endpoint, pick_pod, resolve_target
from tests.smoke.conftest import StubServer


def _outputs(exposure: str, platform: str = "eks", kubeconfig: str | None = None,
             **endpoint: Any) -> StackOutputs:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 8000,
          "base_url": "http://m.ns.svc.cluster.local:8000/", "exposure": exposure,
          "namespace": "ns", **endpoint}
    doc = {"schema_version": 1, "platform": platform, "kubeconfig": kubeconfig,
           "endpoints": {"m": ep}}
    return parse_outputs(json.dumps(doc), "t")


@pytest.mark.parametrize(("exposure", "platform", "direct"), [
    ("public", "eks", False), ("cluster", "eks", True), ("internal", "local", False),
])
def test_direct_base_url_without_port_forward(exposure: str, platform: str, direct: bool) -> None:
    outputs = _outputs(exposure, platform)
    with open_endpoint(outputs, outputs.endpoints["m"], direct) as url:
        assert url == "http://m.ns.svc.cluster.local:8000"


@pytest.mark.parametrize("exposure", ["cluster", "internal"])
def test_port_forward_without_kubeconfig_is_a_clear_error(exposure: str) -> None:
    outputs = _outputs(exposure)
    with pytest.raises(OutputsError, match=r"no kubeconfig.*R22.*--direct"), \
            open_endpoint(outputs, outputs.endpoints["m"], direct=False):
        pass


def _pod(name: str, phase: str, ready: bool) -> V1Pod:
    condition = V1PodCondition(type="Ready", status="True" if ready else "False")
    return V1Pod(metadata=V1ObjectMeta(name=name),
                 status=V1PodStatus(phase=phase, conditions=[condition]))


def test_pick_pod_prefers_running_ready_and_explains_otherwise() -> None:
    pods = [_pod("a", "Pending", False), _pod("b", "Running", False), _pod("c", "Running", True)]
    assert pick_pod(pods, "in ns") == "c"
    with pytest.raises(ReachError, match=r"no ready pod in ns: a \(Pending, not ready\); b"):
        pick_pod(pods[:2], "in ns")
    with pytest.raises(ReachError, match="no pods at all"):
        pick_pod([], "in ns")


class FakeCore:
    """Just the CoreV1Api calls resolve_target makes."""

    def __init__(self, service: V1Service | None, pods: list[V1Pod]) -> None:
        self.service = service
        self.pods = pods
        self.selectors: list[str] = []

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> V1Service:
        assert self.service is not None
        return self.service

    def list_namespaced_pod(self, namespace: str, label_selector: str, **_: Any) -> Any:
        self.selectors.append(label_selector)
        return SimpleNamespace(items=self.pods)


def test_resolve_target_uses_service_selector_and_target_port() -> None:
    service = V1Service(spec=V1ServiceSpec(
        selector={"app": "m", "tier": "engine"},
        ports=[V1ServicePort(port=80), V1ServicePort(port=8000, target_port=30000)]))
    core = FakeCore(service, [_pod("m-0", "Running", True)])
    endpoint = _outputs("cluster", service="m").endpoints["m"]
    assert resolve_target(core, endpoint) == ("m-0", 30000)
    assert core.selectors == ["app=m,tier=engine"]


def test_resolve_target_outputs_selector_wins() -> None:
    core = FakeCore(None, [_pod("m-0", "Running", True)])
    endpoint = _outputs("cluster", selector={"x": "y"}).endpoints["m"]
    assert resolve_target(core, endpoint) == ("m-0", 8000)
    assert core.selectors == ["x=y"]


@pytest.mark.timeout(20)
def test_tcp_bridge_pipes_http_through_a_stream(stub_server: StubServer) -> None:
    stub_server.routes["/health"] = lambda _: (200, {"ok": True})
    port = int(stub_server.url.rsplit(":", 1)[1])
    with TcpBridge(lambda: socket.create_connection(("127.0.0.1", port))) as local:
        with requests.Session() as session:  # two requests on one kept-alive connection
            for _ in range(2):
                response = session.get(f"http://127.0.0.1:{local}/health", timeout=(2, 5))
                assert response.json() == {"ok": True}
        body = {"text": "x" * 200_000}  # larger than one recv: exercises the pump loop
        stub_server.routes["/big"] = lambda req: (200, json.loads(req.body))
        assert requests.post(f"http://127.0.0.1:{local}/big", json=body, timeout=5).json() == body


@pytest.mark.timeout(20)
def test_tcp_bridge_connect_failure_closes_client_and_records_error() -> None:
    def broken() -> socket.socket:
        raise ConnectionRefusedError("pod gone")

    bridge = TcpBridge(broken)
    with bridge as local:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{local}/health", timeout=(2, 5))
        assert bridge.last_error is not None
        assert "pod gone" in bridge.last_error


@pytest.mark.timeout(120)
def test_real_port_forward() -> None:
    """Needs a cluster: SMOKE_TEST_KUBECONFIG (file), optional SMOKE_TEST_NAMESPACE (default),
    SMOKE_TEST_SELECTOR (k=v, default app=vllm), SMOKE_TEST_PORT (8000),
    SMOKE_TEST_HEALTH_PATH (/health): a serving pod that answers 200 there."""
    path = os.environ.get("SMOKE_TEST_KUBECONFIG")
    if not path:
        pytest.skip("needs a cluster: set SMOKE_TEST_KUBECONFIG to a kubeconfig file")
    key, _, value = os.environ.get("SMOKE_TEST_SELECTOR", "app=vllm").partition("=")
    outputs = _outputs("cluster", kubeconfig=Path(path).read_text(),
                       namespace=os.environ.get("SMOKE_TEST_NAMESPACE", "default"),
                       selector={key: value}, port=int(os.environ.get("SMOKE_TEST_PORT", "8000")))
    with open_endpoint(outputs, outputs.endpoints["m"], direct=False) as url:
        assert url.startswith("http://127.0.0.1:")
        health = os.environ.get("SMOKE_TEST_HEALTH_PATH", "/health")
        assert requests.get(url + health, timeout=(10, 30)).status_code == 200


@pytest.mark.timeout(20)
def test_open_endpoint_port_forwards_cluster_endpoints(stub_server: StubServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The port-forward branch with the Kubernetes calls replaced: kubeconfig -> API client ->
    ready pod -> one stream per connection, bridged to a loopback URL."""
    stub_server.routes["/health"] = lambda _: (200, {"ok": True})
    stub_port = int(stub_server.url.rsplit(":", 1)[1])
    core = FakeCore(None, [_pod("m-0", "Running", True)])
    streams: list[tuple[str, str, int]] = []

    def fake_pod_socket(api: Any, namespace: str, pod: str, port: int) -> socket.socket:
        assert api is core
        streams.append((namespace, pod, port))
        return socket.create_connection(("127.0.0.1", stub_port))

    monkeypatch.setattr("smoke.reach.kube_core_api", lambda kubeconfig: core)
    monkeypatch.setattr("smoke.reach.pod_socket", fake_pod_socket)
    outputs = _outputs("internal", kubeconfig="apiVersion: v1", selector={"app": "m"})
    with open_endpoint(outputs, outputs.endpoints["m"], direct=False) as url:
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(url + "/health", timeout=(2, 5)).json() == {"ok": True}
    assert streams == [("ns", "m-0", 8000)]
    assert core.selectors == ["app=m"]
