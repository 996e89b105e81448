"""Autoscaling on inference load: the KEDA `ScaledObject` of an endpoint and a pure model of the
decision KEDA and the HPA take, so the plan can say what a policy does at a given queue depth.

Signal: the engine's own queue, requests waiting (vLLM `vllm:num_requests_waiting`, SGLang
`sglang:num_queue_reqs`), summed over the endpoint's pods into one sample. Waiting requests mean
the replicas' batch slots are full, whatever the GPU type; KV-cache usage alone misleads when
capacities differ, and in-flight counts hide a small replica's queue.

Missing data never reads as zero load: no `or vector(0)`, `ignoreNullValues: "false"` (an empty
result is an error) and a fallback that keeps the current replicas when the query fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

API_VERSION = "keda.sh/v1alpha1"
# The HPA ignores changes within 10% of the target (kube-controller-manager's default
# --horizontal-pod-autoscaler-tolerance); KEDA passes its metric to the HPA unchanged.
HPA_TOLERANCE = 0.1
FALLBACK_FAILURES = 3  # failed polls in a row before KEDA applies the fallback


@dataclass(frozen=True)
class AutoscalingSpec:
    """One endpoint's autoscaling, resolved from config (see infra/config/endpoint.py)."""

    min_replicas: int
    max_replicas: int
    queue_per_replica: float  # target: waiting requests per replica
    activation: float  # at or below this total queue, a scale-to-zero endpoint stays at zero
    scale_up_window_s: int
    scale_down_window_s: int
    polling_interval_s: int
    scale_to_zero: bool = False


@dataclass(frozen=True)
class Scaling:
    """What a ScaledObject needs: the policy, the Prometheus it asks and the query."""

    policy: AutoscalingSpec
    server_address: str
    query: str


def queue_query(engine: str, queue_metric: str, namespace: str, served_model_name: str) -> str:
    """PromQL for the endpoint's total queue, one sample. SGLang exports its gauges per
    scheduler rank: take the largest per pod first, so ranks of one pod are not counted twice."""
    selector = f'{{namespace="{namespace}", model_name="{served_model_name}"}}'
    if engine == "sglang":
        return f"sum(max by (pod) ({queue_metric}{selector}))"
    return f"sum({queue_metric}{selector})"


def scaled_object(name: str, namespace: str, deployment: str, labels: dict[str, str],
                  spec: AutoscalingSpec, server_address: str, query: str) -> dict[str, Any]:
    """The ScaledObject scaling `deployment` on `query` (KEDA's Prometheus scaler)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": deployment},
            "minReplicaCount": 0 if spec.scale_to_zero else spec.min_replicas,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": spec.polling_interval_s,
            # Only used to go to zero: an idle endpoint waits this long after the last activity.
            "cooldownPeriod": spec.scale_down_window_s,
            "fallback": {
                "failureThreshold": FALLBACK_FAILURES,
                "replicas": max(spec.min_replicas, 1),
                # A broken query never scales a busy endpoint down.
                "behavior": "currentReplicasIfHigher",
            },
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": spec.scale_up_window_s},
                "scaleDown": {"stabilizationWindowSeconds": spec.scale_down_window_s},
            }}},
            "triggers": [{
                "type": "prometheus",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": server_address,
                    "query": query,
                    "threshold": _number(spec.queue_per_replica),
                    "activationThreshold": _number(spec.activation),
                    "ignoreNullValues": "false",
                },
            }],
        },
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def recommend(total: float, current: int, spec: AutoscalingSpec) -> int:
    """Replicas the HPA recommends for `total` queued requests (one poll, no windows).

    AverageValue target: desired = ceil(total / target), unless the usage ratio is within the
    tolerance of 1 (no change). With scale to zero, KEDA deactivates at or below `activation`
    and activates (at least min, at least 1) above it. The result is clamped to the bounds.
    """
    if spec.scale_to_zero and total <= spec.activation:
        return 0
    floor = max(spec.min_replicas, 1)
    if current == 0:
        current = floor  # KEDA activates to the HPA's minimum, then the HPA takes over
    ratio = total / (spec.queue_per_replica * current)
    desired = current if abs(ratio - 1.0) <= HPA_TOLERANCE else math.ceil(
        total / spec.queue_per_replica)
    return min(max(desired, floor), spec.max_replicas)


def stabilized(history: Sequence[tuple[float, int]], now: float, current: int,
               spec: AutoscalingSpec) -> int:
    """The HPA's stabilization: of the recommendations (time, replicas) in each window, scale
    up only to the lowest of the up window and down only to the highest of the down window."""
    up = [r for t, r in history if now - t <= spec.scale_up_window_s]
    down = [r for t, r in history if now - t <= spec.scale_down_window_s]
    latest = history[-1][1]
    if latest > current:
        return max(current, min(up))
    if latest < current:
        return min(current, max(down))
    return current


def simulate(samples: Sequence[tuple[float, float]], spec: AutoscalingSpec,
             start: int) -> list[tuple[float, int]]:
    """Replicas over time for (time, total queue) samples taken every polling interval; the
    windows start out holding `start` (a steady state before the first sample)."""
    replicas, out = start, []
    history: list[tuple[float, int]] = [(samples[0][0], start)] if samples else []
    for now, total in samples:
        history.append((now, recommend(total, replicas, spec)))
        replicas = stabilized(history, now, replicas, spec)
        out.append((now, replicas))
    return out
