"""Platform `hyperpod` rules: R12 public needs routing, R13 name budget, `ml.` GPU types, the
instance groups, and the sources the inference operator supports."""

from __future__ import annotations

import re
from pathlib import Path

from components import engines, names
from components.gpu_catalog import (
    SAGEMAKER_CPU_TYPES,
    known_instance_types,
    lookup_instance_type,
    sagemaker_cpu_type_at_least,
)
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, HuggingFaceSource, S3Source
from infra.config.platforms.hyperpod import HyperPodSettings
from infra.config.stack import HyperPodStack
from infra.validate.placement import Placement, PlacementError

SECTION = f"{NAMESPACE}:hyperpod"
# Relative chart paths are relative to the project (where Pulumi.yaml is and Pulumi runs).
PROJECT_ROOT = Path(__file__).resolve().parents[3]
VENDOR_COMMAND = "scripts/vendor-hyperpod-chart.sh"


def dependency_chart_dir(settings: HyperPodSettings) -> Path | None:
    """The dependency chart's directory, or None when it is not there (fresh clone)."""
    path = Path(settings.dependency_chart_path)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    return path if (path / "Chart.yaml").is_file() else None


def missing_chart_message(settings: HyperPodSettings) -> str:
    return (f"{SECTION}.dependency_chart_path: no Helm chart at "
            f"{settings.dependency_chart_path!r}; run `{VENDOR_COMMAND}` (a pinned checkout of "
            "aws/sagemaker-hyperpod-cli) before `pulumi up`. Until then preview skips the "
            "HyperPod dependency release and `pulumi up` stops before creating anything")
SYSTEM_GROUP_MINIMUM = "ml.c5.4xlarge"  # the operator and its dependencies need ~13 pods
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def name_budget(endpoint: EndpointConfig) -> names.NameBudget:
    """The operator's budget (R13), which the shared name rule applies on this platform."""
    return names.hyperpod_budget(endpoint.autoscaling is not None)


def place(endpoint: EndpointConfig, settings: HyperPodSettings) -> Placement:
    """The endpoint runs on an `ml.` GPU type of one of the stack's GPU instance groups."""
    request = endpoint.gpu
    gpu_groups = sorted({g.instance_type for g in settings.instance_groups if g.role == "gpu"})
    if request.pool is not None:
        raise PlacementError("gpu.pool", "pools are for platform eks; on hyperpod name "
                             f"gpu.instance_type, one of the GPU instance groups: {gpu_groups}")
    if request.instance_type is None:
        raise PlacementError("gpu.instance_type", "missing; the operator needs an ml.* instance "
                             f"type, one of the GPU instance groups: {gpu_groups}")
    instance = lookup_instance_type(request.instance_type)
    if instance is None or instance.provider != "sagemaker":
        raise PlacementError("gpu.instance_type", f"{request.instance_type!r} is not a known "
                             "HyperPod GPU type; known: " + ", ".join(known_instance_types(
                                 "sagemaker")))
    if instance.name not in gpu_groups:
        raise PlacementError("gpu.instance_type", f"{instance.name!r} is in no GPU instance group "
                             f"of {SECTION}.instance_groups ({gpu_groups})")
    if request.type is not None and request.type.lower() != instance.gpu.name.lower():
        raise PlacementError("gpu.type", f"{request.type!r} but {instance.name} has "
                             f"{instance.gpu.name}")
    if request.count > instance.gpu_count:
        raise PlacementError("gpu.count", f"{request.count} GPUs but {instance.name} has "
                             f"{instance.gpu_count}")
    return Placement.pinned(instance.gpu, request.count, instance.name)


