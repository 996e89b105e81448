"""Platform `k3s-workload`: endpoints on the K3s cluster a `k3s-gcp` stack created.

It takes the cluster stack by `pulumi.StackReference`, reads the kubeconfig the K3s server
published to Secret Manager (so it runs only after the VMs finished bootstrapping), installs the
NVIDIA device plugin and places GPU pods with `runtimeClassName: nvidia` on nodes with the
machine-type label the startup script set (K3s labels every node instance-type=k3s, so the
standard instance-type label cannot pin, R3).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.platforms.k3s_hosts import kubeconfig_problems, server_url
from components.platforms.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from infra.config.stack import K3sWorkloadStack
from infra.platforms.base import PlatformBuilder, PlatformContext, keda_if_autoscaled


def kubeconfig_from(cluster: pulumi.Output[Any]) -> pulumi.Output[str]:
    """The kubeconfig the K3s server published (latest version of the cluster's secret),
    refused unless it names the cluster stack's own server with an embedded CA: a pod that
    planted a version pointing elsewhere must not receive the HF token and API keys."""
    version = gcp.secretmanager.get_secret_version_output(
        secret=cluster.apply(lambda c: c["kubeconfig_secret_id"]),
        project=cluster.apply(lambda c: c["project"]),
    )
    checked = pulumi.Output.all(version.secret_data, cluster).apply(
        lambda values: verified_kubeconfig(values[0], values[1]))
    return pulumi.Output.secret(checked)


def verified_kubeconfig(kubeconfig: str, cluster: dict[str, Any]) -> str:
    expected = cluster.get("server_url") or server_url(str(cluster.get("server_external_ip")))
    problems = kubeconfig_problems(kubeconfig, expected)
    if problems:
        raise pulumi.RunError("the kubeconfig published by the k3s-gcp cluster stack is not "
                              f"this cluster's ({'; '.join(problems)}); refusing to use it")
    return kubeconfig


def build(config: K3sWorkloadStack) -> PlatformContext:
    settings = config.platform_settings
    cluster_stack = pulumi.StackReference(settings.cluster_stack)
    cluster = cluster_stack.get_output("cluster")
    kubeconfig = kubeconfig_from(cluster)
    provider = k8s.Provider("k3s", kubeconfig=kubeconfig, enable_server_side_apply=True)
    plugin = NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(
        provider=provider, image=settings.device_plugin_image))
    return PlatformContext(
        name="k3s-workload",
        provider=provider,
        kubeconfig=kubeconfig,
        depends_on=[plugin, *keda_if_autoscaled(config, provider)],
        outputs={"cluster_stack": settings.cluster_stack,
                 "cluster": {"gpu": cluster.apply(lambda c: c.get("gpu")),
                             "server_external_ip":
                                 cluster.apply(lambda c: c.get("server_external_ip"))},
                 "device_plugin_image": settings.device_plugin_image},
        protect=config.protect,
    )



BUILDER = PlatformBuilder(build=build)
