"""Platform `k3s-gcp`: the cluster stack. K3s on GCP G2 (L4) VMs, no endpoints.

The kubeconfig only exists once the server's startup script ran, and a lookup that depends on
the VM waits only for the VM to exist (FIELD_NOTES section 3). So this stack builds network,
VMs and the Secret Manager secret the server publishes the kubeconfig to; endpoints live in a
workload stack (platform `k3s-workload`) that references this one.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from components.gpu_catalog import (
    gcp_families_for_gpu,
    instance_types_for_gpu,
    lookup_gpu,
    lookup_instance_type,
)
from components.platforms.gcp_network import GcpNetwork, GcpNetworkArgs, is_world
from components.platforms.k3s_hosts import MACHINE_TYPE_LABEL, K3sHosts, K3sHostsArgs
from components.platforms.nvidia_device_plugin import GPU_PRESENT_LABEL, RUNTIME_CLASS
from infra.config.base import NAMESPACE, Problem, StrictModel, cidr, cidrs
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlacementError, PlatformContext, PlatformSpec

# github.com/k3s-io/k3s release v1.33.10+k3s1 = Kubernetes 1.33.10, the latest 1.33 patch
# (kubernetes.io/releases/1.33, 2026-03-19).
K3S_VERSION = "v1.33.10+k3s1"
# NVIDIA Container Toolkit v1.19.0 (github.com/NVIDIA/nvidia-container-toolkit, 2026-03-10);
# apt packages are `<version>-1` in NVIDIA's stable repository.
TOOLKIT_VERSION = "1.19.0"
SECTION = "k3s_gcp"
PLAN_EXTERNAL_IP = "203.0.113.10"  # documentation range (RFC 5737) for the offline plan




class K3sGcpSettings(StrictModel):
    """Section `inference-stacks:k3s_gcp`."""

    name: str = Field("k3s-l4", pattern=r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$",
                      description="Prefix of every GCP resource name (<= 20 characters).")
    project: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="GCP project id.")
    region: str = Field("us-central1", description="GCP region of the subnet and static IP.")
    zone: str = Field("us-central1-a", description="Zone of the VMs (must have G2 capacity).")
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
                               description="Project of the Deep Learning VM images.")
    image_family: str = Field(
        "common-cu129-ubuntu-2204-nvidia-580",
        description="DLVM image family; it ships the NVIDIA driver (no 10-20 min install).")
    model_cache_gb: int = Field(200, ge=20, le=4000,
                                description="Model cache on the boot disk, GB (R18).")
    model_cache_dir: str = Field("/var/lib/model-cache", pattern=r"^/[^\s]*$",
                                 description="hostPath directory of the model cache.")
    k3s_version: str = Field(K3S_VERSION, pattern=r"^v1\.[0-9]+\.[0-9]+\+k3s[0-9]+$",
                             description="Pinned K3s release.")
    toolkit_version: str = Field(TOOLKIT_VERSION, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
                                 description="Pinned NVIDIA Container Toolkit version.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels on GCP resources.")

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


def check_machine_type(machine_type: str, gpu_name: str, at: str) -> list[Problem]:
    """The machine type exists on GCP and carries the GPU the stack names (R25)."""
    instance = lookup_instance_type(machine_type)
    gpu = lookup_gpu(gpu_name)
    families = gcp_families_for_gpu(gpu_name)
    if gpu is None or not families:
        return [Problem(f"{at}.gpu", f"{gpu_name!r} is not a GPU available on GCP machine types "
                        "in the catalog; GCP GPUs: L4 (g2-standard), H100 (a3-highgpu)")]
    if instance is None or instance.provider != "gcp":
        choices = ", ".join(instance_types_for_gpu(gpu.name, "gcp"))
        return [Problem(f"{at}.machine_type", f"{machine_type!r} is not a known GCP GPU machine "
                        f"type; {gpu.name} is on {choices}")]
    if instance.gpu != gpu:
        return [Problem(f"{at}.machine_type", (
            f"{instance.name} has {instance.gpu_count}x {instance.gpu.name} "
            f"{instance.gpu.memory_gib} GB, not {gpu.name}; {gpu.name} is only on the "
            f"{' / '.join(families)} family ({', '.join(instance_types_for_gpu(gpu.name, 'gcp'))}) "
            "(R25)"))]
    return []


def place(endpoint: EndpointConfig, settings: K3sGcpSettings) -> Placement:
    raise PlacementError("name", "platform k3s-gcp is the cluster stack and deploys no endpoints; "
                         "put them in a workload stack (platform k3s-workload) that references "
                         "this stack")


def check(config: StackConfig) -> list[Problem]:
    settings: K3sGcpSettings = config.platform_settings
    at = f"{NAMESPACE}:{SECTION}"
    problems = check_machine_type(settings.machine_type, settings.gpu, at)
    public = [c for c in settings.admin_cidrs if is_world(c)]
    if public and not settings.allow_public_admin:
        problems.append(Problem(f"{at}.admin_cidrs", (
            f"{', '.join(public)} opens SSH and the K3s API to the whole internet (R24); list "
            f"your admin CIDRs, or set {at}.allow_public_admin: true if you really mean it")))
    if not settings.zone.startswith(f"{settings.region}-"):
        problems.append(Problem(f"{at}.zone", f"{settings.zone!r} is not in region "
                                f"{settings.region!r}"))
    return problems


def cluster_outputs(settings: K3sGcpSettings, network: GcpNetwork,
                    hosts: K3sHosts) -> dict[str, Any]:
    """What the workload stack and people need: where the kubeconfig is, GPUs, labels."""
    instance = lookup_instance_type(settings.machine_type)
    assert instance is not None, "check() rejects unknown machine types"
    nodes = 1 + settings.agent_count
    return {
        "project": settings.project,
        "region": settings.region,
        "zone": settings.zone,
        "server_external_ip": network.server_external_ip,
        "server_internal_ip": network.server_internal_ip,
        "kubeconfig_secret_id": hosts.kubeconfig_secret_id,
        "service_account": hosts.service_account_email,
        "node_names": hosts.node_names,
        "machine_type": instance.name,
        "gpu": {"type": instance.gpu.name, "per_node": instance.gpu_count,
                "nodes": nodes, "total": instance.gpu_count * nodes},
        "k3s_version": settings.k3s_version,
        "kubernetes_version": settings.kubernetes_version,
        "runtime_class": RUNTIME_CLASS,
        "node_labels": {GPU_PRESENT_LABEL: "true", MACHINE_TYPE_LABEL: instance.name},
        "model_cache_dir": settings.model_cache_dir,
        "admin_cidrs": list(settings.admin_cidrs),
    }


def build(config: StackConfig) -> PlatformContext:
    settings: K3sGcpSettings = config.platform_settings
    labels = {"part-of": "inference-stacks", **settings.labels}
    network = GcpNetwork(settings.name, GcpNetworkArgs(
        project=settings.project, region=settings.region, subnet_cidr=settings.subnet_cidr,
        admin_cidrs=tuple(settings.admin_cidrs), open_nodeports=settings.open_nodeports,
        labels=labels))
    hosts = K3sHosts(settings.name, K3sHostsArgs(
        project=settings.project, zone=settings.zone, machine_type=settings.machine_type,
        agent_count=settings.agent_count, image=settings.image,
        model_cache_gb=settings.model_cache_gb, model_cache_dir=settings.model_cache_dir,
        k3s_version=settings.k3s_version, toolkit_version=settings.toolkit_version,
        subnetwork=network.subnetwork.id, server_external_ip=network.server_external_ip,
        server_internal_ip=network.server_internal_ip, labels=labels))
    return PlatformContext(
        name="k3s-gcp", provider=None, kubernetes_version=settings.kubernetes_version,
        outputs={"cluster": cluster_outputs(settings, network, hosts)},
    )


def _plan_address(args: Any) -> dict[str, Any]:
    """A static external IP the offline plan cannot allocate (internal ones are inputs)."""
    if args.inputs.get("address") or args.inputs.get("addressType") == "INTERNAL":
        return {}
    return {"address": PLAN_EXTERNAL_IP}


def _plan_account(args: Any) -> dict[str, Any]:
    account = args.inputs.get("accountId", args.name)
    project = args.inputs.get("project", "plan-project")
    return {"email": f"{account}@{project}.iam.gserviceaccount.com"}


SPEC = PlatformSpec(
    name="k3s-gcp",
    settings_model=K3sGcpSettings,
    place=place,
    check=check,
    build=build,
    kubernetes_version=lambda settings: settings.kubernetes_version,
    plan_state_hooks={
        "gcp:compute/address:Address": _plan_address,
        "gcp:serviceaccount/account:Account": _plan_account,
    },
)
