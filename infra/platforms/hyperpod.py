"""Platform `hyperpod`: SageMaker HyperPod on EKS with the inference operator add-on.

Build order (each step waits for the previous): VPC -> EKS (API auth, OIDC, a small system node
group for the dependency chart) -> HyperPod dependency chart -> HyperPod cluster (instance
groups from config) -> dependency add-ons (S3/FSx CSI, cert-manager) -> inference operator
add-on -> per endpoint an `InferenceEndpointConfig` (`HyperPodEndpoint`). Endpoints are not
Deployments, so the platform deploys them itself through `PlatformContext.deploy_endpoint`.
The platform rules (R12 public needs routing, R13 name budget 50, `ml.` GPU types, sources the
operator supports) are in `check`/`place`, so a bad stack fails at preview.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from components import engines
from components import hyperpod_manifest as hp
from components.gpu_catalog import (
    SAGEMAKER_CPU_TYPES,
    known_instance_types,
    lookup_instance_type,
    sagemaker_cpu_type_at_least,
)
from components.platforms import hyperpod_policies as hpp
from infra.config.base import NAMESPACE, Problem, StrictModel, cidrs, key_path, vpc_cidr
from infra.config.endpoint import EndpointConfig, HuggingFaceSource, S3Source
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlacementError, PlatformContext, PlatformSpec

SECTION = f"{NAMESPACE}:hyperpod"
SYSTEM_GROUP_MINIMUM = "ml.c5.4xlarge"  # the operator and its dependencies need ~13 pods
SUPPORTED_KUBERNETES = ("1.28", "1.29", "1.30", "1.31", "1.32", "1.33")  # HyperPod EKS guide
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_GROUP_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class InstanceGroupConfig(StrictModel):
    """One HyperPod instance group."""

    name: str = Field(pattern=_GROUP_NAME, description="Instance group name.")
    role: Literal["system", "gpu"] = Field(
        description="system: the operator and add-ons; gpu: inference workers.")
    instance_type: str = Field(pattern=r"^ml\.", description="SageMaker instance type (ml.*).")
    count: int = Field(1, ge=1, le=256, description="Instances in the group.")
    ebs_volume_gb: int | None = Field(
        None, ge=1, le=16384, description="Extra EBS volume per instance (images, weights).")
    threads_per_core: Literal[1, 2] = Field(1, description="1 disables hyper-threading.")


class HyperPodSettings(StrictModel):
    """Section `inference-stacks:hyperpod`."""

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$", description="AWS region.")
    cluster_name: str = Field("inference-hyperpod", pattern=r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$",
                              description="EKS and HyperPod cluster name (<= 40 characters).")
    kubernetes_version: str = Field("1.33", description="EKS version HyperPod supports.")
    vpc_cni_addon_version: str = Field(
        "v1.20.1-eksbuild.3",
        description="VPC CNI add-on version; HyperPod needs >= v1.18.3 (default: EKS 1.33's).",
    )

    @field_validator("vpc_cni_addon_version")
    @classmethod
    def _cni_at_least_1_18_3(cls, value: str) -> str:
        match = re.match(r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.\d+$", value)
        if match is None or tuple(int(g) for g in match.groups()) < (1, 18, 3):
            raise ValueError("must be an EKS add-on version vX.Y.Z-eksbuild.N of at least "
                             "v1.18.3 (HyperPod prerequisite)")
        return value
    vpc_cidr: str = Field("10.0.0.0/16", description="VPC CIDR (/20 or larger).")
    availability_zones: int = Field(2, ge=2, le=6, description="AZs (EKS needs two).")
    availability_zone_names: list[str] = Field(
        default_factory=list, description="Pin AZs (ones offering the GPU types); default the "
        "first `availability_zones` available ones.")
    api_public_access_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to the EKS API; none = private (R24).")
    admin_principal_arns: list[str] = Field(
        default_factory=list, description="IAM principals granted cluster admin (access entries).")
    eks_system_instance_type: str = Field(
        "m5.xlarge", description="EKS node group that runs the dependency chart before HyperPod.")
    eks_system_nodes: int = Field(1, ge=1, le=10, description="Nodes in that group.")
    instance_groups: list[InstanceGroupConfig] = Field(
        min_length=2, description="HyperPod instance groups: one system group and GPU groups.")
    dependency_chart_path: str = Field(
        "vendor/sagemaker-hyperpod-cli/helm_chart/HyperPodHelmChart",
        description="Checkout of HyperPod's dependency chart (it is not in a Helm repository).")
    prefetch_models: bool = Field(
        False, description="Prefetch weights to RAM (never with KV cache tiers, R11).")
    router_service_suffix: str = Field(
        "-default-router", description="Suffix of the router Service the operator creates.")
    router_port: int = Field(8000, ge=1, le=65535, description="Port of that router Service.")

    @field_validator("api_public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return cidrs(value)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        return vpc_cidr(value)

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES:
            raise ValueError(f"HyperPod supports Kubernetes {', '.join(SUPPORTED_KUBERNETES)}")
        return value


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
    names = [g.name for g in settings.instance_groups]
    for index, group in enumerate(settings.instance_groups):
        at = f"{SECTION}." + key_path("instance_groups", index)
        if names.count(group.name) > 1:
            problems.append(Problem(f"{at}.name", f"{group.name!r} is used twice"))
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
    try:
        hp.hyperpod_name(endpoint.name)
    except hp.HyperPodRenderError as exc:
        problems.append(Problem(f"{at}.name", str(exc)))
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


def check(config: StackConfig) -> list[Problem]:
    settings: HyperPodSettings = config.platform_settings
    problems = _group_problems(settings)
    zones = settings.availability_zone_names
    if zones and len(set(zones)) < 2:
        problems.append(Problem(f"{SECTION}.availability_zone_names",
                                f"{zones}: EKS needs subnets in at least two zones"))
    for index, endpoint in enumerate(config.endpoints):
        problems += _endpoint_problems(index, endpoint)
    return problems


def build(config: StackConfig) -> PlatformContext:
    from infra.platforms.hyperpod_build import build_platform

    return build_platform(config)


def _kubernetes_version(settings: Any) -> str:
    return str(settings.kubernetes_version)


def _spec() -> PlatformSpec:
    from infra.platforms.hyperpod_build import PLAN_CALL_HOOKS, PLAN_STATE_HOOKS

    return PlatformSpec(
        name="hyperpod", settings_model=HyperPodSettings, place=place, check=check, build=build,
        kubernetes_version=_kubernetes_version, plan_state_hooks=PLAN_STATE_HOOKS,
        plan_call_hooks=PLAN_CALL_HOOKS)


OPERATOR_NAMESPACE = hpp.OPERATOR_NAMESPACE
SPEC = _spec()
