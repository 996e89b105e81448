"""Platform `kubernetes`: an existing cluster from a kubeconfig file or context (on-prem too)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from components.gpu_catalog import GPUS, known_instance_types, lookup_gpu, lookup_instance_type
from components.platforms.kubernetes import ExistingCluster, ExistingClusterArgs
from infra.config.base import NAMESPACE, Problem, StrictModel, key_path
from infra.config.endpoint import EndpointConfig, FsxSource
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlacementError, PlatformContext, PlatformSpec


class KubernetesSettings(StrictModel):
    """Section `inference-stacks:kubernetes`."""

    kubeconfig_path: str | None = Field(
        None, description="Kubeconfig file; exported as a secret output for smoke checks."
    )
    context: str | None = Field(None, description="Kubeconfig context; default the current one.")
    kubernetes_version: str = Field(
        "1.33", pattern=r"^1\.[0-9]+$", description="Cluster version, for schema validation."
    )
    aws_load_balancer_controller: bool = Field(
        False, description="The cluster runs the AWS Load Balancer Controller (allows alb/nlb)."
    )
    aws_region: str | None = Field(None, description="AWS region of the cluster, if on AWS.")
    gpu_node_selector: dict[str, str] = Field(
        default_factory=dict, description="Extra node labels GPU pods must match."
    )
    runtime_class: str | None = Field(
        None, description="RuntimeClass for GPU pods (nvidia on K3s); default none."
    )


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


def check(config: StackConfig) -> list[Problem]:
    settings: KubernetesSettings = config.platform_settings
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
    if settings.kubeconfig_path and not Path(settings.kubeconfig_path).expanduser().is_file():
        problems.append(Problem(f"{NAMESPACE}:kubernetes.kubeconfig_path",
                                f"{settings.kubeconfig_path!r} is not a file"))
    return problems


def build(config: StackConfig) -> PlatformContext:
    settings: KubernetesSettings = config.platform_settings
    kubeconfig = None
    if settings.kubeconfig_path:
        kubeconfig = Path(settings.kubeconfig_path).expanduser().read_text(encoding="utf-8")
    cluster = ExistingCluster("cluster", ExistingClusterArgs(kubeconfig, settings.context))
    return PlatformContext(
        name="kubernetes",
        provider=cluster.provider,
        kubernetes_version=settings.kubernetes_version,
        kubeconfig=cluster.kubeconfig,
        aws_region=settings.aws_region,
        load_balancers=settings.aws_load_balancer_controller,
    )


SPEC = PlatformSpec(
    name="kubernetes",
    settings_model=KubernetesSettings,
    place=place,
    check=check,
    build=build,
    kubernetes_version=lambda settings: settings.kubernetes_version,
)
