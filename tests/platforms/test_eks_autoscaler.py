"""GPU nodes follow replicas on EKS: the Cluster Autoscaler (release, IRSA, policy), node group
bounds from autoscaling.max x tensor_parallel_size, `pulumi up` leaving the desired size alone,
engine pods never evicted for a scale-down, Karpenter NodePools consolidating only empty nodes,
and the preview failures, all through the program under Pulumi's mocks."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from components.platforms.cluster_autoscaler import GPU_LABEL
from infra.config.base import ConfigError
from infra.plan import Plan, summary
from tests.contract.crds import validate_custom_resource
from tests.helpers import config_problems, manifest, plan, plan_config
from tests.platforms.test_eks import eks_config, one, resources, with_eks

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


@functools.cache
def autoscaled() -> Plan:
    return plan("eks-gpu")


@functools.cache
def fixed() -> Plan:
    return plan("eks-gpu-public")


def graph_entry(result: Plan, type_token: str, name: str) -> dict[str, Any]:
    (found,) = [e for e in result.graph if e["type"] == type_token and e["name"] == name]
    return found


def pool(instance_type: str = "g5.xlarge", **sizes: int) -> dict[str, Any]:
    return {"name": "a10g", "instance_types": [instance_type], **sizes}


# --- the release, its identity and permissions -------------------------------------------

def test_an_autoscaled_endpoint_installs_the_pinned_cluster_autoscaler() -> None:
    result = autoscaled()
    release = one(result, RELEASE, "cluster-autoscaler")
    assert (release["chart"], release["version"]) == ("cluster-autoscaler", "9.51.0")
    assert release["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert release["namespace"] == "kube-system"
    values = release["values"]
    assert values["autoDiscovery"]["clusterName"] == result.outputs["cluster_name"]
    assert values["awsRegion"] == "us-east-1"
    assert values["image"]["tag"] == "v1.33.6"
    assert values["nodeSelector"] == {"inference-stacks/pool": "system"}
    role_arn = result.outputs["cluster_autoscaler"]["role_arn"]
    assert values["rbac"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role_arn}
    # A node freed by KEDA stays 10 minutes (>= the 300 s replica scale-down window).
    assert values["extraArgs"]["scale-down-unneeded-time"] == "600s"


def test_no_autoscaled_endpoint_no_autoscaler_and_pulumi_owns_the_size() -> None:
    result = fixed()
    assert not [r for r in resources(result, RELEASE) if r["name"] == "cluster-autoscaler"]
    assert "cluster_autoscaler" not in result.outputs
    assert not resources(result, ASG_TAG)
    assert graph_entry(result, NODE_GROUP, "gpu-a10g")["ignore_changes"] == []
    assert result.outputs["node_pools"]["a10g"]["autoscaler"] is None


def test_the_role_trusts_only_the_autoscalers_service_account() -> None:
    result = autoscaled()
    trust = json.loads(one(result, "aws:iam/role:Role", "cluster-autoscaler-role")[
        "assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    assert stmt["Principal"]["Federated"] == result.outputs["oidc_provider_arn"]
    assert sorted(stmt["Condition"]["StringEquals"].values()) == [
        "sts.amazonaws.com", "system:serviceaccount:kube-system:cluster-autoscaler"]


def test_the_policy_scales_only_this_clusters_node_groups() -> None:
    result = autoscaled()
    policy = json.loads(one(result, "aws:iam/policy:Policy", "cluster-autoscaler-policy")[
        "policy"])
    (scale,) = [s for s in policy["Statement"]
                if "autoscaling:SetDesiredCapacity" in s["Action"]]
    name = result.outputs["cluster_name"]
    assert scale["Condition"]["StringEquals"][
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{name}"] == "owned"
    attachment = one(result, "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                     "cluster-autoscaler-policy")
    assert attachment["role"] == "cluster-autoscaler-role"


# --- node group bounds and `pulumi up` ----------------------------------------------------

def test_pulumi_up_leaves_the_desired_size_to_the_autoscaler() -> None:
    """Without ignore_changes every `pulumi up` would reset the node count the autoscaler set
    (and drain the replicas on the nodes it removes)."""
    result = autoscaled()
    for name in ("gpu-a10g", "eks-system"):
        assert graph_entry(result, NODE_GROUP, name)["ignore_changes"] == [
            "scalingConfig.desiredSize"], name


def test_bounds_follow_min_and_max_replicas() -> None:
    result = autoscaled()  # autoscaling 1-2 x 1 GPU on g5.xlarge
    assert one(result, NODE_GROUP, "gpu-a10g")["scalingConfig"] == {
        "minSize": 1, "desiredSize": 1, "maxSize": 2}
    assert result.outputs["node_pools"]["a10g"]["autoscaler"] == "cluster-autoscaler"


def test_bounds_count_tensor_parallel_replicas_per_node() -> None:
    """TP 2 on g5.12xlarge (4 GPUs): min 3 replicas = 6 GPUs -> 2 nodes; max 5 -> 3 nodes."""
    config = eks_config(model="Qwen/Qwen3-4B-Instruct-2507", gpu={"pool": "a10g", "count": 2},
                        engine_args={"tensor_parallel_size": 2, "max_model_len": 8192},
                        autoscaling={"min": 3, "max": 5})
    config = with_eks(config, gpu_pools=[pool("g5.12xlarge", min_size=0, desired_size=0,
                                              max_size=4)])
    result = plan_config(config)
    assert one(result, NODE_GROUP, "gpu-a10g")["scalingConfig"] == {
        "minSize": 2, "desiredSize": 2, "maxSize": 3}


def test_empty_groups_can_scale_up_from_zero_with_node_template_tags() -> None:
    result = autoscaled()
    tags = {r["inputs"]["tag"]["key"]: (r["inputs"]["autoscalingGroupName"],
                                        r["inputs"]["tag"]["value"])
            for r in resources(result, ASG_TAG)}
    base = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{base}/resources/nvidia.com/gpu"] == ("eks-gpu-a10g-plan", "1")
    assert tags[f"{base}/taint/nvidia.com/gpu"][1] == "true:NoSchedule"
    assert tags[f"{base}/label/inference-stacks/pool"][1] == "a10g"
    assert tags[f"{base}/label/{GPU_LABEL}"][1] == "nvidia-a10g"
    assert one(result, NODE_GROUP, "gpu-a10g")["labels"][GPU_LABEL] == "nvidia-a10g"


# --- engine pods and NodePools are never consolidated while a model is loaded -------------

def test_engine_pods_are_not_evicted_to_scale_a_node_down() -> None:
    pod = manifest(autoscaled(), "Deployment", "qwen3-0-6b")["spec"]["template"]
    assert pod["metadata"]["annotations"][SAFE_TO_EVICT] == "false"
    fixed_pod = manifest(fixed(), "Deployment", "qwen3-0-6b")["spec"]["template"]
    assert SAFE_TO_EVICT not in fixed_pod["metadata"]["annotations"]


def test_karpenter_consolidates_only_empty_nodes_and_pods_opt_out() -> None:
    result = plan_config(with_eks(eks_config(), autoscaling="karpenter"))
    node_pool = manifest(result, "NodePool", "gpu-a10g")
    validate_custom_resource(node_pool)
    assert node_pool["spec"]["disruption"] == {"consolidationPolicy": "WhenEmpty",
                                               "consolidateAfter": "600s"}
    annotations = manifest(result, "Deployment", "qwen3-0-6b")["spec"]["template"][
        "metadata"]["annotations"]
    assert annotations["karpenter.sh/do-not-disrupt"] == "true"
    assert not [r for r in resources(result, RELEASE) if r["name"] == "cluster-autoscaler"]


def test_a_node_pool_without_a_disruption_policy_would_consolidate_busy_nodes() -> None:
    """The schema's default is WhenEmptyOrUnderutilized: leaving the block out is not safe."""
    result = plan_config(with_eks(eks_config(), autoscaling="karpenter"))
    node_pool = manifest(result, "NodePool", "gpu-a10g")
    with pytest.raises(AssertionError):
        validate_custom_resource({**node_pool, "spec": {
            **node_pool["spec"], "disruption": {"consolidationPolicy": "WhenIdle"}}})


