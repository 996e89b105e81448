"""Settings of platform `eks` (section `inference-stacks:eks`) and their single-field rules.

Split from `infra/platforms/eks.py` so the model stays readable; cross-endpoint rules (pool
capacity, cache vs root volume, exposure needs) live in `eks.check`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.gpu_catalog import known_instance_types, lookup_instance_type
from infra.config import formats as f
from infra.config.base import StrictModel, cidrs, principal_arns, vpc_cidr

LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
DEFAULT_LOG_TYPES: tuple[LogType, ...] = ("api", "audit", "authenticator")
_NAME = r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$"


def _check_cidrs(value: list[str]) -> list[str]:
    return cidrs(value)


def _sizes(min_size: int, desired: int, max_size: int) -> None:
    if not min_size <= desired <= max_size:
        raise ValueError(f"sizes must satisfy min_size <= desired_size <= max_size "
                         f"(got {min_size} <= {desired} <= {max_size})")


class VpcSettings(StrictModel):
    """A new VPC (default) or an existing one with its subnets."""

    cidr: str = Field("10.0.0.0/16", description="CIDR of a new VPC (/20 or larger).")
    availability_zones: int = Field(
        2, ge=2, le=6, description="AZs for a new VPC (from aws.get_availability_zones)."
    )
    availability_zone_names: f.AwsZones = Field(
        default_factory=list,
        description="Pin the AZs (e.g. where the GPU type is offered); default: the first "
        "`availability_zones` available ones from aws.get_availability_zones.",
    )
    nat_gateway_per_az: bool = Field(
        False, description="One NAT gateway per AZ (resilient) instead of one (cheaper)."
    )
    existing_vpc_id: str | None = Field(
        None, pattern=r"^vpc-[0-9a-f]+$", description="Use this VPC instead of creating one."
    )
    public_subnet_ids: list[str] = Field(
        default_factory=list, description="Existing public subnets (internet-facing LBs)."
    )
    private_subnet_ids: list[str] = Field(
        default_factory=list, description="Existing private subnets (nodes, internal LBs)."
    )
    tag_existing_subnets: bool = Field(
        True, description="Tag existing subnets kubernetes.io/role/(internal-)elb for the LBC."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return vpc_cidr(value)

    @model_validator(mode="after")
    def _existing(self) -> VpcSettings:
        subnets = self.public_subnet_ids + self.private_subnet_ids
        if bad := [s for s in subnets if not re.match(r"^subnet-[0-9a-f]+$", s)]:
            raise ValueError(f"not subnet ids: {', '.join(bad)}")
        if self.existing_vpc_id is None and subnets:
            raise ValueError("public/private_subnet_ids need existing_vpc_id")
        zones = self.availability_zone_names
        if zones and (len(set(zones)) != len(zones) or len(zones) < 2):
            raise ValueError("availability_zone_names needs at least two distinct AZs")
        if self.existing_vpc_id is not None and len(self.private_subnet_ids) < 2:
            raise ValueError("existing_vpc_id needs private_subnet_ids in at least two AZs")
        return self


class SystemNodes(StrictModel):
    """The small CPU node group for add-ons (LB controller, CoreDNS); no GPU taint."""

    instance_type: f.InstanceType = Field("m6i.large", description="CPU instance type, pinned.")
    min_size: int = Field(2, ge=1, description="Minimum nodes.")
    desired_size: int = Field(2, ge=1, description="Desired nodes.")
    max_size: int = Field(4, ge=1, description="Maximum nodes.")
    root_volume_gib: int = Field(50, ge=20, le=1000, description="Encrypted root volume, GiB.")

    @model_validator(mode="after")
    def _order(self) -> SystemNodes:
        _sizes(self.min_size, self.desired_size, self.max_size)
        return self


class GpuPool(StrictModel):
    """A managed GPU node group pinned to instance types from the GPU catalog (R3, R25)."""

    name: str = Field(pattern=_NAME, description="Pool name; endpoints refer to it (gpu.pool).")
    instance_types: list[str] = Field(
        default_factory=lambda: ["g5.xlarge"], min_length=1,
        description="Allowed instance types; all with the same GPU model and count.",
    )
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        "AL2023_x86_64_NVIDIA", description="EKS GPU AMI (driver + container toolkit included)."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field("ON_DEMAND", description="Capacity.")
    min_size: int = Field(1, ge=0, description="Minimum nodes.")
    desired_size: int = Field(1, ge=0, description="Desired nodes.")
    max_size: int = Field(2, ge=1, description="Maximum nodes.")
    root_volume_gib: int = Field(
        200, ge=50, le=16384,
        description="Encrypted root volume, GiB: images plus emptyDir model caches (R18).",
    )
    labels: f.K8sLabels = Field(default_factory=dict, description="Extra node labels.")

    @field_validator("instance_types")
    @classmethod
    def _catalog(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if (it := lookup_instance_type(t)) is None
                   or it.provider != "aws"]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not in the GPU catalog; known EC2 GPU "
                             f"instance types: {', '.join(known_instance_types('aws'))}")
        shapes = {(it.gpu.name, it.gpu_count) for t in value
                  if (it := lookup_instance_type(t)) is not None}
        if len(shapes) > 1:
            described = ", ".join(f"{n} x{c}" for n, c in sorted(shapes))
            raise ValueError(f"instance types of one pool must have the same GPU and GPU "
                             f"count (got {described}); make one pool per GPU shape")
        return [t.strip().lower() for t in value]

    @model_validator(mode="after")
    def _order(self) -> GpuPool:
        _sizes(self.min_size, self.desired_size, self.max_size)
        return self


class KarpenterSettings(StrictModel):
    """Karpenter NodePools per GPU pool; Karpenter and the EC2NodeClass exist already."""

    node_class: f.DnsSubdomain = Field(
        "default", description="EC2NodeClass name the NodePools use.")
    gpu_limit: int = Field(8, ge=1, description="Max GPUs per NodePool (cost guard).")


class EksSettings(StrictModel):
    """Section `inference-stacks:eks`."""

    region: str = Field(
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", description="AWS region, e.g. us-east-1."
    )
    cluster_name: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$",
        description="EKS cluster name; default inference-stacks-<stack>.",
    )
    kubernetes_version: str = Field(
        "1.33", pattern=r"^1\.[0-9]+$", description="EKS Kubernetes version."
    )
    vpc: VpcSettings = Field(default_factory=VpcSettings, description="Network.")
    admin_principal_arns: list[str] = Field(
        default_factory=list, description="IAM roles/users given cluster-admin access entries."
    )
    api_public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to the public API endpoint; empty = private endpoint only.",
    )
    allow_public_api: bool = Field(
        False, description="Explicitly allow a world range in api_public_access_cidrs (R24).")
    cluster_log_types: list[LogType] = Field(default_factory=lambda: list(DEFAULT_LOG_TYPES),
              description="Control plane log types sent to CloudWatch.")
    system_nodes: SystemNodes = Field(default_factory=SystemNodes, description="Add-on nodes.")
    gpu_pools: list[GpuPool] = Field(
        default_factory=lambda: [GpuPool(name="a10g")], min_length=1,
        description="GPU node pools, one managed node group each.",
    )
    autoscaling: Literal["managed", "karpenter"] = Field(
        "managed", description="Managed node groups only, or also Karpenter NodePools."
    )
    karpenter: KarpenterSettings = Field(
        default_factory=KarpenterSettings, description="Used when autoscaling is karpenter."
    )
    aws_load_balancer_controller: bool = Field(
        True, description="Install the AWS Load Balancer Controller (needed for alb/nlb)."
    )
    tags: f.AwsTags = Field(default_factory=dict, description="Tags on every AWS resource.")

    _cidrs = field_validator("api_public_access_cidrs")(classmethod(
        lambda cls, v: _check_cidrs(v)))

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        return principal_arns(value)

    @field_validator("gpu_pools")
    @classmethod
    def _unique(cls, value: list[GpuPool]) -> list[GpuPool]:
        names = [p.name for p in value]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"pool names must be unique: {', '.join(dupes)}")
        if "system" in names:
            raise ValueError("pool name 'system' is the add-on node group's")
        return value

    def pool(self, name: str) -> GpuPool | None:
        return next((p for p in self.gpu_pools if p.name == name), None)
