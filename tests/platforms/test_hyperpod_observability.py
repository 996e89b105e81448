"""HyperPod monitoring and its Amazon Managed Prometheus workspace (issues 15 and 16).

The program runs under Pulumi's mocks on both sample stacks and on in-memory variants: the
operator's worker pods are scraped by the labels and the metrics port the rendered
`InferenceEndpointConfig` gives them; an endpoint that autoscales without naming a workspace
gets the stack's own AMP workspace, remote-written by the bundled Prometheus and queried by the
operator's KEDA, each role scoped to that workspace's ARN; a named workspace gets none.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components import iam
from components.platforms import amp
from infra.config.base import ConfigError
from infra.plan import Plan
from tests.contract.harness import validate_inference_endpoint_config
from tests.helpers import plan_config
from tests.observability.test_crd_schemas import validate_monitoring_object
from tests.platforms.test_hyperpod import _recording, custom_resources, hyperpod_config, leaf_plan

STACKS = ["hyperpod", "hyperpod-public"]
RELEASE = "kubernetes:helm.sh/v3:Release"
WORKSPACE = "aws:amp/workspace:Workspace"
NAMED = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd-4567"


def _inputs(result: Plan, type_token: str, name: str) -> dict[str, Any]:
    found = [r["inputs"] for r in result.resources if r["type"] == type_token
             and r["name"] == name]
    assert len(found) == 1, (type_token, name)
    return found[0]


def _policy(result: Plan, name: str) -> dict[str, Any]:
    policy = _inputs(result, "aws:iam/rolePolicy:RolePolicy", name)["policy"]
    return json.loads(policy) if isinstance(policy, str) else policy


def _statements(document: dict[str, Any], action_prefix: str) -> list[dict[str, Any]]:
    return [s for s in document["Statement"]
            if any(a.startswith(action_prefix) for a in s["Action"])]


def _wave(result: Plan, type_token: str, name: str) -> int:
    found = [n["wave"] for n in result.graph if n["type"] == type_token and n["name"] == name]
    assert len(found) == 1, (type_token, name)
    return int(found[0])


def _cr_plan(config: dict[str, Any]) -> tuple[Plan, list[dict[str, Any]]]:
    result, recorded = _recording(lambda: plan_config(config, stack="hp-obs"))
    crs = [r["inputs"] for (typ, _), r in recorded.items()
           if typ.endswith(":InferenceEndpointConfig")]
    return result, crs


# --- monitoring objects on both sample stacks ---------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_engine_pods_are_scraped_by_the_labels_and_metrics_port_of_the_custom_resource(
        stack: str) -> None:
    result, _ = leaf_plan(stack)
    monitors = {m["metadata"]["name"]: m for m in result.manifests.values()
                if m["kind"] == "PodMonitor"}
    crs = custom_resources(stack)
    assert crs and len(monitors) == len(crs)
    for cr in crs:
        body = cr["inputs"]
        metrics = body["spec"]["metrics"]
        assert metrics["enabled"] is True
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        monitor = monitors[f"{name}-engine"]
        validate_monitoring_object(monitor)
        # The operator labels its worker pods app: <endpoint name> (the worker Service's selector).
        assert monitor["spec"]["selector"] == {"matchLabels": {"app": name}}
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["portNumber"] == metrics["modelMetrics"]["port"]
        assert endpoint["path"] == metrics["modelMetrics"]["path"]
        # The generated API key, which SGLang may require on /metrics too.
        assert endpoint["authorization"]["credentials"] == {"name": f"{name}-api-key",
                                                            "key": "api-key"}
    rules = [m for m in result.manifests.values() if m["kind"] == "PrometheusRule"]
    assert len(rules) == 1
    validate_monitoring_object(rules[0])
    assert result.outputs["observability"]["mode"] == "bundled"
    assert result.outputs["observability"]["prometheus"]["port_forward"].startswith(
        "kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus")


@pytest.mark.parametrize("stack", STACKS)
def test_charts_come_after_the_operator_and_the_gpu_exporter_fits_hyperpod_nodes(
        stack: str) -> None:
    result, _ = leaf_plan(stack)
    addon = _wave(result, "aws:eks/addon:Addon", "hyperpod-operator-addon")
    cluster = _wave(result, "aws-native:sagemaker:Cluster", "hyperpod-cluster")
    for release in ("observability-kube-prometheus-stack", "observability-dcgm-exporter"):
        assert _wave(result, RELEASE, release) > max(addon, cluster), release
    dcgm = _inputs(result, RELEASE, "observability-dcgm-exporter")["values"]
    # HyperPod GPU nodes carry no nvidia.com/gpu.present label: placed by instance type.
    assert dcgm["nodeSelector"] == {}
    terms = dcgm["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [{"matchExpressions": [{
        "key": "node.kubernetes.io/instance-type", "operator": "In",
        "values": ["ml.g5.8xlarge"]}]}]
    tolerated = {(t["key"], t.get("value")) for t in dcgm["tolerations"]}
    assert ("sagemaker.amazonaws.com/node-health-status", "Unschedulable") in tolerated
    assert ("nvidia.com/gpu", None) in tolerated
    assert result.violations == []


# --- the AMP workspace --------------------------------------------------------------------------

def test_autoscaling_without_an_address_gets_the_stacks_workspace_scoped_roles() -> None:
    result, _ = leaf_plan("hyperpod")
    workspaces = [r for r in result.resources if r["type"] == WORKSPACE]
    assert [w["name"] for w in workspaces] == ["hyperpod-amp"]
    arn = "arn:aws:aps:us-east-1:123456789012:workspace/ws-plan-hyperpod-amp"
    query_url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-plan-hyperpod-amp"
    # The endpoint scales on that workspace; the custom resource stays CRD-valid.
    (cr,) = custom_resources("hyperpod")
    validate_inference_endpoint_config(cr["inputs"])
    trigger = cr["inputs"]["spec"]["autoScalingSpec"]["prometheusTrigger"]
    assert trigger["serverAddress"] == query_url
    # The bundled Prometheus remote-writes there with SigV4, as the annotated service account.
    values = _inputs(result, RELEASE, "observability-kube-prometheus-stack")["values"]
    prometheus = values["prometheus"]
    assert prometheus["prometheusSpec"]["remoteWrite"] == [
        {"url": f"{query_url}/api/v1/remote_write", "sigv4": {"region": "us-east-1"}}]
    role_arn = prometheus["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    role = [r for r in result.resources if r["type"] == "aws:iam/role:Role"
            and r["name"] == "hyperpod-amp-remote-write"]
    assert role_arn.endswith("/hyperpod-amp-remote-write") and len(role) == 1
    trust = json.loads(role[0]["inputs"]["assumeRolePolicy"])
    subjects = [v for s in trust["Statement"] for k, v in s["Condition"]["StringEquals"].items()
                if k.endswith(":sub")]
    assert subjects == [
        f"system:serviceaccount:monitoring:{prometheus['serviceAccount']['name']}"]
    assert prometheus["serviceAccount"]["name"] == "kube-prometheus-stack-prometheus"
    # Each role touches this workspace only: remote write for Prometheus, queries for KEDA.
    writes = _policy(result, "hyperpod-amp-remote-write")
    assert iam.actions_of(writes) == ["aps:RemoteWrite"]
    assert [s["Resource"] for s in writes["Statement"]] == [[arn]]
    keda = _policy(result, "hyperpod-operator-keda")
    assert [(s["Action"], s["Resource"]) for s in _statements(keda, "aps:")] == [
        (["aps:QueryMetrics"], [arn])]
    assert result.outputs["observability"]["amp"] == {
        "workspace_id": "ws-plan-hyperpod-amp", "arn": arn, "region": "us-east-1",
        "query_url": query_url, "remote_write_url": f"{query_url}/api/v1/remote_write"}
    # The custom resource waits for the workspace (its serverAddress comes from it).
    assert _wave(result, "kubernetes:inference.sagemaker.aws.amazon.com/v1:"
                 "InferenceEndpointConfig", "hyperpod-qwen3-4b") > _wave(
        result, WORKSPACE, "hyperpod-amp")


def test_without_autoscaling_there_is_no_workspace_and_keda_may_query_none() -> None:
    result, _ = leaf_plan("hyperpod-public")
    assert not [r for r in result.resources if r["type"] == WORKSPACE]
    values = _inputs(result, RELEASE, "observability-kube-prometheus-stack")["values"]
    assert "remoteWrite" not in values["prometheus"]["prometheusSpec"]
    assert "serviceAccount" not in values["prometheus"]
    assert _statements(_policy(result, "hyperpod-operator-keda"), "aps:") == []
    assert "amp" not in result.outputs["observability"]


@pytest.mark.parametrize("address", [NAMED, NAMED + "/"])
def test_a_named_workspace_is_used_as_is_and_none_is_created(address: str) -> None:
    config = hyperpod_config(autoscaling={"prometheus_server_address": address})
    result, crs = _cr_plan(config)
    assert not [r for r in result.resources if r["type"] == WORKSPACE]
    (cr,) = crs
    validate_inference_endpoint_config(cr)
    assert cr["spec"]["autoScalingSpec"]["prometheusTrigger"]["serverAddress"] == NAMED
    keda = _policy(result, "hyperpod-operator-keda")
    assert [(s["Action"], s["Resource"]) for s in _statements(keda, "aps:")] == [
        (["aps:QueryMetrics"],
         ["arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567"])]
    values = _inputs(result, RELEASE, "observability-kube-prometheus-stack")["values"]
    assert "remoteWrite" not in values["prometheus"]["prometheusSpec"]


def test_existing_mode_ships_only_the_monitors_and_needs_a_named_workspace() -> None:
    config = hyperpod_config(autoscaling={"prometheus_server_address": NAMED})
    config["observability"] = {"mode": "existing"}
    result, _ = _cr_plan(config)
    assert not [r for r in result.resources if r["type"] == RELEASE
                and r["inputs"].get("chart") in ("kube-prometheus-stack", "dcgm-exporter")]
    assert [m["metadata"]["name"] for m in result.manifests.values()
            if m["kind"] == "PodMonitor"] == ["qwen3-4b-engine"]


@pytest.mark.parametrize("mode", ["none", "existing"])
def test_autoscaling_without_an_address_or_bundled_prometheus_fails_the_preview(
        mode: str) -> None:
    config = copy.deepcopy(hyperpod_config(autoscaling={"min": 1, "max": 2}))
    config["observability"] = {"mode": mode}
    with pytest.raises(ConfigError) as caught:
        plan_config(config, stack="hp-obs")
    problems = [str(p) for p in caught.value.problems]
    assert any("endpoints[0].autoscaling.prometheus_server_address" in p
               and "observability.mode" in p and repr(mode) in p and "bundled" in p
               for p in problems), problems


def test_autoscaling_without_an_address_is_accepted_with_the_default_bundled_mode() -> None:
    result, crs = _cr_plan(hyperpod_config(autoscaling={"min": 1, "max": 2}))
    assert [r["name"] for r in result.resources if r["type"] == WORKSPACE] == ["hyperpod-amp"]
    validate_inference_endpoint_config(crs[0])


# --- the pure helpers ---------------------------------------------------------------------------

def test_workspace_urls_and_arns() -> None:
    endpoint = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-abc/"
    assert amp.server_address(endpoint) == endpoint[:-1]
    assert amp.remote_write_url(endpoint) == endpoint + "api/v1/remote_write"
    assert amp.workspace_arn(endpoint, "123456789012", "aws") == \
        "arn:aws:aps:eu-west-1:123456789012:workspace/ws-abc"
    assert amp.workspace_id("arn:aws:aps:eu-west-1:1:workspace/ws-abc") == "ws-abc"
    with pytest.raises(ValueError, match="not an Amazon Managed Prometheus"):
        amp.workspace_arn("http://prometheus.monitoring.svc:9090", "123456789012")
