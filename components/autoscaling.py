"""Autoscaling on inference load: the KEDA `ScaledObject` of an endpoint and a pure model of the
decision KEDA and the HPA take, so the plan can say what a policy does at a given queue depth.

Signal: the engine's own queue, requests waiting (vLLM `vllm:num_requests_waiting`, SGLang
`sglang:num_queue_reqs`), summed over the endpoint's pods into one sample. Waiting requests mean
the replicas' batch slots are full, whatever the GPU type; KV-cache usage alone misleads when
capacities differ, and in-flight counts hide a small replica's queue.

Missing data never reads as zero load: no `or vector(0)`, `ignoreNullValues: "false"` (an empty
result is an error) and a fallback that keeps the current replicas when the query fails.

Scale to zero (Kubernetes platforms, behind a router): the engine's queue disappears with its last
replica, so a second trigger asks the router, which stays up, how many requests it received
(`router_demand_query`); any request wakes the endpoint, the queue sizes it beyond one. Such a
ScaledObject has no fallback: at zero replicas the queue query is empty (an error), and KEDA
2.20's fallback would count that trigger as active after `failureThreshold` polls and wake the
endpoint every few minutes (pkg/fallback/fallback.go, pkg/scaling/scale_handler.go). Without a
fallback an erroring trigger still never scales down: KEDA skips deactivation while a trigger
errors (pkg/scaling/executor/scale_scaledobjects.go) and the HPA skips a scale-down when a
metric is missing. docs/autoscaling.md "Cold start and scale to zero" walks through each case.
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
# The router trigger only wakes: its HPA target is out of reach (ceil(demand / target) = 1), so
# the engine queue alone sizes the endpoint beyond one replica (the HPA takes the largest).
WAKE_ONLY_TARGET = 1_000_000
# Requests the router received within this window keep a scale-to-zero endpoint awake; >= 4
# scrapes at the slowest scrape interval the stacks allow (30 s).
DEMAND_WINDOW = "2m"


@dataclass(frozen=True)
class RouterDemand:
    """A router's view of demand: counters of requests it received (metric, selector extra),
    gauges of requests in flight, and a series it exports from the start (`present`, x 0), so
    an idle router that is scraped answers 0 rather than nothing."""

    counters: tuple[tuple[str, str], ...]
    in_flight: tuple[str, ...]
    present: str


# Found by running each router locally (`--worker-urls` to a fake worker that holds requests for
# 8 s, then to a dead URL or none, `--prometheus-port`, reading /metrics at start, during a
# request and after; tests/observability/test_scale_to_zero_wake.py repeats it on Prometheus):
# - smg 1.13.0: `smg_http_requests_total{method, path}` counts a request on arrival, also with no
#   worker (it then answers 404 model_not_found at once); `smg_admission_inflight` holds a
#   request for its whole response (exported from the first request on); `smg_tokio_workers`
#   is exported from the start.
# - vllm-router 0.1.17: `vllm_router_processed_requests_total{worker}` counts a request when it is
#   dispatched (`vllm_router_requests_total{route}` only when it completes); with no worker each
#   attempt is `vllm_router_request_errors_total{error_type="no_available_workers"}` and the client
#   gets 503 after the retries; `vllm_router_active_workers` is exported from the start.
ROUTER_DEMAND = {
    "smg": RouterDemand((("smg_http_requests_total", 'path=~"/v1/.+"'),),
                        ("smg_admission_inflight",), "smg_tokio_workers"),
    "vllm-router": RouterDemand((("vllm_router_processed_requests_total", ""),
                                 ("vllm_router_request_errors_total",
                                  'error_type="no_available_workers"')),
                                (), "vllm_router_active_workers"),
}


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
    wake_query: str | None = None  # scale to zero: the router's demand (see router_demand_query)


def queue_query(engine: str, queue_metric: str, namespace: str, served_model_name: str) -> str:
    """PromQL for the endpoint's total queue, one sample. SGLang exports its gauges per
    scheduler rank: take the largest per pod first, so ranks of one pod are not counted twice."""
    selector = f'{{namespace="{namespace}", model_name="{served_model_name}"}}'
    if engine == "sglang":
        return f"sum(max by (pod) ({queue_metric}{selector}))"
    return f"sum({queue_metric}{selector})"


def router_demand_query(kind: str, namespace: str, endpoint: str,
                        window: str = DEMAND_WINDOW) -> str:
    """PromQL for the requests the endpoint's router received within `window`, one sample.

    Series of the router's ServiceMonitor (labels `inference_endpoint`, `inference_component`).
    A counter series older than the window counts its increase; one younger than the window
    (created by the first request after a router start) counts its whole value, which `increase`
    would miss. Requests in flight count too (a long stream). The always-exported series makes
    an idle, scraped router answer 0; a router that is not scraped now answers nothing (an error
    to KEDA), never 0."""
    demand = ROUTER_DEMAND[kind]
    base = (f'namespace="{namespace}", inference_endpoint="{endpoint}", '
            'inference_component="router"')
    parts = []
    for metric, extra in demand.counters:
        series = f"{metric}{{{base}{', ' + extra if extra else ''}}}"
        parts += [f"({series} unless {series} offset {window})", f"increase({series}[{window}])"]
    present = f"{demand.present}{{{base}}}"
    parts += [f"{gauge}{{{base}}}" for gauge in demand.in_flight]
    parts.append(f"0 * {present}")
    # `and on()`: an answer only while the router is scraped now (a range's increase would
    # otherwise still answer for the window after the router went away).
    return f"(sum({' or '.join(parts)}) and on() {present})"


def _prometheus_trigger(name: str | None, server_address: str, query: str, threshold: str,
                        activation: str) -> dict[str, Any]:
    named = {"name": name} if name else {}  # names tell two triggers apart in KEDA's status
    return {"type": "prometheus", **named, "metricType": "AverageValue", "metadata": {
        "serverAddress": server_address, "query": query, "threshold": threshold,
        "activationThreshold": activation, "ignoreNullValues": "false"}}


def _replica_bounds(spec: AutoscalingSpec, wakes: bool) -> dict[str, Any]:
    if not wakes:
        return {"minReplicaCount": 0 if spec.scale_to_zero else spec.min_replicas,
                "fallback": {
                    "failureThreshold": FALLBACK_FAILURES,
                    "replicas": max(spec.min_replicas, 1),
                    # A broken query never scales a busy endpoint down.
                    "behavior": "currentReplicasIfHigher",
                }}
    # Scale to zero: idle at 0, awake at `min` (KEDA scales 0 -> minReplicaCount, or 1).
    if spec.min_replicas > 1:
        return {"idleReplicaCount": 0, "minReplicaCount": spec.min_replicas}
    return {"minReplicaCount": 0}


def scaled_object(name: str, namespace: str, deployment: str, labels: dict[str, str],
                  spec: AutoscalingSpec, server_address: str, query: str,
                  wake_query: str | None = None) -> dict[str, Any]:
    """The ScaledObject scaling `deployment` on `query` (KEDA's Prometheus scaler); with
    `wake_query` (scale to zero) a second trigger on the router's demand wakes it from zero."""
    triggers = [_prometheus_trigger("queue" if wake_query else None, server_address, query,
                                    _number(spec.queue_per_replica), _number(spec.activation))]
    if wake_query is not None:
        # Any request (> 0) activates; the out-of-reach target leaves sizing to the queue.
        triggers.append(_prometheus_trigger("router-demand", server_address, wake_query,
                                            str(WAKE_ONLY_TARGET), "0"))
    return {
        "apiVersion": API_VERSION,
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": deployment},
            **_replica_bounds(spec, wake_query is not None),
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": spec.polling_interval_s,
            # Only used to go to zero: an idle endpoint waits this long after the last activity.
            "cooldownPeriod": spec.scale_down_window_s,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": spec.scale_up_window_s},
                "scaleDown": {"stabilizationWindowSeconds": spec.scale_down_window_s},
            }}},
            "triggers": triggers,
        },
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def recommend(total: float | None, current: int, spec: AutoscalingSpec,
              demand: float | None = 0.0) -> int:
    """Replicas after one poll (no windows, no cooldown) for `total` queued requests and, with
    scale to zero, `demand` (requests the router received); None = the query returned nothing,
    an error to KEDA (`ignoreNullValues: "false"`).

    AverageValue target: desired = ceil(total / target), unless the usage ratio is within the
    tolerance of 1 (no change), clamped to the bounds. A failing queue query keeps the replicas
    (fallback `currentReplicasIfHigher`, at least the minimum).
    """
    floor = max(spec.min_replicas, 1)
    if spec.scale_to_zero:
        return _wake_or_sleep(total, current, spec, demand)
    if total is None:
        return max(current, floor)
    return _hpa(total, current or floor, spec)


def _wake_or_sleep(total: float | None, current: int, spec: AutoscalingSpec,
                   demand: float | None) -> int:
    """KEDA with minReplicaCount 0: active while the queue is above `activation` or the router
    saw a request. Inactive with every trigger answering: 0 (after the cooldown). Inactive with
    a trigger failing: no change (KEDA skips deactivation on an error; there is no fallback to
    wake it). Active from 0: KEDA scales to the minimum, then the HPA sizes on the queue; with
    the queue failing, the HPA skips scaling down (the router metric alone never asks for more)."""
    failing = total is None or demand is None
    active = (total is not None and total > spec.activation) or (demand is not None
                                                                 and demand > 0)
    floor = max(spec.min_replicas, 1)
    if not active:
        return current if failing and current else 0
    if current == 0:
        return floor
    return current if total is None else _hpa(total, current, spec)


def _hpa(total: float, current: int, spec: AutoscalingSpec) -> int:
    ratio = total / (spec.queue_per_replica * current)
    desired = current if abs(ratio - 1.0) <= HPA_TOLERANCE else math.ceil(
        total / spec.queue_per_replica)
    return min(max(desired, spec.min_replicas, 1), spec.max_replicas)


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