def _group_problems(settings: HyperPodSettings) -> list[Problem]:
    problems = []
    group_names = [g.name for g in settings.instance_groups]
    for index, group in enumerate(settings.instance_groups):
        at = f"{SECTION}." + key_path("instance_groups", index)
        if (first := group_names.index(group.name)) < index:
            problems.append(Problem(f"{at}.name", f"{group.name!r} is used twice (also "
                                    f"instance_groups[{first}]); instance group names are "
                                    "unique in the cluster"))
        if group.role == "system" and not sagemaker_cpu_type_at_least(
                group.instance_type, SYSTEM_GROUP_MINIMUM):
            allowed = sorted(t for t in SAGEMAKER_CPU_TYPES
                             if sagemaker_cpu_type_at_least(t, SYSTEM_GROUP_MINIMUM))
            problems.append(Problem(
                f"{at}.instance_type", f"{group.instance_type!r} is too small for the system "
                f"group: the inference operator and its dependencies need {SYSTEM_GROUP_MINIMUM}"
                f" or larger ({', '.join(allowed)})"))
        if group.role == "gpu":
            instance = lookup_instance_type(group.instance_type)
            if instance is None or instance.provider != "sagemaker":
                problems.append(Problem(
                    f"{at}.instance_type", f"{group.instance_type!r} is not a HyperPod GPU type "
                    "in the catalog; known: " + ", ".join(known_instance_types("sagemaker"))))
    for role in ("system", "gpu"):
        if not any(g.role == role for g in settings.instance_groups):
            problems.append(Problem(f"{SECTION}.instance_groups", f"needs a {role} group"))
    return problems


def _endpoint_problems(index: int, endpoint: EndpointConfig) -> list[Problem]:
    at = f"{NAMESPACE}:" + key_path("endpoints", index)
    problems = []
    exposure = endpoint.exposure
    if exposure.type == "nlb":
        problems.append(Problem(f"{at}.exposure.type", "'nlb' is not available on hyperpod; use "
                                "alb (with routing) or cluster"))
    if exposure.type == "alb" and endpoint.routing is None:
        problems.append(Problem(
            f"{at}.routing", f"missing, but exposure alb ({exposure.label}) needs intelligent "
            "routing: the operator only creates its router (and its internal ALB) with "
            "intelligentRoutingSpec, and the program's ALB fronts that router (R12)"))
    source = endpoint.source
    if isinstance(source, S3Source):
        for key in ("endpoint_url", "credentials_secret"):
            if getattr(source, key):
                problems.append(Problem(f"{at}.source.{key}", "not supported by the HyperPod "
                                        "operator (it mounts AWS S3 with the S3 CSI driver)"))
        if source.stream:
            problems.append(Problem(f"{at}.source.stream", "not supported on hyperpod: the "
                                    "operator mounts the weights"))
    if isinstance(source, HuggingFaceSource) and source.revision and not _COMMIT.match(
            source.revision):
        problems.append(Problem(f"{at}.source.revision", f"{source.revision!r}: the operator "
                                "takes a 40-character commit SHA (commitSHA) only"))
    if endpoint.cache.type != "emptydir" or endpoint.cache.size is not None:
        problems.append(Problem(f"{at}.cache", "not used on hyperpod: the operator manages the "
                                "model volume; remove it"))
    if endpoint.router is not None:
        problems.append(Problem(f"{at}.router", "not available on hyperpod; use routing (the "
                                "operator's intelligent routing)"))
    reserved = {engines.API_KEY_ENV, "VLLM_API_KEY"} & set(endpoint.env)
    if reserved:
        problems.append(Problem(f"{at}.env", f"{sorted(reserved)} are set by the program (R15)"))
    return problems


def check(config: HyperPodStack) -> list[Problem]:
    settings = config.platform_settings
    problems = _group_problems(settings)
    zones = settings.availability_zone_names
    if zones and len(set(zones)) < 2:
        problems.append(Problem(f"{SECTION}.availability_zone_names",
                                f"{zones}: EKS needs subnets in at least two zones"))
    for index, endpoint in enumerate(config.endpoints):
        problems += _endpoint_problems(index, endpoint)
    return problems

