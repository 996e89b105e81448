"""Platform `k3s-gcp` rules: machine type and GPU together (R25), admin CIDRs (R24), zone."""

from __future__ import annotations

from components.gpu_catalog import (
    gcp_families_for_gpu,
    instance_types_for_gpu,
    lookup_gpu,
    lookup_instance_type,
)
from components.platforms.gcp_network import is_world
from infra.config.base import NAMESPACE, Problem
from infra.config.endpoint import EndpointConfig
from infra.config.platforms.k3s_gcp import K3sGcpSettings
from infra.config.stack import K3sGcpStack
from infra.validate.placement import Placement, PlacementError

SECTION = "k3s_gcp"


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


def check(config: K3sGcpStack) -> list[Problem]:
    settings = config.platform_settings
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