# --- preview failures -----------------------------------------------------------------------

def test_an_autoscaling_max_that_cannot_fit_the_pool_fails_the_preview() -> None:
    config = eks_config(autoscaling={"min": 1, "max": 3})  # pool a10g: max_size 2 (default)
    with pytest.raises(ConfigError) as raised:
        plan_config(config)
    text = "\n".join(str(p) for p in raised.value.problems)
    assert "inference-stacks:endpoints[0].autoscaling.max" in text
    assert "3 replicas x 1 GPU" in text and "max_size is 2" in text
    assert "lower autoscaling.max to 2" in text
    assert "inference-stacks:eks.gpu_pools[0].max_size" in text
    assert "qwen3-0-6b (endpoints[0].autoscaling.max 3 x 1 GPU)" in text


def test_tensor_parallel_replicas_that_cannot_fit_the_pool_fail() -> None:
    config = eks_config(model="Qwen/Qwen3-4B-Instruct-2507", gpu={"pool": "a10g", "count": 2},
                        engine_args={"tensor_parallel_size": 2, "max_model_len": 8192},
                        autoscaling={"min": 1, "max": 5})
    config = with_eks(config, gpu_pools=[pool("g5.12xlarge", max_size=2)])
    text = "\n".join(config_problems(config))
    # 5 x 2 GPUs need 3 nodes of 4 GPUs; 2 nodes hold 4 replicas.
    assert "endpoints[0].autoscaling.max" in text and "lower autoscaling.max to 4" in text


