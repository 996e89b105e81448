"""The managed routers' observability (issues 15, 18): one metric table per router kind, the
ServiceMonitor of each router, its alerts and its dashboard rows. Pure, no Pulumi.

Names are the ones the pinned routers expose on their Prometheus port (`--prometheus-port`, path
`/metrics`, no key needed even when the router checks client keys), read from live smg 1.13.0 and
vllm-router 0.1.17 processes in front of mock engines (one answering, one killed after it
registered, one failing with 500, one never listening) and workers added and removed through
their admin APIs. Both label per-engine series `worker=<engine URL>` and keep a 0/1 health gauge
per worker; a worker that never answered is registered by vllm-router (health 0) but not by
smg (it retries the registration in the background and does not count it). The metric-name
contract (tests/observability/test_metric_names.py) checks every name used here against those
live `/metrics` pages; tests/observability/test_router_metrics.py runs the panels' queries on a
real Prometheus scraping them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components import router_manifests as rm
from components.observability_common import (
    COMPONENT_LABEL,
    ENDPOINT_LABEL,
    MONITORING_GROUP,
    RATE,
    ObservabilitySettings,
    PanelDef,
    alert,
    counter_rate,
    latency_quantile,
    object_labels,
    relabelings,
    sel,
)

ROUTER_PORT_NAME = "metrics"  # router_manifests names the Prometheus port "metrics"
ROUTER_METRICS_PATH = "/metrics"
ROUTER_WORKER_LABEL = "worker"  # both kinds: the engine URL


@dataclass(frozen=True)
class RouterMetrics:
    """Metric names of one router kind, by meaning. Histograms are base names (seconds)."""

    kind: rm.RouterKind
    requests_per_worker: str  # counter, label `worker`: requests sent to each engine
    worker_health: str  # gauge, label `worker`: 1 healthy, 0 not (outputs' worker_health_metric)
    # gauge of the workers the router has registered; None: count the health series (the
    # router removes a worker's series with the worker)
    workers_total: str | None
    in_flight: str  # gauge, label `worker`: requests the router has in flight on each engine
    latency: str  # histogram: the router's request duration
    errors: str  # counter of failed requests, with `errors_matchers`, broken down `errors_by`
    errors_matchers: str
    errors_by: str
    overload_fallbacks: str | None = None  # counter: smg routed past its overload veto

    def names(self) -> list[str]:
        """Every metric name of the table (histograms as base names)."""
        optional = [n for n in (self.workers_total, self.overload_fallbacks) if n]
        return [self.requests_per_worker, self.worker_health, self.in_flight, self.latency,
                self.errors, *optional]


# Seen on the live routers (module docstring), per kind:
# smg 1.13.0: `smg_worker_requests_total{worker, model}`, `smg_worker_health{worker}` (removed
#   with the worker), `smg_worker_requests_active{worker}`, the histogram
#   `smg_router_request_duration_seconds`, `smg_router_request_errors_total{error_type}` (e.g.
#   `no_workers` for an unknown model), `smg_worker_overload_fallback_total{stage}`.
# vllm-router 0.1.17: every answer of an engine as its circuit breaker counts it,
#   `vllm_router_cb_outcomes_total{worker, outcome}` (`vllm_router_processed_requests_total`
#   misses requests under power_of_two with one healthy worker); `vllm_router_worker_health
#   {worker}` (a removed worker's series stays at its last value, so the registered count is
#   `vllm_router_active_workers`); `vllm_router_running_requests{worker}` (only load-tracking
#   policies such as power_of_two set it); the histogram `vllm_router_generate_duration_seconds`;
#   failures per engine, `vllm_router_cb_outcomes_total{outcome="failure"}` (an engine's 500 is
#   retried on another one, so the client never sees it).
ROUTER_METRICS: dict[rm.RouterKind, RouterMetrics] = {
    "smg": RouterMetrics(
        kind="smg",
        requests_per_worker="smg_worker_requests_total",
        worker_health=rm.WORKER_HEALTH_METRICS["smg"],
        workers_total=None,
        in_flight="smg_worker_requests_active",
        latency="smg_router_request_duration_seconds",
        errors="smg_router_request_errors_total",
        errors_matchers="",
        errors_by="error_type",
        overload_fallbacks="smg_worker_overload_fallback_total",
    ),
    "vllm-router": RouterMetrics(
        kind="vllm-router",
        requests_per_worker="vllm_router_cb_outcomes_total",
        worker_health=rm.WORKER_HEALTH_METRICS["vllm-router"],
        workers_total="vllm_router_active_workers",
        in_flight="vllm_router_running_requests",
        latency="vllm_router_generate_duration_seconds",
        errors="vllm_router_cb_outcomes_total",
        errors_matchers='outcome="failure"',
        errors_by=ROUTER_WORKER_LABEL,
    ),
}


def router_selector(spec: rm.RouterSpec) -> str:
    return (f'namespace="{spec.namespace}", {ENDPOINT_LABEL}="{spec.endpoint}", '
            f'{COMPONENT_LABEL}="router"')


# --- monitor ---------------------------------------------------------------------------------


def router_service_monitor(spec: rm.RouterSpec, settings: ObservabilitySettings
                           ) -> dict[str, Any]:
    """ServiceMonitor: the router Service's `metrics` port (`--prometheus-port`), either kind."""
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "ServiceMonitor",
        "metadata": {"name": spec.name, "namespace": spec.namespace,
                     "labels": object_labels(settings,
                                             **{"inference-stacks/endpoint": spec.endpoint})},
        "spec": {
            "selector": {"matchLabels": dict(spec.selector)},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "endpoints": [{
                "port": ROUTER_PORT_NAME,
                "path": ROUTER_METRICS_PATH,
                "interval": settings.interval,
                "scrapeTimeout": settings.scrape_timeout,
                "relabelings": relabelings(spec.endpoint, "router"),
            }],
        },
    }


