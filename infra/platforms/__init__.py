"""Platform registry: `inference-stacks:platform` value -> PlatformSpec."""

from __future__ import annotations

from infra.platforms import kubernetes
from infra.platforms.base import PlatformSpec

PLATFORMS: dict[str, PlatformSpec] = {
    kubernetes.SPEC.name: kubernetes.SPEC,
}
