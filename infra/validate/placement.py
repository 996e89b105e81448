"""Where an endpoint's pods run and what GPU they get: each platform's `place` returns this."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.gpu_catalog import Gpu

GPU_TAINT_KEY = "nvidia.com/gpu"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class Placement:
    """Where an endpoint's pods run and what GPU they get (R3, R4)."""

    gpu: Gpu | None
    count: int
    instance_type: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()
    runtime_class: str | None = None

    @staticmethod
    def pinned(
        gpu: Gpu | None, count: int, instance_type: str | None,
        extra_selector: dict[str, str] | None = None, runtime_class: str | None = None,
    ) -> Placement:
        """GPU pods pinned to `instance_type` when named (R3) and tolerating the GPU taint."""
        selector = dict(extra_selector or {})
        if instance_type:
            selector[INSTANCE_TYPE_LABEL] = instance_type
        toleration = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
        return Placement(gpu, count, instance_type, selector, (toleration,), runtime_class)


class PlacementError(Exception):
    """A GPU request the platform cannot place; `field` is the key under the endpoint."""

    def __init__(self, field_path: str, message: str):
        self.field_path = field_path
        super().__init__(message)

