"""Section `inference-stacks:k3s_workload`: endpoints on a cluster a `k3s-gcp` stack created."""

from __future__ import annotations

from pydantic import Field

from components.platforms.nvidia_device_plugin import DEVICE_PLUGIN_IMAGE
from infra.config import formats as f
from infra.config.base import StrictModel


class K3sWorkloadSettings(StrictModel):
    """Section `inference-stacks:k3s_workload`."""

    cluster_stack: str = Field(
        "organization/inference-stacks/k3s-l4", pattern=r"^[^/\s]+/[^/\s]+/[^/\s]+$",
        description="Fully qualified name of the k3s-gcp cluster stack (org/project/stack).")
    kubernetes_version: str = Field(
        "1.33", pattern=r"^1\.[0-9]+$",
        description="Kubernetes minor of the cluster's K3s (schema validation).")
    device_plugin_image: f.ImageReference = Field(
        DEVICE_PLUGIN_IMAGE,
        description="NVIDIA device plugin image, pinned.")
    gpu_capacity: f.GpuCapacity = Field(
        default_factory=dict,
        description="GPUs the endpoints may use, by model (e.g. {L4: 12}): when stated, the plan "
        "fails if their peak (autoscaling.max or replicas x gpu.count) exceeds it.")
