"""Platform `kubernetes` rules: GPU placement from the catalog (R3, R4) and exposure needs."""

from __future__ import annotations

from pathlib import Path

from components.gpu_catalog import GPUS, known_instance_types, lookup_gpu, lookup_instance_type
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, FsxSource
from infra.config.platforms.kubernetes import KubernetesSettings
from infra.config.stack import KubernetesStack
from infra.validate.capacity import gpu_capacity_problems
from infra.validate.placement import INSTANCE_TYPE_LABEL, Placement, PlacementError


def place(endpoint: EndpointConfig, settings: KubernetesSettings) -> Placement:
    """Resolve the GPU from gpu.instance_type or gpu.type via the catalog (R3, R4)."""
    request = endpoint.gpu
    if request.pool is not None:
        raise PlacementError("gpu.pool", "GPU pools exist on platform eks; name gpu.type "
                             "or gpu.instance_type on platform kubernetes")
    if request.instance_type is not None:
        instance = lookup_instance_type(request.instance_type)
        if instance is None or instance.provider == "sagemaker":
            known = ", ".join(known_instance_types("aws") + known_instance_types("gcp"))
            raise PlacementError(
                "gpu.instance_type", f"{request.instance_type!r} is not a known GPU instance "
                f"type; known: {known}")
        if request.type is not None and lookup_gpu(request.type) != instance.gpu:
            raise PlacementError(
                "gpu.type", f"{request.type!r} but {instance.name} has {instance.gpu.name}")
        if request.count > instance.gpu_count:
            raise PlacementError(
                "gpu.count", f"{request.count} GPUs but {instance.name} has {instance.gpu_count}")
        return Placement.pinned(instance.gpu, request.count, instance.name,
                                settings.gpu_node_selector, settings.runtime_class)
    if request.type is None:
        raise PlacementError("gpu.type", "missing; name the GPU model (one of "
                             f"{', '.join(sorted(GPUS))}) or gpu.instance_type, so the memory "
                             "fit (R9) and compute capability (R4) checks can run")
    gpu = lookup_gpu(request.type)
    if gpu is None:
        raise PlacementError("gpu.type", f"{request.type!r} is not in the GPU catalog; known: "
                             f"{', '.join(sorted(GPUS))}")
    return Placement.pinned(gpu, request.count, None, settings.gpu_node_selector,
                            settings.runtime_class)


def check(config: KubernetesStack) -> list[Problem]:
    settings = config.platform_settings
    problems = []
    for index, endpoint in enumerate(config.endpoints):
        at = f"{NAMESPACE}:" + key_path("endpoints", index)
        if endpoint.exposure.type != "cluster" and not settings.aws_load_balancer_controller:
            problems.append(Problem(
                f"{at}.exposure.type",
                f"{endpoint.exposure.type!r} needs the AWS Load Balancer Controller; set "
                f"{NAMESPACE}:kubernetes.aws_load_balancer_controller: true if the cluster runs "
                "it, or use type cluster",
            ))
        if isinstance(endpoint.source, FsxSource):
            problems.append(Problem(f"{at}.source.type", "'fsx' is only for platform hyperpod"))
    if INSTANCE_TYPE_LABEL in settings.gpu_node_selector:
        problems.append(Problem(f"{NAMESPACE}:kubernetes.gpu_node_selector", (
            f"{INSTANCE_TYPE_LABEL} comes from each endpoint's gpu.instance_type (R3) and would "
            "override it; remove it here")))
    if settings.kubeconfig_path and not Path(settings.kubeconfig_path).expanduser().is_file():
        problems.append(Problem(f"{NAMESPACE}:kubernetes.kubeconfig_path",
                                f"{settings.kubeconfig_path!r} is not a file"))
    return problems + gpu_capacity_problems(config, "kubernetes", settings.gpu_capacity, place)

