"""Platform `k3s-workload` rules: GCP machine types pinned by node label (R3, R25)."""

from __future__ import annotations

import dataclasses

from components.gpu_catalog import (
    gcp_families_for_gpu,
    instance_types_for_gpu,
    known_instance_types,
    lookup_gpu,
    lookup_instance_type,
)
from components.platforms.k3s_hosts import MACHINE_TYPE_LABEL
from components.platforms.nvidia_device_plugin import RUNTIME_CLASS
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, FsxSource
from infra.config.platforms.k3s_workload import K3sWorkloadSettings
from infra.config.stack import K3sWorkloadStack
from infra.validate.capacity import gpu_capacity_problems
from infra.validate.placement import Placement, PlacementError


def place(endpoint: EndpointConfig, settings: K3sWorkloadSettings) -> Placement:
    """GCP machine type (pinned by the node label) or a GPU model; runtimeClass nvidia."""
    request = endpoint.gpu
    if request.pool is not None:
        raise PlacementError("gpu.pool", "GPU pools exist on platform eks; name "
                             "gpu.instance_type (a G2 machine type) or gpu.type on k3s-workload")
    if request.instance_type is not None:
        instance = lookup_instance_type(request.instance_type)
        if instance is None or instance.provider != "gcp":
            known = ", ".join(known_instance_types("gcp"))
            raise PlacementError("gpu.instance_type", f"{request.instance_type!r} is not a GCP "
                                 f"GPU machine type; known: {known}")
        wanted = lookup_gpu(request.type) if request.type else instance.gpu
        if wanted is None or wanted != instance.gpu:
            families = gcp_families_for_gpu(request.type or "") or ["none on GCP"]
            raise PlacementError("gpu.instance_type", (
                f"{instance.name} has {instance.gpu_count}x {instance.gpu.name} "
                f"{instance.gpu.memory_gib} GB, not {request.type}; {request.type} is on "
                f"{' / '.join(families)} (R25)"))
        if request.count > instance.gpu_count:
            raise PlacementError("gpu.count", f"{request.count} GPUs per replica but "
                                 f"{instance.name} has {instance.gpu_count}")
        placement = Placement.pinned(instance.gpu, request.count, None,
                                     {MACHINE_TYPE_LABEL: instance.name}, RUNTIME_CLASS)
        # Keep the machine type in the outputs without the instance-type nodeSelector (K3s
        # sets that label to "k3s" on every node).
        return dataclasses.replace(placement, instance_type=instance.name)
    gpu = lookup_gpu(request.type) if request.type else None
    if gpu is None or not gcp_families_for_gpu(gpu.name):
        g2 = ", ".join(instance_types_for_gpu("L4", "gcp"))
        raise PlacementError("gpu.type", f"{request.type!r}: name a GPU available on GCP "
                             f"(L4, H100) or gpu.instance_type ({g2})")
    return Placement.pinned(gpu, request.count, None, None, RUNTIME_CLASS)


def check(config: K3sWorkloadStack) -> list[Problem]:
    problems = []
    for index, endpoint in enumerate(config.endpoints):
        at = f"{NAMESPACE}:" + key_path("endpoints", index)
        if endpoint.exposure.type != "cluster":
            problems.append(Problem(f"{at}.exposure.type", (
                f"{endpoint.exposure.type!r} needs an AWS load balancer; on K3s use type "
                "cluster (smoke and bench reach it by port-forward)")))
        if isinstance(endpoint.source, FsxSource):
            problems.append(Problem(f"{at}.source.type", "'fsx' is only for platform hyperpod"))
    settings = config.platform_settings
    return problems + gpu_capacity_problems(config, "k3s_workload", settings.gpu_capacity, place)