def test_a_kubernetes_version_without_a_pinned_autoscaler_fails() -> None:
    config = with_eks(eks_config(autoscaling={"min": 1, "max": 2}), kubernetes_version="1.29")
    text = "\n".join(config_problems(config))
    assert "inference-stacks:eks.kubernetes_version" in text and "'1.29'" in text
    assert config_problems(with_eks(eks_config(), kubernetes_version="1.29")) == []


# --- the plan summary -----------------------------------------------------------------------

def test_the_summary_states_each_pools_bounds_and_autoscaler() -> None:
    assert "a10g: GPU nodes 1-2 (autoscaler: cluster-autoscaler;" in summary(autoscaled(), None)
    assert "a10g: GPU nodes 2-2 (no autoscaler: starts and stays at 2;" in \
        summary(fixed(), None)


def _scale_to_zero_on_eks(min_size: int) -> Plan:
    config = eks_config(router={"kind": "smg"},
                        autoscaling={"scale_to_zero": True, "min": 1, "max": 2})
    config["observability"] = {"mode": "bundled"}
    return plan_config(with_eks(config, gpu_pools=[pool(min_size=min_size, desired_size=1,
                                                        max_size=2)]))


def test_scale_to_zero_lets_the_pool_shed_its_last_gpu_node_and_the_plan_counts_it() -> None:
    """At zero replicas nothing holds the GPU node (min 0), so a wake-up waits for a new node:
    the cold-start estimate says so instead of assuming the node stayed."""
    result = _scale_to_zero_on_eks(min_size=0)
    assert one(result, NODE_GROUP, "gpu-a10g")["scalingConfig"] == {
        "minSize": 0, "desiredSize": 0, "maxSize": 2}
    lines = "\n".join(result.autoscaling)
    assert "node 4.5 min: the Cluster Autoscaler grows the managed node group" in lines, lines
    assert "image 0 s" not in lines, lines


def test_a_pool_min_size_keeps_a_warm_gpu_node_for_scale_to_zero() -> None:
    result = _scale_to_zero_on_eks(min_size=1)
    assert one(result, NODE_GROUP, "gpu-a10g")["scalingConfig"]["minSize"] == 1
    lines = "\n".join(result.autoscaling)
    assert "node 0 s: the managed node group keeps a GPU node" in lines, lines
    assert "image 0 s: cached on the node that stayed" in lines, lines
