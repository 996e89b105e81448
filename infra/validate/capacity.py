"""Endpoints' peak GPUs against the capacity a stack states for a cluster whose nodes do not
follow the replicas (an existing cluster, K3s on fixed VMs): `<section>.gpu_capacity`.

The peak of an endpoint is autoscaling.max (else replicas) x gpu.count (= tensor_parallel_size);
every replica must be able to run at once, or KEDA asks for pods that stay Pending.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.validate.placement import Placement, peak_replicas, placed


@dataclass(frozen=True)
class Peak:
    """One endpoint's GPUs at its peak."""

    index: int
    name: str
    replicas: int
    gpus_per_replica: int
    gpu: str | None
    key: str  # the config key that sets `replicas` (autoscaling.max or replicas)

    @property
    def gpus(self) -> int:
        return self.replicas * self.gpus_per_replica


def peaks(config: StackConfig, place: Callable[[EndpointConfig, Any], Placement]) -> list[Peak]:
    """Every endpoint that places, with its peak replicas and GPUs."""
    return [Peak(index, endpoint.name, peak_replicas(endpoint), placement.count,
                 placement.gpu.name if placement.gpu else None,
                 "autoscaling.max" if endpoint.autoscaling is not None else "replicas")
            for index, endpoint, placement in placed(config.endpoints, config.platform_settings,
                                                     place)]


def gpu_capacity_problems(config: StackConfig, section: str, capacity: dict[str, int],
                          place: Callable[[EndpointConfig, Any], Placement]) -> list[Problem]:
    """With `capacity` stated: each endpoint's peak, and all of them together per GPU model,
    must fit it."""
    if not capacity:
        return []
    at = f"{NAMESPACE}:{section}.gpu_capacity"
    problems = []
    by_model: dict[str, list[Peak]] = defaultdict(list)
    for peak in peaks(config, place):
        if peak.gpu is None:
            continue
        by_model[peak.gpu].append(peak)
        have = capacity.get(peak.gpu, 0)
        if peak.gpus > have:
            fits = have // peak.gpus_per_replica
            problems.append(Problem(
                f"{NAMESPACE}:" + key_path("endpoints", peak.index, *peak.key.split(".")),
                f"{peak.replicas} replicas x {peak.gpus_per_replica} GPU (tensor_parallel_size) "
                f"= {peak.gpus} {peak.gpu} GPUs at the peak, but {at} states {have}; lower "
                f"{peak.key} to {fits} or state the cluster's real capacity"))
    for model, found in sorted(by_model.items()):
        total = sum(p.gpus for p in found)
        if total > capacity.get(model, 0) and len(found) > 1:
            parts = ", ".join(f"{p.name} {p.replicas} x {p.gpus_per_replica}" for p in found)
            problems.append(Problem(at, (
                f"{capacity.get(model, 0)} {model} GPUs, but the endpoints need {total} at their "
                f"peak together ({parts}); lower their autoscaling.max/replicas or raise it")))
    return problems
