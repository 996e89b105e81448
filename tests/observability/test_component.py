"""The `Observability` component under Pulumi's mock engine: releases, CRs, dependencies, outputs.

A self-contained recorder (not infra/mocks.py, which is being moved): it keeps each
registration's type, name, parent URN, dependency URNs and inputs as sent on the wire.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import observability_manifests as om
from components.observability import (
    TYPE_TOKEN,
    Observability,
    ObservabilityArgs,
    ServiceRef,
)
from tests.observability import specs

RELEASE = "kubernetes:helm.sh/v3:Release"
STACK = "pulumi:pulumi:Stack"
CR_TYPES = {"kubernetes:monitoring.coreos.com/v1:PodMonitor",
            "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
            "kubernetes:core/v1:ConfigMap"}


@dataclass
class Reg:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@dataclass
class _Monitor(MockMonitor):
    regs: list[Reg] = field(default_factory=list)

    def __init__(self) -> None:
        super().__init__(_Mocks())
        self.regs = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        inputs = json_format.MessageToDict(request.object)
        self.regs.append(Reg(request.type, request.name, response.urn, request.parent,
                             list(request.dependencies), inputs))
        return response


def run(args: ObservabilityArgs) -> tuple[dict[str, Any], list[Reg]]:
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_closed():
            raise RuntimeError
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    monitor = _Monitor()
    pulumi.runtime.set_mocks(monitor.mocks, project="inference-stacks", stack="test",
                             preview=False, monitor=monitor)
    result: dict[str, Any] = {}

    async def body() -> None:
        component = Observability("obs", args)
        result["outputs"] = component.outputs
        result["component"] = component

    _sync_await(run_pulumi_func(lambda: asyncio.ensure_future(body())))
    return result["outputs"], monitor.regs


def _args(**changes: Any) -> ObservabilityArgs:
    base: dict[str, Any] = dict(mode="bundled", endpoints=specs.ENDPOINTS, routers=specs.ROUTERS,
                                ttft_slos_ms=specs.TTFT_SLOS_MS)
    base.update(changes)
    return ObservabilityArgs(**base)


def _one(regs: list[Reg], type_: str, name: str) -> Reg:
    found = [r for r in regs if r.type == type_ and r.name == name]
    assert len(found) == 1, [(r.type, r.name) for r in regs]
    return found[0]


@pytest.fixture(scope="module")
def bundled() -> tuple[dict[str, Any], list[Reg]]:
    return run(_args(dcgm_runtime_class="nvidia",
                     remote_write=om.RemoteWrite("https://aps.example/api/v1/remote_write",
                                                 "eu-west-1")))


def test_kube_prometheus_stack_release_is_pinned_with_selectors_open(bundled: Any) -> None:
    _, regs = bundled
    kps = _one(regs, RELEASE, "obs-kube-prometheus-stack")
    inputs = kps.inputs
    assert inputs["chart"] == "kube-prometheus-stack"
    assert inputs["version"] == om.KUBE_PROMETHEUS_STACK_VERSION == "88.5.3"
    assert inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    assert inputs["namespace"] == "monitoring" and inputs["createNamespace"] is True
    spec = inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["scrapeInterval"] == "30s"
    assert spec["remoteWrite"][0]["sigv4"] == {"region": "eu-west-1"}
    assert inputs["values"]["grafana"]["service"]["type"] == "ClusterIP"


def test_dcgm_exporter_release_is_pinned_tolerates_gpu_taint_after_the_crds(bundled: Any) -> None:
    _, regs = bundled
    kps = _one(regs, RELEASE, "obs-kube-prometheus-stack")
    dcgm = _one(regs, RELEASE, "obs-dcgm-exporter")
    assert dcgm.inputs["chart"] == "dcgm-exporter"
    assert dcgm.inputs["version"] == om.DCGM_EXPORTER_VERSION == "4.8.2"
    assert dcgm.inputs["repositoryOpts"]["repo"] == om.DCGM_EXPORTER_REPO
    values = dcgm.inputs["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"]
    assert values["runtimeClassName"] == "nvidia"
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert kps.urn in dcgm.dependencies  # its ServiceMonitor needs the CRDs


def test_custom_resources_depend_on_the_chart_and_are_children(bundled: Any) -> None:
    _, regs = bundled
    component = next(r for r in regs if r.type == TYPE_TOKEN)
    kps = _one(regs, RELEASE, "obs-kube-prometheus-stack")
    crs = [r for r in regs if r.type in CR_TYPES]
    assert sorted(r.type.rsplit(":", 1)[1] for r in crs) == [
        "ConfigMap", "ConfigMap", "PodMonitor", "PodMonitor", "PrometheusRule", "ServiceMonitor",
        "ServiceMonitor"]
    for r in crs:
        assert kps.urn in r.dependencies, r.name
        assert r.parent == component.urn, r.name
    for r in regs:
        if r.type not in (TYPE_TOKEN, STACK):
            assert r.parent == component.urn, r.name


def test_custom_resource_bodies_are_the_builders(bundled: Any) -> None:
    _, regs = bundled
    pm = _one(regs, "kubernetes:monitoring.coreos.com/v1:PodMonitor",
              "obs-podmonitor-inference-vl-engine")
    expected = next(o for o in specs.all_objects() if o["metadata"]["name"] == "vl-engine")
    assert pm.inputs["spec"] == json.loads(json.dumps(expected["spec"]))
    cm = _one(regs, "kubernetes:core/v1:ConfigMap",
              "obs-configmap-monitoring-inference-vllm-dashboard")
    assert cm.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_outputs_locate_prometheus_and_grafana(bundled: Any) -> None:
    outputs, _ = bundled
    assert outputs["mode"] == "bundled"
    assert outputs["prometheus"] == {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
        "namespace": "monitoring", "service": "kube-prometheus-stack-prometheus", "port": 9090,
        "port_forward": "kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus "
                        "9090:9090"}
    assert outputs["grafana"]["service"] == "kube-prometheus-stack-grafana"
    # Grafana's Service listens on 80: a local port below 1024 would need root.
    assert outputs["grafana"]["port_forward"].endswith("svc/kube-prometheus-stack-grafana 3000:80")
    assert outputs["dashboards"] == {"inference-sglang": "Inference: sglang",
                                     "inference-vllm": "Inference: vllm"}


def test_existing_mode_installs_no_chart_and_labels_for_the_users_prometheus() -> None:
    prom = ServiceRef("observability", "prometheus-operated", 9090)
    outputs, regs = run(_args(mode="existing", selector_labels={"release": "prom"},
                              existing_prometheus=prom))
    assert not [r for r in regs if r.type == RELEASE]
    crs = [r for r in regs if r.type in CR_TYPES]
    assert len(crs) == 7  # 2 PodMonitors, 2 ServiceMonitors, the rule, 2 dashboards
    for r in crs:
        assert r.inputs["metadata"]["labels"]["release"] == "prom"
        assert r.dependencies == []
    assert outputs["prometheus"]["url"] == (
        "http://prometheus-operated.observability.svc.cluster.local:9090")
    assert outputs["grafana"] is None


def test_none_mode_creates_nothing() -> None:
    outputs, regs = run(_args(mode="none"))
    assert [r.type for r in regs if r.type != STACK] == [TYPE_TOKEN]
    assert outputs == {"mode": "none", "prometheus": None, "grafana": None, "dashboards": {},
                       "scrape_interval_seconds": 30}


def test_without_dcgm_or_grafana() -> None:
    outputs, regs = run(_args(dcgm=False, grafana=False))
    assert [r.name for r in regs if r.type == RELEASE] == ["obs-kube-prometheus-stack"]
    kps = _one(regs, RELEASE, "obs-kube-prometheus-stack")
    assert kps.inputs["values"]["grafana"] == {"enabled": False}
    assert outputs["grafana"] is None


def test_args_from_config() -> None:
    from components.observability_config import ObservabilityConfig

    config = ObservabilityConfig.model_validate({
        "mode": "existing", "scrape_interval_seconds": 15, "selector_labels": {"release": "p"},
        "dcgm": {"enabled": True, "runtime_class": "nvidia"},
        "prometheus": {"namespace": "obs", "service": "prometheus-operated", "port": 9090}})
    args = ObservabilityArgs.from_config(config, specs.ENDPOINTS, specs.ROUTERS,
                                         specs.TTFT_SLOS_MS)
    assert (args.mode, args.scrape_interval_seconds, args.selector_labels) == (
        "existing", 15, {"release": "p"})
    assert args.dcgm_runtime_class == "nvidia"
    assert args.gpu_node_selector == {"nvidia.com/gpu.present": "true"}
    assert args.existing_prometheus == ServiceRef("obs", "prometheus-operated", 9090)
    outputs, _ = run(args)
    assert outputs["prometheus"]["service"] == "prometheus-operated"
    assert outputs["scrape_interval_seconds"] == 15
    assert ObservabilityArgs.from_config(config, [], mode="none").mode == "none"
