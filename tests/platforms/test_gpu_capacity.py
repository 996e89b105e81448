"""Clusters whose nodes do not follow replicas (existing clusters, K3s on fixed VMs): the
endpoints' peak GPUs (autoscaling.max or replicas x tensor_parallel_size) against the capacity
the config states (`<section>.gpu_capacity`), at preview, and in the plan summary."""

from __future__ import annotations

from typing import Any

from infra.plan import summary
from tests.helpers import config_problems, k8s_config, plan, plan_config

PROMETHEUS = "http://prometheus.monitoring.svc:9090"


def autoscaled(max_replicas: int, **changes: Any) -> dict[str, Any]:
    return {"min": 1, "max": max_replicas, "prometheus_server_address": PROMETHEUS, **changes}


def with_capacity(config: dict[str, Any], capacity: dict[str, int]) -> dict[str, Any]:
    config["kubernetes"]["gpu_capacity"] = capacity
    return config


def test_an_endpoint_whose_peak_exceeds_the_stated_capacity_fails() -> None:
    config = with_capacity(k8s_config(autoscaling=autoscaled(3)), {"A10G": 2})
    text = "\n".join(config_problems(config))
    assert "inference-stacks:endpoints[0].autoscaling.max" in text
    assert "3 replicas x 1 GPU (tensor_parallel_size) = 3 A10G GPUs" in text
    assert "inference-stacks:kubernetes.gpu_capacity states 2" in text
    assert "lower autoscaling.max to 2" in text
    assert config_problems(with_capacity(k8s_config(autoscaling=autoscaled(2)),
                                         {"A10G": 2})) == []


def test_fixed_replicas_count_too_and_a_missing_model_has_no_capacity() -> None:
    config = with_capacity(k8s_config(replicas=2), {"L4": 4})
    text = "\n".join(config_problems(config))
    assert "inference-stacks:endpoints[0].replicas" in text and "states 0" in text


def test_endpoints_that_fit_alone_but_not_together_fail_on_the_capacity_key() -> None:
    config = k8s_config(autoscaling=autoscaled(2))
    second = {**config["endpoints"][0], "name": "second"}
    config["endpoints"].append(second)
    text = "\n".join(config_problems(with_capacity(config, {"A10G": 3})))
    assert "inference-stacks:kubernetes.gpu_capacity: 3 A10G GPUs, but the endpoints need 4" in \
        text


def test_capacity_names_gpus_from_the_catalog() -> None:
    text = "\n".join(config_problems(with_capacity(k8s_config(), {"X100": 2})))
    assert "gpu_capacity" in text and "'X100' is not in the GPU catalog" in text


def test_k3s_workload_checks_its_stated_capacity() -> None:
    config = {"platform": "k3s-workload", "k3s_workload": {"gpu_capacity": {"L4": 1}},
              "endpoints": [{"name": "qwen3-0-6b", "engine": "vllm",
                             "model": "Qwen/Qwen3-0.6B", "gpu": {"type": "L4"},
                             "autoscaling": autoscaled(2)}]}
    text = "\n".join(config_problems(config))
    assert "inference-stacks:endpoints[0].autoscaling.max" in text
    assert "k3s_workload.gpu_capacity states 1" in text


def test_the_summary_says_whether_capacity_is_stated() -> None:
    unstated = summary(plan_config(k8s_config(autoscaling=autoscaled(3))), None)
    assert "qwen3-0-6b: autoscaling.max 3 x tensor_parallel_size 1 = 3 A10G at the peak, " \
           "capacity not stated (set kubernetes.gpu_capacity to check it)" in unstated
    stated = summary(plan_config(with_capacity(k8s_config(autoscaling=autoscaled(3)),
                                               {"A10G": 4})), None)
    assert "= 3 A10G at the peak, of 4 A10G stated (kubernetes.gpu_capacity)" in stated


def test_the_k3s_cluster_stack_states_its_fixed_capacity() -> None:
    text = summary(plan("k3s-l4"), None)
    assert "GPU capacity (fixed VMs, no node autoscaler):" in text
    assert "3 x g2-standard-48 = 12 L4 GPUs" in text
