"""Platform `k3s-gcp` resources: the cluster stack. K3s on GCP G2 (L4) VMs, no endpoints.

The kubeconfig only exists once the server's startup script ran, and a lookup that depends on
the VM waits only for the VM to exist, not for its startup script. So this stack builds network,
VMs and the Secret Manager secret the server publishes the kubeconfig to; endpoints live in a
workload stack (platform `k3s-workload`) that references this one.
"""

from __future__ import annotations

from typing import Any

from components.gpu_catalog import lookup_instance_type
from components.platforms.gcp_network import GcpNetwork, GcpNetworkArgs
from components.platforms.k3s_hosts import MACHINE_TYPE_LABEL, K3sHosts, K3sHostsArgs
from components.platforms.nvidia_device_plugin import GPU_PRESENT_LABEL, RUNTIME_CLASS
from infra.config.platforms.k3s_gcp import K3sGcpSettings
from infra.config.stack import K3sGcpStack
from infra.platforms.base import PlatformBuilder, PlatformContext


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
        # The workload stack accepts a published kubeconfig only for this server (issue 12).
        "server_url": hosts.server_url,
        "service_account": hosts.service_account_email,
        "kubeconfig_writer": hosts.service_account_email,
        "agent_service_account": hosts.agent_service_account_email,
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


def build(config: K3sGcpStack) -> PlatformContext:
    settings = config.platform_settings
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
        server_internal_ip=network.server_internal_ip, labels=labels, protect=config.protect))
    return PlatformContext(
        name="k3s-gcp", provider=None,
        outputs={"cluster": cluster_outputs(settings, network, hosts)}, protect=config.protect,
    )



BUILDER = PlatformBuilder(build=build)
