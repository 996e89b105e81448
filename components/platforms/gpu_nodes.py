"""`GpuNodes`: managed GPU node groups pinned to instance types, the NVIDIA device plugin, and
optionally Karpenter NodePools with the same requirements.

R3: an autoscaler picks the cheapest type it is allowed (g4dn/T4 instead of g5.xlarge/A10G), so
each pool allows only its own instance types, nodes carry the pool label and the GPU taint, and
engine pods select both the pool label and `node.kubernetes.io/instance-type`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.component import type_token, with_aliases
from components.platforms.eks import POOL_LABEL, NodeGroupSpec, node_group

GPU_TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
# NVIDIA/k8s-device-plugin Helm chart (repo https://nvidia.github.io/k8s-device-plugin), release
# tag v0.17.1; its default affinity schedules on nodes labelled nvidia.com/gpu.present=true.
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_VERSION = "0.17.1"
DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class KarpenterPool:
    """A Karpenter v1 NodePool for one GPU pool (Karpenter itself is installed separately)."""

    node_class: str
    gpu_name: str  # karpenter.k8s.aws/instance-gpu-name, lower case (a10g, l4, t4, ...)
    gpu_limit: int
    # WhenEmpty: only nodes without engine pods are consolidated, after this long empty.
    consolidate_after: str = "600s"


@dataclass(frozen=True)
class GpuNodesArgs:
    """Flat args: cluster, node role and subnets, one NodeGroupSpec per pool."""

    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    pools: list[NodeGroupSpec]
    provider: k8s.Provider
    karpenter: dict[str, KarpenterPool] = field(default_factory=dict)  # by pool name
    # Cluster Autoscaler node-template tags for each pool's Auto Scaling group (by pool name).
    asg_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def gpu_pool_spec(spec: NodeGroupSpec) -> NodeGroupSpec:
    """The pool with the GPU taint and the device plugin's scheduling label added."""
    return dataclasses.replace(spec, instance_types=list(spec.instance_types),
                               labels={**spec.labels, GPU_PRESENT_LABEL: "true"},
                               taints=[*spec.taints, GPU_TAINT])


def node_labels(spec: NodeGroupSpec) -> dict[str, str]:
    """Every label a node of the (GPU) pool joins with, as the node group sets them."""
    return {POOL_LABEL: spec.name, **spec.labels}


def device_plugin_values() -> dict[str, Any]:
    """Only on GPU nodes (label), tolerating the GPU taint; system-node-critical priority."""
    return {
        "nodeSelector": {GPU_PRESENT_LABEL: "true"},
        "tolerations": [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}],
        "priorityClassName": "system-node-critical",
    }


def karpenter_node_pool(spec: NodeGroupSpec, pool: KarpenterPool) -> dict[str, Any]:
    """karpenter.sh/v1 NodePool allowing only the pool's instance types and GPU (R3)."""
    capacity = "on-demand" if spec.capacity_type == "ON_DEMAND" else "spot"
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": f"gpu-{spec.name}"},
        "spec": {
            "template": {
                "metadata": {"labels": {POOL_LABEL: spec.name, GPU_PRESENT_LABEL: "true"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                     "name": pool.node_class},
                    "taints": [{"key": GPU_TAINT[0], "value": GPU_TAINT[1],
                                "effect": GPU_TAINT[2]}],
                    "requirements": [
                        {"key": INSTANCE_TYPE_LABEL, "operator": "In",
                         "values": list(spec.instance_types)},
                        {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In",
                         "values": [pool.gpu_name]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In",
                         "values": [capacity]},
                    ],
                },
            },
            # Never consolidate a node that holds a loaded model (engine pods also carry
            # karpenter.sh/do-not-disrupt); an empty one goes after `consolidate_after`.
            "disruption": {"consolidationPolicy": "WhenEmpty",
                           "consolidateAfter": pool.consolidate_after},
            "limits": {"nvidia.com/gpu": str(pool.gpu_limit)},
        },
    }


class GpuNodes(pulumi.ComponentResource):
    """One managed node group per GPU pool, the device plugin and optional NodePools."""

    node_groups: dict[str, aws.eks.NodeGroup]
    device_plugin: k8s.helm.v3.Release

    def __init__(self, name: str, args: GpuNodesArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "GpuNodes"), name, None,
                         with_aliases(opts, "inference-stacks:aws:GpuNodes"))
        group_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.node_groups = {
            spec.name: node_group(f"{name}-{spec.name}", args.cluster_name, args.node_role_arn,
                                  args.subnet_ids, gpu_pool_spec(spec), group_opts)
            for spec in args.pools
        }
        for pool_name, tags in sorted(args.asg_tags.items()):
            _asg_tags(f"{name}-{pool_name}", self.node_groups[pool_name], tags, group_opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                          depends_on=list(args.depends_on))
        self.device_plugin = k8s.helm.v3.Release(
            f"{name}-device-plugin",
            name="nvidia-device-plugin",
            chart=DEVICE_PLUGIN_CHART,
            version=DEVICE_PLUGIN_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DEVICE_PLUGIN_REPO),
            namespace="kube-system",
            values=device_plugin_values(),
            # A DaemonSet on nodes that may scale to zero: do not wait for pods to be ready.
            skip_await=True,
            opts=k8s_opts,
        )
        self.node_pools: list[pulumi.Output[str]] = []
        for spec in args.pools:
            karpenter = args.karpenter.get(spec.name)
            if karpenter is None:
                continue
            body = karpenter_node_pool(spec, karpenter)
            pool = k8s.apiextensions.CustomResource(
                f"{name}-{spec.name}-nodepool", api_version=body["apiVersion"],
                kind=body["kind"], metadata=body["metadata"], spec=body["spec"], opts=k8s_opts)
            self.node_pools.append(pool.metadata.apply(lambda m: m["name"]))  # type: ignore[attr-defined]
        self.register_outputs({
            "node_groups": {n: g.arn for n, g in self.node_groups.items()},
            "device_plugin": self.device_plugin.name,
            "node_pools": self.node_pools,
        })


def _asg_tags(name: str, group: aws.eks.NodeGroup, tags: dict[str, str],
              opts: pulumi.ResourceOptions) -> None:
    """Tags on the node group's Auto Scaling group (EKS does not copy node group tags there)."""
    asg_name = group.resources.apply(_asg_name)
    for key, value in tags.items():
        aws.autoscaling.Tag(
            f"{name}-{key.rsplit('node-template/', 1)[-1].replace('/', '-')}",
            autoscaling_group_name=asg_name,
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=opts)


def _asg_name(resources: Any) -> str:
    """The one Auto Scaling group EKS creates for a managed node group."""
    (resource,) = resources
    (group,) = resource.autoscaling_groups or []
    return str(group.name)
