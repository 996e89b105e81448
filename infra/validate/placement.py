"""Where an endpoint's pods run and what GPU they get: each platform's `place` returns this."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from components.gpu_catalog import Gpu
from infra.config.endpoint import EndpointConfig

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



def placed(endpoints: list[EndpointConfig], settings: Any,
           place: Callable[[EndpointConfig, Any], Placement],
           ) -> Iterator[tuple[int, EndpointConfig, Placement]]:
    """(index, endpoint, placement) of every endpoint that places; the others are reported by
    the shared rules with their key path, so sizing checks skip them."""
    for index, endpoint in enumerate(endpoints):
        try:
            yield index, endpoint, place(endpoint, settings)
        except PlacementError:
            continue


def peak_replicas(endpoint: EndpointConfig) -> int:
    """Replicas at the peak: the autoscaler's max when the endpoint autoscales."""
    auto = endpoint.autoscaling
    return max(endpoint.replicas, auto.max) if auto is not None else endpoint.replicas


def least_replicas(endpoint: EndpointConfig) -> int:
    """Replicas that always run: autoscaling.min (0 with scale_to_zero), else the fixed count."""
    auto = endpoint.autoscaling
    if auto is None:
        return endpoint.replicas
    return 0 if auto.scale_to_zero else auto.min
