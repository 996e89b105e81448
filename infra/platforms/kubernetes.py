"""Platform `kubernetes` resources: a provider for an existing cluster (kubeconfig or context)."""

from __future__ import annotations

from pathlib import Path

from components.platforms.kubernetes import ExistingCluster, ExistingClusterArgs
from infra.config.stack import KubernetesStack
from infra.platforms.base import PlatformBuilder, PlatformContext, keda_if_autoscaled


def build(config: KubernetesStack) -> PlatformContext:
    settings = config.platform_settings
    kubeconfig = None
    if settings.kubeconfig_path:
        kubeconfig = Path(settings.kubeconfig_path).expanduser().read_text(encoding="utf-8")
    cluster = ExistingCluster("cluster", ExistingClusterArgs(kubeconfig, settings.context))
    keda = [] if settings.keda_installed else keda_if_autoscaled(config, cluster.provider)
    return PlatformContext(
        name="kubernetes",
        provider=cluster.provider,
        kubeconfig=cluster.kubeconfig,
        aws_region=settings.aws_region,
        depends_on=keda,
        load_balancer_cidrs=tuple(settings.load_balancer_cidrs),
        protect=config.protect,
    )


BUILDER = PlatformBuilder(build=build)
