"""KEDA (Helm chart `kedacore/keda`, pinned): the operator that turns an endpoint's
`ScaledObject` into the HPA that scales its Deployment on the engine's queue.

Installed once per cluster by the platform when any endpoint autoscales, on the system nodes
(never on GPU nodes: they may scale to nothing). ScaledObjects depend on the release, so their
CRD exists before them and they are deleted before the operator that holds their finalizers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.component import type_token

CHART = "keda"
CHART_VERSION = "2.20.2"  # kedacore/charts; the ScaledObject CRD in tests/schemas/keda
REPO = "https://kedacore.github.io/charts"
NAMESPACE = "keda"


def values(node_selector: dict[str, str]) -> dict[str, Any]:
    """Chart values: operator, metrics server and webhooks on the given nodes."""
    placement = {"nodeSelector": node_selector} if node_selector else {}
    return {
        **placement,
        # The chart applies the top-level nodeSelector to all three deployments.
        "crds": {"install": True},
        "resources": {"operator": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
    }


@dataclass
class KedaArgs:
    provider: k8s.Provider | None
    node_selector: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class Keda(pulumi.ComponentResource):
    """The KEDA release; `release` is what ScaledObjects depend on."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "Keda"), name, None, opts)
        self.release = k8s.helm.v3.Release(
            name, name="keda", chart=CHART, version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPO),
            namespace=NAMESPACE, create_namespace=True, values=values(args.node_selector),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                        depends_on=list(args.depends_on)))
        self.register_outputs({"chart_version": CHART_VERSION,
                               "status": self.release.status})
