"""Cluster Autoscaler builders (components/platforms/cluster_autoscaler.py): chart pins, values,
least-privilege policy, node-template tags; no Pulumi."""

from __future__ import annotations

import re

import pytest

from components.iam import actions_of
from components.platforms import cluster_autoscaler as ca
from components.platforms.eks import NodeGroupSpec
from components.platforms.gpu_nodes import GPU_TAINT, gpu_pool_spec, node_labels


def test_each_pinned_chart_matches_its_kubernetes_minor() -> None:
    """The autoscaler's minor must be the cluster's (its README); a patch image of that minor."""
    for minor, (chart, image) in ca.VERSIONS.items():
        assert re.fullmatch(r"9\.[0-9]+\.[0-9]+", chart), chart
        assert image.startswith(f"v{minor}."), (minor, image)
    assert ca.chart_for("1.33") == ("9.51.0", "v1.33.6")
    assert ca.chart_for("1.29") is None


def test_values_discover_this_cluster_with_the_irsa_account_on_system_nodes() -> None:
    values = ca.helm_values("inference-stacks-eks", "us-east-1", "v1.33.6", "arn:role",
                            {"inference-stacks/pool": "system"}, 600)
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == "us-east-1"
    # The chart's default autoDiscovery.tags use clusterName: k8s.io/cluster-autoscaler/<name>.
    assert values["autoDiscovery"] == {"clusterName": "inference-stacks-eks"}
    account = values["rbac"]["serviceAccount"]
    assert account == {"create": True, "name": ca.SERVICE_ACCOUNT,
                       "annotations": {"eks.amazonaws.com/role-arn": "arn:role"}}
    assert values["image"] == {"repository": ca.IMAGE, "tag": "v1.33.6"}
    assert values["nodeSelector"] == {"inference-stacks/pool": "system"}
    args = values["extraArgs"]
    assert args["expander"] == "least-waste"
    assert args["scale-down-unneeded-time"] == "600s"
    assert args["skip-nodes-with-local-storage"] == "true"


def test_policy_describes_anything_but_scales_only_this_clusters_groups() -> None:
    document = ca.iam_policy("inference-stacks-eks")
    describe, scale = document["Statement"]
    assert describe["Resource"] == "*" and "Condition" not in describe
    assert all(":Describe" in a or ":Get" in a for a in describe["Action"])
    assert sorted(scale["Action"]) == ["autoscaling:SetDesiredCapacity",
                                       "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Condition"] == {"StringEquals": {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/inference-stacks-eks": "owned"}}
    assert "eks:DescribeNodegroup" in actions_of(document)  # labels/taints of empty groups
    assert not [a for a in actions_of(document) if a.endswith("*")]


def test_node_template_tags_describe_gpus_labels_and_taints() -> None:
    spec = gpu_pool_spec(NodeGroupSpec(
        name="a10g", instance_types=["g5.xlarge"], ami_type="AL2023_x86_64_NVIDIA",
        min_size=1, desired_size=1, max_size=2, root_volume_gib=200,
        labels={ca.GPU_LABEL: "nvidia-a10g"}))
    tags = ca.node_template_tags(node_labels(spec), spec.taints, 1)
    base = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {
        f"{base}/resources/nvidia.com/gpu": "1",
        f"{base}/label/inference-stacks/pool": "a10g",
        f"{base}/label/k8s.amazonaws.com/accelerator": "nvidia-a10g",
        f"{base}/label/nvidia.com/gpu.present": "true",
        f"{base}/taint/{GPU_TAINT[0]}": f"{GPU_TAINT[1]}:{GPU_TAINT[2]}",
    }


@pytest.mark.parametrize(("seconds", "text"), [(600, "600s"), (3600, "3600s")])
def test_durations_match_go_and_karpenter_patterns(seconds: int, text: str) -> None:
    assert ca.duration(seconds) == text
    assert re.fullmatch(r"^(([0-9]+(s|m|h))+|Never)$", text)
