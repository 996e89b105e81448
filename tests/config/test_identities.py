"""Two objects with the same identity are refused, never planned with one silently dropped.

Outputs are keyed by endpoint name and Pulumi URNs by resource name, whatever the namespace;
names the program derives from an endpoint's name (`x-router`, `x-api-key`, `x-nlb`, ...) may
not be another endpoint's name. And one problem is one line, with the budget that applies.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components import names
from tests.helpers import config_problems, k8s_config, plan_config

GROUPS = [{"name": "system", "role": "system", "instance_type": "ml.c5.4xlarge"},
          {"name": "gpu", "role": "gpu", "instance_type": "ml.g5.8xlarge"}]
AMP = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd"


def two_endpoints(**second: Any) -> dict[str, Any]:
    config = k8s_config()
    config["endpoints"].append({**config["endpoints"][0], **second})
    return config


def hyperpod_config(**endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "qwen3-4b", "engine": "vllm",
                            "model": "Qwen/Qwen3-4B-Instruct-2507",
                            "gpu": {"instance_type": "ml.g5.8xlarge"}}
    base.update(endpoint)
    return {"platform": "hyperpod",
            "hyperpod": {"region": "us-east-1", "instance_groups": copy.deepcopy(GROUPS),
                         "availability_zone_names": ["us-east-1a", "us-east-1b"]},
            "endpoints": [base]}


def test_the_same_endpoint_name_in_two_namespaces_is_refused() -> None:
    problems = config_problems(two_endpoints(namespace="other"))
    assert len(problems) == 1, problems
    assert problems[0].startswith("inference-stacks:endpoints[1].name: 'qwen3-0-6b' is used "
                                  "twice (also endpoints[0])")
    assert "whatever the namespace" in problems[0]


@pytest.mark.parametrize("suffix", ["-router", "-api-key", "-hf-token", "-nlb", "-pdb",
                                    "-scaler"])
def test_an_endpoint_named_like_another_endpoint_s_derived_object_is_refused(
        suffix: str) -> None:
    problems = config_problems(two_endpoints(name=f"qwen3-0-6b{suffix}"))
    assert len(problems) == 1, problems
    assert problems[0].startswith("inference-stacks:endpoints[1].name:")
    assert f"'{suffix}' objects of 'qwen3-0-6b'" in problems[0]


def test_the_router_name_collision_would_have_planned_one_deployment_for_two() -> None:
    config = two_endpoints(name="qwen3-0-6b-router")
    config["endpoints"][0]["router"] = {}
    assert any("'-router' objects" in p for p in config_problems(config))
    # Distinct names plan both the router and the second endpoint.
    config["endpoints"][1]["name"] = "qwen3-0-6b-b"
    result = plan_config(config)
    deployments = sorted(o["metadata"]["name"] for o in result.manifests.values()
                         if o["kind"] == "Deployment")
    assert deployments == ["qwen3-0-6b", "qwen3-0-6b-b", "qwen3-0-6b-router"]
    assert sorted(result.outputs["endpoints"]) == ["qwen3-0-6b", "qwen3-0-6b-b"]


def test_router_metrics_ports_are_distinct_and_not_the_http_port() -> None:
    config = two_endpoints(name="second", router={"prometheus_port": 29000})
    config["endpoints"][0]["router"] = {}
    problems = config_problems(config)
    assert problems == ["inference-stacks:endpoints[1].router.prometheus_port: 29000 is also "
                        "the metrics port of the router of endpoints[0]; routers that share a "
                        "host need their own (omit it for 29000 + position)"]
    problems = config_problems(k8s_config(router={"prometheus_port": 8000}))
    assert len(problems) == 1 and "also the router's HTTP port" in problems[0], problems


def test_a_hyperpod_name_over_budget_is_one_line_with_the_hyperpod_budget() -> None:
    problems = config_problems(hyperpod_config(name="a" * 51))
    assert len(problems) == 1, problems
    assert "budget is 50" in problems[0] and "'prefetch-' and '-inf'" in problems[0]
    # 49 characters: over the shared budget of 48, within HyperPod's 50 -> accepted there.
    assert config_problems(hyperpod_config(name="a" * 49)) == []
    assert any("budget is 48" in p for p in config_problems(k8s_config(name="a" * 49)))


def test_a_mixed_case_long_name_is_one_line() -> None:
    problems = config_problems(hyperpod_config(name="Qwen3-" + "X" * 54))
    assert len(problems) == 1, problems
    assert "RFC 1035" in problems[0] and "budget is 50" in problems[0]


def test_hyperpod_autoscaling_leaves_room_for_the_trigger_name() -> None:
    auto = {"prometheus_server_address": AMP}
    problems = config_problems(hyperpod_config(name="a" * 45, autoscaling=auto))
    assert len(problems) == 1 and "budget is 44" in problems[0], problems
    result = plan_config(hyperpod_config(name="a" * 44, autoscaling=auto))
    assert "a" * 44 in result.outputs["endpoints"]


def test_hyperpod_instance_group_names_are_unique() -> None:
    config = hyperpod_config()
    config["hyperpod"]["instance_groups"].append({**GROUPS[1]})
    problems = config_problems(config)
    assert problems == ["inference-stacks:hyperpod.instance_groups[2].name: 'gpu' is used twice "
                        "(also instance_groups[1]); instance group names are unique in the "
                        "cluster"]


def test_eks_pool_names_are_unique_and_pool_labels_cannot_unpin() -> None:
    pool = {"name": "a10g", "instance_types": ["g5.xlarge"]}
    config = {"platform": "eks",
              "eks": {"region": "us-east-1", "gpu_pools": [pool, pool],
                      "vpc": {"availability_zone_names": ["us-east-1a", "us-east-1b"]}},
              "endpoints": [{"name": "m", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                             "gpu": {"pool": "a10g"}}]}
    problems = config_problems(config)
    assert problems[0].startswith("inference-stacks:eks.gpu_pools: pool names must be unique")
    config["eks"]["gpu_pools"] = [{**pool, "labels": {"inference-stacks/pool": "other"}}]
    problems = config_problems(config)
    assert len(problems) == 1 and problems[0].startswith(
        "inference-stacks:eks.gpu_pools[0].labels: inference-stacks/pool is set by the program")


def test_the_node_selector_cannot_override_instance_type_pinning() -> None:
    config = k8s_config()
    config["kubernetes"]["gpu_node_selector"] = {"node.kubernetes.io/instance-type": "g4dn.xlarge"}
    problems = config_problems(config)
    assert len(problems) == 1 and "kubernetes.gpu_node_selector" in problems[0], problems


def test_batch_job_names_are_unique_in_the_stack_whatever_the_namespace() -> None:
    job = {"name": "nightly", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
           "gpu": {"instance_type": "g5.xlarge"},
           "input": {"url": "https://example.invalid/batch.jsonl"},
           "output": {"pvc": "results"}}
    config = {**k8s_config(), "batch_jobs": [job, {**job, "namespace": "other"}]}
    problems = config_problems(config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "inference-stacks:batch_jobs[1].name: 'nightly' is used twice (also batch_jobs[0])")
    config = {**k8s_config(), "batch_jobs": [{**job, "name": "qwen3-0-6b-api-key"}]}
    problems = config_problems(config)
    assert len(problems) == 1 and "'-api-key' objects of 'qwen3-0-6b'" in problems[0], problems


def test_the_name_budget_covers_every_derived_name() -> None:
    longest = max(len(s) for s in names.DERIVED_SUFFIXES)
    assert names.endpoint_name_budget() + longest <= names.DNS_LABEL_MAX
