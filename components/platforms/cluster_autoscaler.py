"""`ClusterAutoscaler`: the Kubernetes Cluster Autoscaler (Helm chart, pinned per Kubernetes
minor) with its own IRSA role, so EKS managed GPU node groups grow and shrink with the engine
replicas KEDA asks for.

Sources: chart `cluster-autoscaler` from https://kubernetes.github.io/autoscaler (values keys as
in kubernetes/autoscaler `charts/cluster-autoscaler/values.yaml` of the pinned chart tags), the
AWS cloud provider README at tag cluster-autoscaler-1.33.6 (auto-discovery tags, node-template
tags for scaling up from zero, the GPU label) and the Amazon EKS Best Practices Guide's least
privileged policy (scaling actions only on Auto Scaling groups tagged for this cluster). EKS
tags every managed node group's Auto Scaling group `k8s.io/cluster-autoscaler/enabled: true`
and `k8s.io/cluster-autoscaler/<cluster>: owned`, which is what discovery and the policy's
condition match.

A loaded model is never evicted to consolidate nodes: engine pods carry `SAFE_TO_EVICT` (the
platform adds it), and an empty GPU node is removed only after `scale-down-unneeded-time`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.component import type_token
from components.iam import irsa_trust_policy, policy_document, statement, to_json

CHART = "cluster-autoscaler"
REPO = "https://kubernetes.github.io/autoscaler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# Kubernetes minor -> (chart version, image tag): the last chart whose appVersion is that minor
# (kubernetes/autoscaler tags cluster-autoscaler-chart-*) and the minor's latest patch image
# (tags cluster-autoscaler-1.*). The autoscaler's minor must match the cluster's.
VERSIONS: dict[str, tuple[str, str]] = {
    "1.31": ("9.44.0", "v1.31.5"),
    "1.32": ("9.46.6", "v1.32.7"),
    "1.33": ("9.51.0", "v1.33.6"),
    "1.34": ("9.53.0", "v1.34.5"),
    "1.35": ("9.59.0", "v1.35.2"),
}
IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
# Engine pods: never evicted to scale a node down (the model would reload for minutes).
SAFE_TO_EVICT = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
# Karpenter's equivalent (NodePools also consolidate only empty nodes).
DO_NOT_DISRUPT = {"karpenter.sh/do-not-disrupt": "true"}
# Set on GPU nodes before they join, so the autoscaler waits for the device plugin to advertise
# the GPUs instead of adding more nodes meanwhile (AWS README, "Special note on GPU instances").
GPU_LABEL = "k8s.amazonaws.com/accelerator"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
EXPANDER = "least-waste"  # the group that leaves the fewest GPUs idle after scheduling
MIN_EMPTY_NODE_SECONDS = 600  # the autoscaler's default scale-down-unneeded-time


def chart_for(kubernetes_version: str) -> tuple[str, str] | None:
    """(chart version, image tag) matching the cluster's Kubernetes minor, None if unknown."""
    return VERSIONS.get(kubernetes_version)


def iam_policy(cluster_name: str) -> dict[str, Any]:
    """Describe calls on `*` (they take no resource); capacity changes only on this cluster's
    Auto Scaling groups (tag condition), never another cluster's."""
    return policy_document([
        statement([
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations",
            "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup",
        ], sid="DiscoverNodeGroups"),
        statement(
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            conditions={"StringEquals": {
                "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
                f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
            }},
            sid="ScaleThisClustersNodeGroups"),
    ])


def duration(seconds: int) -> str:
    """Go duration (also Karpenter's consolidateAfter pattern): 600 -> "600s"."""
    return f"{seconds}s"


def helm_values(cluster_name: str, region: str, image_tag: str, role_arn: Any,
                node_selector: dict[str, str], empty_node_seconds: int) -> dict[str, Any]:
    """Auto-discovery of this cluster's node groups, the IRSA service account, scale-down that
    waits `empty_node_seconds` before removing an empty node."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        # The chart's default tags: k8s.io/cluster-autoscaler/enabled and .../<clusterName>.
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": CHART,
        "image": {"repository": IMAGE, "tag": image_tag},
        "rbac": {"serviceAccount": {
            "create": True, "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "nodeSelector": dict(node_selector),
        "extraArgs": {
            "expander": EXPANDER,
            # GPU nodes take minutes to boot and load the driver; the defaults otherwise.
            "max-node-provision-time": "15m0s",
            "scale-down-unneeded-time": duration(empty_node_seconds),
            "scale-down-delay-after-add": "10m0s",
            # Nodes with engine pods are kept by SAFE_TO_EVICT; emptyDir caches stay guarded too.
            "skip-nodes-with-local-storage": "true",
            "balance-similar-node-groups": "false",
        },
    }


def node_template_tags(labels: dict[str, str], taints: list[tuple[str, str, str]],
                       gpus_per_node: int) -> dict[str, str]:
    """Auto Scaling group tags that describe a node of an empty group (scale-up from zero):
    its GPUs, labels and taints (`<value>:<effect>`)."""
    tags = {f"{TEMPLATE}/resources/nvidia.com/gpu": str(gpus_per_node)}
    tags.update({f"{TEMPLATE}/label/{k}": v for k, v in sorted(labels.items())})
    tags.update({f"{TEMPLATE}/taint/{k}": f"{v}:{effect}" for k, v, effect in taints})
    return tags


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    """The cluster, its IRSA identity (OIDC provider ARN + issuer) and where the pod runs."""

    cluster_name: str
    region: str
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    provider: k8s.Provider
    node_selector: dict[str, str] = field(default_factory=dict)
    empty_node_seconds: int = MIN_EMPTY_NODE_SECONDS
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class ClusterAutoscaler(pulumi.ComponentResource):
    """IAM policy + IRSA role + the `cluster-autoscaler` Helm release."""

    role_arn: pulumi.Output[str]
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterAutoscalerArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "ClusterAutoscaler"), name, None, opts)
        versions = chart_for(args.kubernetes_version)
        if versions is None:  # the rules reject it at preview; never reached from a stack
            raise ValueError(f"no Cluster Autoscaler pinned for Kubernetes "
                             f"{args.kubernetes_version}")
        chart_version, image_tag = versions
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            f"{name}-policy", description=f"Cluster Autoscaler {image_tag} for "
            f"{args.cluster_name}: scale only this cluster's node groups",
            policy=to_json(iam_policy(args.cluster_name)), opts=child)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], NAMESPACE, SERVICE_ACCOUNT)))
        role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, opts=child)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-policy", role=role.name,
                                                  policy_arn=policy.arn, opts=child)
        self.role_arn = role.arn
        self.release = k8s.helm.v3.Release(
            name, name=CHART, chart=CHART, version=chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPO),
            namespace=NAMESPACE,
            values=helm_values(args.cluster_name, args.region, image_tag, role.arn,
                               args.node_selector, args.empty_node_seconds),
            skip_await=False, timeout=600,
            # The pod must start with its permissions attached (not the IRSA role alone).
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                        depends_on=[attachment, *args.depends_on]))
        self.register_outputs({"role_arn": self.role_arn, "chart_version": chart_version,
                               "image_tag": image_tag})
