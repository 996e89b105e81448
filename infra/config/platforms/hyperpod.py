"""Section `inference-stacks:hyperpod`: SageMaker HyperPod on EKS with the inference operator."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from infra.config import formats as f
from infra.config.base import StrictModel, cidrs, principal_arns, vpc_cidr

SUPPORTED_KUBERNETES = ("1.28", "1.29", "1.30", "1.31", "1.32", "1.33")  # HyperPod EKS guide
_GROUP_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class InstanceGroupConfig(StrictModel):
    """One HyperPod instance group."""

    name: str = Field(pattern=_GROUP_NAME, description="Instance group name.")
    role: Literal["system", "gpu"] = Field(
        description="system: the operator and add-ons; gpu: inference workers.")
    instance_type: f.MlInstanceType = Field(description="SageMaker instance type (ml.*).")
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
    availability_zone_names: f.AwsZones = Field(
        default_factory=list, description="Pin AZs (ones offering the GPU types); default the "
        "first `availability_zones` available ones.")
    api_public_access_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to the EKS API; none = private (R24).")
    allow_public_api: bool = Field(
        False, description="Explicitly allow a world range in api_public_access_cidrs (R24).")
    admin_principal_arns: list[str] = Field(
        default_factory=list, description="IAM principals granted cluster admin (access entries).")
    eks_system_instance_type: f.InstanceType = Field(
        "m5.xlarge", description="EKS node group that runs the dependency chart before HyperPod.")
    eks_system_nodes: int = Field(1, ge=1, le=10, description="Nodes in that group.")
    instance_groups: list[InstanceGroupConfig] = Field(
        min_length=2, description="HyperPod instance groups: one system group and GPU groups.")
    dependency_chart_path: f.ChartPath = Field(
        "vendor/sagemaker-hyperpod-cli/helm_chart/HyperPodHelmChart",
        description="Checkout of HyperPod's dependency chart (it is not in a Helm repository).")
    prefetch_models: bool = Field(
        False, description="Prefetch weights to RAM (never with KV cache tiers, R11).")
    router_service_suffix: str = Field(
        "-default-router", pattern=r"^-[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$",
        description="Suffix of the router Service the operator creates.")
    router_port: int = Field(8000, ge=1, le=65535, description="Port of that router Service.")

    @field_validator("api_public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return cidrs(value)

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        return principal_arns(value)

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

