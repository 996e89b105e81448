"""Platform `k3s-workload`: endpoints on the K3s cluster a `k3s-gcp` stack created.

It takes the cluster stack by `pulumi.StackReference`, reads the kubeconfig the K3s server
published to Secret Manager (so it runs only after the VMs finished bootstrapping), installs the
NVIDIA device plugin and places GPU pods with `runtimeClassName: nvidia` on nodes with the
machine-type label the startup script set (K3s labels every node instance-type=k3s, so the
standard instance-type label cannot pin, R3).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pydantic import Field

from components.gpu_catalog import (
    gcp_families_for_gpu,
    instance_types_for_gpu,
    known_instance_types,
    lookup_gpu,
    lookup_instance_type,
)
from components.platforms.k3s_hosts import MACHINE_TYPE_LABEL
from components.platforms.nvidia_device_plugin import (
    DEVICE_PLUGIN_IMAGE,
    RUNTIME_CLASS,
    NvidiaDevicePlugin,
    NvidiaDevicePluginArgs,
)
from infra.config.base import NAMESPACE, Problem, StrictModel, key_path
from infra.config.endpoint import EndpointConfig, FsxSource
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlacementError, PlatformContext, PlatformSpec

GET_SECRET_VERSION = "gcp:secretmanager/getSecretVersion:getSecretVersion"
# What the offline plan reads from Secret Manager instead of the real kubeconfig.
PLAN_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: k3s-plan
  cluster: {server: 'https://203.0.113.10:6443'}
contexts:
- name: k3s-plan
  context: {cluster: k3s-plan, user: k3s-plan}
current-context: k3s-plan
users:
- name: k3s-plan
  user: {token: plan-placeholder}
"""


class K3sWorkloadSettings(StrictModel):
    """Section `inference-stacks:k3s_workload`."""

    cluster_stack: str = Field(
        "organization/inference-stacks/k3s-l4", pattern=r"^[^/\s]+/[^/\s]+/[^/\s]+$",
        description="Fully qualified name of the k3s-gcp cluster stack (org/project/stack).")
    kubernetes_version: str = Field(
        "1.33", pattern=r"^1\.[0-9]+$",
        description="Kubernetes minor of the cluster's K3s (schema validation).")
    device_plugin_image: str = Field(
        DEVICE_PLUGIN_IMAGE, pattern=r"^[^\s:]+:[^\s]+$",
        description="NVIDIA device plugin image, pinned.")


def place(endpoint: EndpointConfig, settings: K3sWorkloadSettings) -> Placement:
    """GCP machine type (pinned by the node label) or a GPU model; runtimeClass nvidia."""
    request = endpoint.gpu
    if request.pool is not None:
        raise PlacementError("gpu.pool", "GPU pools exist on platform eks; name "
                             "gpu.instance_type (a G2 machine type) or gpu.type on k3s-workload")
    if request.instance_type is not None:
        instance = lookup_instance_type(request.instance_type)
        if instance is None or instance.provider != "gcp":
            known = ", ".join(known_instance_types("gcp"))
            raise PlacementError("gpu.instance_type", f"{request.instance_type!r} is not a GCP "
                                 f"GPU machine type; known: {known}")
        wanted = lookup_gpu(request.type) if request.type else instance.gpu
        if wanted is None or wanted != instance.gpu:
            families = gcp_families_for_gpu(request.type or "") or ["none on GCP"]
            raise PlacementError("gpu.instance_type", (
                f"{instance.name} has {instance.gpu_count}x {instance.gpu.name} "
                f"{instance.gpu.memory_gib} GB, not {request.type}; {request.type} is on "
                f"{' / '.join(families)} (R25)"))
        if request.count > instance.gpu_count:
            raise PlacementError("gpu.count", f"{request.count} GPUs per replica but "
                                 f"{instance.name} has {instance.gpu_count}")
        placement = Placement.pinned(instance.gpu, request.count, None,
                                     {MACHINE_TYPE_LABEL: instance.name}, RUNTIME_CLASS)
        # Keep the machine type in the outputs without the instance-type nodeSelector (K3s
        # sets that label to "k3s" on every node).
        return dataclasses.replace(placement, instance_type=instance.name)
    gpu = lookup_gpu(request.type) if request.type else None
    if gpu is None or not gcp_families_for_gpu(gpu.name):
        g2 = ", ".join(instance_types_for_gpu("L4", "gcp"))
        raise PlacementError("gpu.type", f"{request.type!r}: name a GPU available on GCP "
                             f"(L4, H100) or gpu.instance_type ({g2})")
    return Placement.pinned(gpu, request.count, None, None, RUNTIME_CLASS)


def check(config: StackConfig) -> list[Problem]:
    problems = []
    for index, endpoint in enumerate(config.endpoints):
        at = f"{NAMESPACE}:" + key_path("endpoints", index)
        if endpoint.exposure.type != "cluster":
            problems.append(Problem(f"{at}.exposure.type", (
                f"{endpoint.exposure.type!r} needs an AWS load balancer; on K3s use type "
                "cluster (smoke and bench reach it by port-forward)")))
        if isinstance(endpoint.source, FsxSource):
            problems.append(Problem(f"{at}.source.type", "'fsx' is only for platform hyperpod"))
    return problems


def kubeconfig_from(cluster: pulumi.Output[Any]) -> pulumi.Output[str]:
    """The kubeconfig the K3s server published (latest version of the cluster's secret)."""
    version = gcp.secretmanager.get_secret_version_output(
        secret=cluster.apply(lambda c: c["kubeconfig_secret_id"]),
        project=cluster.apply(lambda c: c["project"]),
    )
    return pulumi.Output.secret(version.secret_data)


def build(config: StackConfig) -> PlatformContext:
    settings: K3sWorkloadSettings = config.platform_settings
    cluster_stack = pulumi.StackReference(settings.cluster_stack)
    cluster = cluster_stack.get_output("cluster")
    kubeconfig = kubeconfig_from(cluster)
    provider = k8s.Provider("k3s", kubeconfig=kubeconfig, enable_server_side_apply=True)
    plugin = NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(
        provider=provider, image=settings.device_plugin_image))
    return PlatformContext(
        name="k3s-workload",
        provider=provider,
        kubernetes_version=settings.kubernetes_version,
        kubeconfig=kubeconfig,
        depends_on=[plugin],
        outputs={"cluster_stack": settings.cluster_stack,
                 "cluster": {"gpu": cluster.apply(lambda c: c.get("gpu")),
                             "server_external_ip":
                                 cluster.apply(lambda c: c.get("server_external_ip"))},
                 "device_plugin_image": settings.device_plugin_image},
    )


def _plan_secret_version(args: Any) -> dict[str, Any]:
    return {"secretData": PLAN_KUBECONFIG, "secret": args.args.get("secret"), "version": "1",
            "project": args.args.get("project"), "name": "plan"}


SPEC = PlatformSpec(
    name="k3s-workload",
    settings_model=K3sWorkloadSettings,
    place=place,
    check=check,
    build=build,
    kubernetes_version=lambda settings: settings.kubernetes_version,
    plan_call_hooks={GET_SECRET_VERSION: _plan_secret_version},
)
