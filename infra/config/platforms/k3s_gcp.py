"""Section `inference-stacks:k3s_gcp`: the K3s cluster stack on GCP G2 (L4) VMs."""

from __future__ import annotations

from pydantic import Field, field_validator

from infra.config import formats as f
from infra.config.base import StrictModel, cidr, cidrs

# github.com/k3s-io/k3s release v1.33.10+k3s1 = Kubernetes 1.33.10, the latest 1.33 patch
# (kubernetes.io/releases/1.33, 2026-03-19).
K3S_VERSION = "v1.33.10+k3s1"
# NVIDIA Container Toolkit v1.19.0 (github.com/NVIDIA/nvidia-container-toolkit, 2026-03-10);
# apt packages are `<version>-1` in NVIDIA's stable repository.
TOOLKIT_VERSION = "1.19.0"


class K3sGcpSettings(StrictModel):
    """Section `inference-stacks:k3s_gcp`."""

    name: str = Field("k3s-l4", pattern=r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$",
                      description="Prefix of every GCP resource name (<= 20 characters).")
    project: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="GCP project id.")
    region: f.GcpRegion = Field("us-central1",
                                description="GCP region of the subnet and static IP.")
    zone: f.GcpZone = Field("us-central1-a", description="Zone of the VMs (must have G2 capacity).")
    gpu: str = Field("L4", description="GPU the cluster is for; checked with machine_type (R25).")
    machine_type: str = Field(
        "g2-standard-48", description="Machine type of every node; GPUs per node come from the "
        "catalog (g2-standard-48 = 4x L4).")
    agent_count: int = Field(0, ge=0, le=15, description="Agent VMs besides the server.")
    admin_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to SSH and reach the K3s API (R24); "
        "empty = no admin access from outside.")
    allow_public_admin: bool = Field(
        False, description="Explicitly allow a /0 in admin_cidrs (never the default, R24).")
    open_nodeports: bool = Field(
        False, description="Open the NodePort range 30000-32767 to admin_cidrs.")
    subnet_cidr: str = Field("10.40.0.0/24", description="Primary range of the cluster subnet.")
    image_project: str = Field("deeplearning-platform-release",
                               pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$",
                               description="Project of the Deep Learning VM images.")
    image_family: str = Field(
        "common-cu129-ubuntu-2204-nvidia-580", pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="DLVM image family; it ships the NVIDIA driver (no 10-20 min install).")
    model_cache_gb: int = Field(200, ge=20, le=4000,
                                description="Model cache on the boot disk, GB (R18).")
    model_cache_dir: f.AbsolutePath = Field("/var/lib/model-cache",
                                 description="hostPath directory of the model cache.")
    k3s_version: str = Field(K3S_VERSION, pattern=r"^v1\.[0-9]+\.[0-9]+\+k3s[0-9]+$",
                             description="Pinned K3s release.")
    toolkit_version: str = Field(TOOLKIT_VERSION, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
                                 description="Pinned NVIDIA Container Toolkit version.")
    labels: f.GcpLabels = Field(default_factory=dict, description="Labels on GCP resources.")

    @field_validator("admin_cidrs")
    @classmethod
    def _admin_cidrs(cls, value: list[str]) -> list[str]:
        return cidrs(value)

    @field_validator("subnet_cidr")
    @classmethod
    def _subnet(cls, value: str) -> str:
        return cidr(value)

    @property
    def kubernetes_version(self) -> str:
        """"v1.33.10+k3s1" -> "1.33"."""
        return ".".join(self.k3s_version.lstrip("v").split(".")[:2])

    @property
    def image(self) -> str:
        return f"projects/{self.image_project}/global/images/family/{self.image_family}"

