"""Builder registry: `inference-stacks:platform` value -> the platform's resources."""

from __future__ import annotations

from infra.platforms import eks, hyperpod, k3s_gcp, k3s_workload, kubernetes
from infra.platforms.base import PlatformBuilder

BUILDERS: dict[str, PlatformBuilder] = {
    "kubernetes": kubernetes.BUILDER,
    "eks": eks.BUILDER,
    "k3s-gcp": k3s_gcp.BUILDER,
    "k3s-workload": k3s_workload.BUILDER,
    "hyperpod": hyperpod.BUILDER,
}
