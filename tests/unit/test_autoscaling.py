"""Autoscaling: the pure model of KEDA's and the HPA's decision, table-tested against the
documented behaviour; the rendered ScaledObject against KEDA's CRD; the plan of an autoscaled
endpoint (no replica count for Pulumi to reset, KEDA installed first, no HPA beside it)."""

from __future__ import annotations

import copy

import pytest

from components.autoscaling import AutoscalingSpec, recommend, scaled_object, simulate
from tests.contract.crds import validate_custom_resource
from tests.helpers import config_problems, k8s_config, manifest, plan_config

PROM = "http://prometheus-operated.monitoring.svc:9090"
POLICY = AutoscalingSpec(min_replicas=1, max_replicas=5, queue_per_replica=5, activation=0,
                         scale_up_window_s=30, scale_down_window_s=300, polling_interval_s=15)


@pytest.mark.parametrize(("total", "current", "expected", "why"), [
    # Kubernetes HPA docs: desired = ceil(current * currentMetric / desiredMetric); with an
    # AverageValue target that is ceil(total / target).
    (20, 2, 4, "metric at twice the target doubles the replicas"),
    (5, 2, 1, "metric at half the target halves them"),
    (10.5, 2, 2, "within the 10% tolerance: no change"),
    (11.5, 2, 3, "just outside the tolerance: ceil(11.5 / 5) = 3"),
    (0, 3, 1, "no queue: down to min, never below"),
    (500, 2, 5, "a huge queue: up to max, never above"),
])
def test_recommendation_follows_the_hpa_formula(total: float, current: int, expected: int,
                                                why: str) -> None:
    assert recommend(total, current, POLICY) == expected, why


def test_scale_to_zero_deactivates_at_or_below_activation_and_wakes_above() -> None:
    # KEDA docs: with minReplicaCount 0, KEDA itself decides 0 <-> 1 on activationThreshold;
    # above it the HPA decides from the threshold.
    policy = AutoscalingSpec(0, 4, 5, activation=2, scale_up_window_s=0, scale_down_window_s=0,
                             polling_interval_s=15, scale_to_zero=True)
    assert recommend(2, 1, policy) == 0
    assert recommend(3, 0, policy) == 1
    assert recommend(12, 0, policy) == 1, "KEDA wakes to the minimum; the HPA sizes next"
    assert recommend(12, 1, policy) == 3


def test_stabilization_windows_delay_both_directions() -> None:
    # A burst of 20 waiting for 90 s, then idle: up only after the 30 s up window (the lowest
    # recommendation in it), down only after the 300 s down window (the highest in it).
    samples = [(t, 20.0 if t < 90 else 0.0) for t in range(0, 600, 15)]
    replicas = dict(simulate(samples, POLICY, start=1))
    assert replicas[0] == 1 and replicas[30] == 1, "the up window still holds the steady 1"
    assert replicas[45] == 4 and replicas[75] == 4
    assert replicas[375] == 4, "still within 300 s of the last high recommendation"
    assert replicas[390] == 1


def test_the_scaled_object_is_valid_against_kedas_crd_and_never_reads_absence_as_zero() -> None:
    obj = scaled_object("e", "inference", "e", {"app": "e"}, POLICY, PROM,
                        'sum(vllm:num_requests_waiting{namespace="inference"})')
    validate_custom_resource(obj)
    trigger = obj["spec"]["triggers"][0]
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert "vector(0)" not in trigger["metadata"]["query"]
    assert obj["spec"]["fallback"]["behavior"] == "currentReplicasIfHigher"


def test_the_crd_check_rejects_an_unknown_field() -> None:
    obj = scaled_object("e", "ns", "e", {}, POLICY, PROM, "sum(x)")
    obj["spec"]["maxReplicas"] = 3
    with pytest.raises(AssertionError, match="maxReplicas"):
        validate_custom_resource(obj)


def autoscaled(**auto: object) -> dict:
    config = k8s_config(autoscaling={"prometheus_server_address": PROM, **auto})
    return config


def test_an_autoscaled_endpoint_plans_a_scaled_object_and_no_replica_count() -> None:
    result = plan_config(autoscaled(max=3))
    deployment = manifest(result, "Deployment", "qwen3-0-6b")
    assert "replicas" not in deployment["spec"], "pulumi up would reset KEDA's count"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0  # R16 at max > 1
    scaler = manifest(result, "ScaledObject", "qwen3-0-6b")
    validate_custom_resource(scaler)
    query = scaler["spec"]["triggers"][0]["metadata"]["query"]
    assert query == 'sum(vllm:num_requests_waiting{namespace="inference", model_name="Qwen3-0.6B"})'
    assert not [o for o in result.manifests.values() if o["kind"] == "HorizontalPodAutoscaler"]
    keda = [r for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"
            and r["inputs"].get("chart") == "keda"]
    assert len(keda) == 1 and keda[0]["inputs"]["version"]
    assert result.outputs["endpoints"]["qwen3-0-6b"]["autoscaling"] == {
        "min": 1, "max": 3, "target": 5, "metric": query}
    assert any("1-3 replicas" in line for line in result.autoscaling)


def test_sglang_queue_is_taken_per_pod_before_summing() -> None:
    config = k8s_config(engine="sglang", autoscaling={"prometheus_server_address": PROM})
    scaler = manifest(plan_config(config), "ScaledObject", "qwen3-0-6b")
    query = scaler["spec"]["triggers"][0]["metadata"]["query"]
    assert query.startswith("sum(max by (pod) (sglang:num_queue_reqs{")


def test_endpoints_without_autoscaling_keep_their_replicas_and_get_no_keda() -> None:
    result = plan_config(k8s_config(replicas=2))
    assert manifest(result, "Deployment", "qwen3-0-6b")["spec"]["replicas"] == 2
    assert not [r for r in result.resources if r["inputs"].get("chart") == "keda"]


@pytest.mark.parametrize(("auto", "extra", "path", "words"), [
    ({"max": 2, "min": 3}, {}, "autoscaling", "min 3 > max 2"),
    ({}, {"replicas": 2}, "replicas", "KEDA's"),
    ({"scale_to_zero": True}, {}, "autoscaling.scale_to_zero", "nothing that stays up"),
])
def test_bad_autoscaling_is_a_config_problem(auto: dict, extra: dict, path: str,
                                            words: str) -> None:
    config = k8s_config(autoscaling={"prometheus_server_address": PROM, **auto}, **extra)
    problems = config_problems(config)
    assert any(f"endpoints[0].{path}" in p and words in p for p in problems), problems


def test_autoscaling_needs_a_prometheus_to_ask() -> None:
    problems = config_problems(k8s_config(autoscaling={}))
    assert any("autoscaling.prometheus_server_address" in p and "missing" in p
               for p in problems), problems


def test_hyperpod_needs_an_amazon_managed_prometheus_workspace() -> None:
    from tests.platforms.test_hyperpod import hyperpod_config  # the platform tests' sample

    config = copy.deepcopy(hyperpod_config())
    config["endpoints"][0]["autoscaling"] = {"prometheus_server_address": PROM}
    problems = config_problems(config)
    assert any("prometheus_server_address" in p and "Amazon Managed Prometheus" in p
               for p in problems), problems
