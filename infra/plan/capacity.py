"""The plan summary's GPU capacity lines: what holds the endpoints' peak on each platform.

EKS: per GPU pool, the node group's bounds and who moves them (the Cluster Autoscaler, Karpenter
NodePools beside fixed groups, or nothing). K3s on GCP: fixed VMs. Existing clusters and K3s
workload stacks: each endpoint's peak GPUs against `gpu_capacity` where the config states it.
"""

from __future__ import annotations

from components.gpu_catalog import lookup_instance_type
from infra.config.stack import (
    EksStack,
    K3sGcpStack,
    K3sWorkloadStack,
    KubernetesStack,
    StackConfig,
)
from infra.validate.capacity import peaks
from infra.validate.platforms.eks import node_bounds, pool_gpu
from infra.validate.registry import PLATFORMS

_AUTOSCALERS = {"cluster-autoscaler": "autoscaler: cluster-autoscaler",
                "karpenter": "autoscaler: karpenter NodePools beside the fixed group"}


def capacity_lines(config: StackConfig) -> tuple[str, list[str]]:
    """(heading, lines) for the plan summary; no lines when the platform has nothing to say."""
    if isinstance(config, EksStack):
        return "GPU nodes (per pool):", _eks(config)
    if isinstance(config, K3sGcpStack):
        return "GPU capacity (fixed VMs, no node autoscaler):", _k3s_gcp(config)
    if isinstance(config, KubernetesStack | K3sWorkloadStack):
        return "GPU capacity (the cluster's nodes do not follow replicas):", _stated(config)
    return "", []


def _eks(config: EksStack) -> list[str]:
    lines = []
    bounds = node_bounds(config)
    for pool in config.platform_settings.gpu_pools:
        size = bounds[pool.name]
        gpu, per_node = pool_gpu(pool)
        who = _AUTOSCALERS.get(size.autoscaler or "",
                               f"no autoscaler: starts and stays at {size.desired_size}")
        lines.append(f"{pool.name}: GPU nodes {size.min_size}-{size.max_size} ({who}; "
                     f"{per_node} x {gpu.name} per node, max_size {pool.max_size})")
    return lines


def _k3s_gcp(config: K3sGcpStack) -> list[str]:
    settings = config.platform_settings
    instance = lookup_instance_type(settings.machine_type)
    per_node = instance.gpu_count if instance is not None else 0
    nodes = settings.agent_count + 1
    return [f"{nodes} x {settings.machine_type} = {nodes * per_node} {settings.gpu} GPUs; state "
            f"them as k3s_workload.gpu_capacity in the workload stack so its plan checks the "
            "endpoints' peak"]


def _stated(config: KubernetesStack | K3sWorkloadStack) -> list[str]:
    section = "kubernetes" if isinstance(config, KubernetesStack) else "k3s_workload"
    capacity = config.platform_settings.gpu_capacity
    lines = []
    for peak in peaks(config, PLATFORMS[config.platform].place):
        have = capacity.get(peak.gpu or "")
        known = (f"of {have} {peak.gpu} stated ({section}.gpu_capacity)" if have is not None
                 else f"capacity not stated (set {section}.gpu_capacity to check it)")
        lines.append(f"{peak.name}: {peak.key} {peak.replicas} x tensor_parallel_size "
                     f"{peak.gpus_per_replica} = {peak.gpus} {peak.gpu or 'GPU'} at the peak, "
                     f"{known}")
    return lines
