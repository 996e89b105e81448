"""Platform registry: `inference-stacks:platform` value -> PlatformSpec."""

from __future__ import annotations

from infra.platforms import eks, hyperpod, k3s_gcp, k3s_workload, kubernetes
from infra.platforms.base import PlatformSpec

PLATFORMS: dict[str, PlatformSpec] = {
    kubernetes.SPEC.name: kubernetes.SPEC,
    eks.SPEC.name: eks.SPEC,
    k3s_gcp.SPEC.name: k3s_gcp.SPEC,
    k3s_workload.SPEC.name: k3s_workload.SPEC,
    hyperpod.SPEC.name: hyperpod.SPEC,
}