# --- alerts ----------------------------------------------------------------------------------


def healthy_and_registered(m: RouterMetrics, selector: str) -> tuple[str, str]:
    """Per router pod: its healthy workers (sum of the 0/1 gauge) and the workers it has."""
    healthy = f"sum by (namespace, pod) ({m.worker_health}{sel(selector)})"
    if m.workers_total is None:
        return healthy, f"count by (namespace, pod) ({m.worker_health}{sel(selector)})"
    return healthy, f"sum by (namespace, pod) ({m.workers_total}{sel(selector)})"


def workers_unhealthy_expr(spec: rm.RouterSpec) -> str:
    """Per router pod: fewer healthy workers than it has (the value: how many are healthy)."""
    healthy, registered = healthy_and_registered(ROUTER_METRICS[spec.kind], router_selector(spec))
    return f"{healthy} < {registered}"


def router_alerts(spec: rm.RouterSpec,
                  settings: ObservabilitySettings | None = None) -> list[dict[str, Any]]:
    """Target down, and a router that sees fewer healthy engines than it has, per router."""
    settings = settings or ObservabilitySettings()
    ep = {ENDPOINT_LABEL: spec.endpoint}
    health = ROUTER_METRICS[spec.kind].worker_health
    return [
        alert("InferenceRouterTargetDown",
              f"up{sel(router_selector(spec))} == 0", "2m", "critical",
              f"{spec.endpoint}: router {{{{ $labels.pod }}}} cannot be scraped",
              f"Prometheus has failed to scrape the {spec.kind} metrics port for 2 minutes.",
              **ep),
        alert("InferenceRouterWorkersUnhealthy", workers_unhealthy_expr(spec),
              settings.router_workers_for, "warning",
              f"{spec.endpoint}: router {{{{ $labels.pod }}}} sees only {{{{ $value }}}} "
              "healthy engines",
              f"The {spec.kind} router has had engines it cannot use for "
              f"{settings.router_workers_for} ({health} == 0): it sends every request to the "
              "rest, so capacity is lower than the replica count. Look at the engine pods "
              "and the router's health checks; `smoke check` (router_workers) names the count.",
              **ep),
    ]


# --- dashboard rows --------------------------------------------------------------------------


def router_panels(kind: rm.RouterKind = "smg") -> list[PanelDef]:
    """The router rows of one kind, all from its table: same layout for every kind."""
    m = ROUTER_METRICS[kind]
    s = f'{ENDPOINT_LABEL}=~"$endpoint", {COMPONENT_LABEL}="router"'
    w = ROUTER_WORKER_LABEL
    healthy, registered = healthy_and_registered(m, s)
    panels = [
        PanelDef("Router workers healthy / registered", "short", (
            (healthy, "healthy {{pod}}"), (registered, "registered {{pod}}")),
            "What the InferenceRouterWorkersUnhealthy alert compares, per router replica"),
        PanelDef("Router requests per worker", "reqps", (
            (counter_rate(m.requests_per_worker, s, RATE, by=w), "{{worker}}"),)),
        PanelDef("Router worker health", "none", (
            (f"min by ({w}) ({m.worker_health}{sel(s)})", "{{worker}}"),),
            "1 = healthy; the lowest value any router replica reports. vllm-router keeps a "
            "removed worker's last value until it restarts"),
        PanelDef("Router in-flight per worker", "short", (
            (f"sum by ({w}) ({m.in_flight}{sel(s)})", "{{worker}}"),)),
        PanelDef("Router latency", "s", tuple(
            (latency_quantile(q, m.latency, s, RATE), f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99))),
        PanelDef("Router errors/s", "reqps", (
            (counter_rate(m.errors, s, RATE, by=m.errors_by, matchers=m.errors_matchers),
             f"{{{{{m.errors_by}}}}}"),),
            "smg: requests it failed, by error type; vllm-router: engine answers its circuit "
            "breaker counted as failures, by worker (retried on another engine)"),
    ]
    if m.overload_fallbacks:
        panels.append(PanelDef("Router overload fallbacks/s", "short", (
            (f"sum (rate({m.overload_fallbacks}{sel(s)}[{RATE}]))", "fallbacks"),),
            "Requests sent to an engine at or over the overload veto because every engine "
            "was over it"))
    return panels


def router_sections(kinds: Iterable[rm.RouterKind]) -> list[tuple[str, list[PanelDef]]]:
    """One dashboard row per router kind in use, in a stable order."""
    wanted = set(kinds)
    return [(f"Router ({kind})", router_panels(kind)) for kind in rm.KINDS if kind in wanted]


def router_kinds(routers: Sequence[rm.RouterSpec],
                 endpoints: Iterable[str] | None = None) -> list[rm.RouterKind]:
    """Kinds of the routers in front of `endpoints` (all routers when None)."""
    names = None if endpoints is None else set(endpoints)
    return sorted({r.kind for r in routers if names is None or r.endpoint in names})
