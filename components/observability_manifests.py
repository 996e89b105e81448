"""Observability as code (issue 15): pure builders, no Pulumi.

From the endpoints (`EndpointSpec`) and routers (`RouterSpec`) the program already resolves, this
renders what a Prometheus Operator setup consumes:

- a PodMonitor per engine endpoint (every replica is its own target) and a ServiceMonitor per
  router metrics port; selectors, ports and paths come from the specs, never repeated by hand;
- one PrometheusRule: target down, metrics absent (stale) for a window, queue growing, KV cache
  above 90 % for 10 min, preemptions, P95 TTFT above the endpoint's SLO, GPU XID errors (DCGM) and
  a Watchdog (dead man's switch);
- Grafana dashboards generated from ONE table of metric names per engine (`ENGINE_METRICS`),
  shipped as ConfigMaps carrying the Grafana sidecar's label;
- the kube-prometheus-stack and dcgm-exporter Helm values of the bundled mode.

The routers' part (their metric table per kind, ServiceMonitor, alerts, dashboard rows) lives in
`components.router_observability`, the shared helpers in `components.observability_common`;
both are re-exported here, so callers keep one import.

Every scraped series gets `inference_endpoint=<endpoint name>` and `inference_component=engine|
router` from the monitors' relabelings; rules and dashboards select on those, so they never
depend on pod names or Service names.

Metric names are the ones the pinned engines expose (checked by tests/observability against the
live vLLM 0.32 `/metrics` and SGLang 0.5.23's `srt/observability/metrics_collector.py`):
vLLM counters end in `_total` (prometheus_client adds it), the KV cache gauge is
`vllm:kv_cache_usage_perc` (a 0..1 fraction despite the name). SGLang scheduler gauges carry one
series per rank (`tp_rank`, `pp_rank`, `moe_ep_rank`, optionally `dp_rank`), so they are
aggregated with `max by (pod)`; vLLM's carry one per data-parallel `engine` and are summed.
SGLang's preemption is called retraction (`sglang:num_retracted_requests_total`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.engines import Engine
from components.observability_common import (
    COMPONENT_LABEL,
    DASHBOARD_SEL,
    DEFAULT_DASHBOARD_LABEL,
    ENDPOINT_LABEL,
    MONITORING_GROUP,
    RATE,
    ObservabilitySettings,
    PanelDef,
    counter_rate,
    latency_quantile,
)
from components.observability_common import alert as _alert
from components.observability_common import object_labels as _labels
from components.observability_common import relabelings as _relabelings
from components.observability_common import sel as _sel
from components.router_manifests import KINDS as ROUTER_KINDS
from components.router_manifests import RouterKind, RouterSpec
from components.router_observability import (
    ROUTER_METRICS,
    ROUTER_PORT_NAME,
    ROUTER_WORKER_LABEL,
    RouterMetrics,
    router_alerts,
    router_kinds,
    router_panels,
    router_sections,
    router_service_monitor,
)
from components.spec import EndpointSpec

# Names re-exported from the split modules (callers import the observability API from here).
__all__ = [
    "COMPONENT_LABEL", "DEFAULT_DASHBOARD_LABEL", "ENDPOINT_LABEL", "MONITORING_GROUP",
    "ROUTER_METRICS", "ROUTER_PORT_NAME", "ROUTER_WORKER_LABEL", "ObservabilitySettings",
    "PanelDef", "RouterMetrics", "counter_rate", "latency_quantile", "router_alerts",
    "router_panels", "router_service_monitor",
]

ENGINE_PORT_NAME = "http"  # components/pod.py names the engine's container port "http"

# --- charts (bundled mode) -------------------------------------------------------------------
# prometheus-community/helm-charts, charts/kube-prometheus-stack/Chart.yaml at commit
# cf408a290aec489277a94450bb3511432477a53a: version 88.5.3, appVersion (operator) v0.93.1. The
# CRD schemas under tests/schemas/prometheus-operator/ are that chart's charts/crds/crds/.
KUBE_PROMETHEUS_STACK_CHART = "kube-prometheus-stack"
KUBE_PROMETHEUS_STACK_VERSION = "88.5.3"
KUBE_PROMETHEUS_STACK_REPO = "https://prometheus-community.github.io/helm-charts"
KUBE_PROMETHEUS_STACK_RELEASE = "kube-prometheus-stack"
# Service names the chart renders for that release name (its fullname helper keeps a release
# name that contains the chart name; Grafana's subchart appends "-grafana").
PROMETHEUS_SERVICE = f"{KUBE_PROMETHEUS_STACK_RELEASE}-prometheus"
PROMETHEUS_PORT = 9090
# The chart's Prometheus service account (`<fullname>-prometheus`), named explicitly when it
# carries an IRSA role annotation (remote write to Amazon Managed Prometheus).
PROMETHEUS_SERVICE_ACCOUNT = f"{KUBE_PROMETHEUS_STACK_RELEASE}-prometheus"
GRAFANA_SERVICE = f"{KUBE_PROMETHEUS_STACK_RELEASE}-grafana"
GRAFANA_PORT = 80
# NVIDIA/dcgm-exporter, deployment/Chart.yaml at commit d5e5f510a1b6b393f39a43293ccd9dc985defc79
# (tag 4.5.3-4.8.2): chart version 4.8.2. Repository per the project's README.
DCGM_EXPORTER_CHART = "dcgm-exporter"
DCGM_EXPORTER_VERSION = "4.8.2"
DCGM_EXPORTER_REPO = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_EXPORTER_RELEASE = "dcgm-exporter"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"


# --- the one table of metric names -----------------------------------------------------------


@dataclass(frozen=True)
class EngineMetrics:
    """Metric names of one engine, by meaning. Histograms are base names (seconds)."""

    engine: Engine
    gauge_aggregation: Literal["sum", "max"]  # across the per-engine/per-rank series of one pod
    running: str  # gauge: requests being processed
    waiting: str  # gauge: requests queued (the engine profile's queue_metric)
    kv_cache_usage: str  # gauge: KV cache in use, 0..1
    ttft: str  # histogram: time to first token
    itl: str  # histogram: inter-token latency
    e2e: str  # histogram: end-to-end request latency
    prompt_tokens: str  # counter
    generation_tokens: str  # counter
    requests: str  # counter: requests finished (the metrics-live check watches it)
    errors: str  # counter of failed requests, with `errors_matchers`
    errors_matchers: str
    preemptions: str  # counter

    def names(self) -> list[str]:
        """Every metric name of the table (histograms as base names)."""
        return [self.running, self.waiting, self.kv_cache_usage, self.ttft, self.itl, self.e2e,
                self.prompt_tokens, self.generation_tokens, self.requests, self.errors,
                self.preemptions]


ENGINE_METRICS: dict[Engine, EngineMetrics] = {
    "vllm": EngineMetrics(
        engine="vllm",
        gauge_aggregation="sum",  # one series per data-parallel engine (label `engine`)
        running="vllm:num_requests_running",
        waiting="vllm:num_requests_waiting",
        kv_cache_usage="vllm:kv_cache_usage_perc",
        ttft="vllm:time_to_first_token_seconds",
        itl="vllm:inter_token_latency_seconds",
        e2e="vllm:e2e_request_latency_seconds",
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
        requests="vllm:request_success_total",  # all finished_reason values
        errors="vllm:request_success_total",
        errors_matchers='finished_reason=~"abort|error"',
        preemptions="vllm:num_preemptions_total",
    ),
    "sglang": EngineMetrics(
        engine="sglang",
        gauge_aggregation="max",  # one series per tp/pp/ep(/dp) rank
        running="sglang:num_running_reqs",
        waiting="sglang:num_queue_reqs",
        kv_cache_usage="sglang:token_usage",
        ttft="sglang:time_to_first_token_seconds",
        itl="sglang:inter_token_latency_seconds",
        e2e="sglang:e2e_request_latency_seconds",
        prompt_tokens="sglang:prompt_tokens_total",
        generation_tokens="sglang:generation_tokens_total",
        requests="sglang:num_requests_total",
        errors="sglang:num_aborted_requests_total",
        errors_matchers="",
        preemptions="sglang:num_retracted_requests_total",
    ),
}

# dcgm-exporter default counters (etc/default-counters.csv of the pinned chart's image).
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"  # MiB
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"  # MiB
DCGM_GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"
DCGM_XID = "DCGM_FI_DEV_XID_ERRORS"  # value of the last XID error

# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineTarget:
    """What the builders need of one engine endpoint. `EndpointSpec`s convert with
    `engine_target(spec)`; platforms whose pods are not rendered from an EndpointSpec (HyperPod:
    the operator labels worker pods `app: <name>`) build one directly.

    `port` is the container port's name, or its number (PodMonitor `portNumber`, operator
    >= v0.80) when the pod's port name is not ours to know.
    """

    name: str
    namespace: str
    engine: Engine
    selector: dict[str, str]
    metrics_path: str = "/metrics"
    port: str | int = ENGINE_PORT_NAME
    api_key_secret: str | None = None


EndpointLike = EndpointSpec | EngineTarget


def engine_target(spec: EndpointLike) -> EngineTarget:
    if isinstance(spec, EngineTarget):
        return spec
    return EngineTarget(name=spec.name, namespace=spec.namespace, engine=spec.engine,
                        selector=dict(spec.selector), metrics_path=spec.profile.metrics_path,
                        api_key_secret=spec.api_key_secret)


def _bearer(secret: str | None) -> dict[str, Any]:
    # The engines' API key Secret (key `api-key`, see engines.engine_env). vLLM leaves /metrics
    # open; SGLang with --api-key may not, so the key is sent whenever the endpoint has one.
    if secret is None:
        return {}
    return {"authorization": {"type": "Bearer", "credentials": {"name": secret, "key": "api-key"}}}


# --- monitors --------------------------------------------------------------------------------


def engine_pod_monitor(endpoint: EndpointLike,
                       settings: ObservabilitySettings) -> dict[str, Any]:
    """PodMonitor: every replica of the endpoint's engine, on its `http` port and metrics path."""
    spec = engine_target(endpoint)
    port: dict[str, Any] = ({"portNumber": spec.port} if isinstance(spec.port, int)
                            else {"port": spec.port})
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "PodMonitor",
        "metadata": {"name": f"{spec.name}-engine", "namespace": spec.namespace,
                     "labels": _labels(settings, **{"inference-stacks/endpoint": spec.name})},
        "spec": {
            "selector": {"matchLabels": dict(spec.selector)},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "podMetricsEndpoints": [{
                **port,
                "path": spec.metrics_path,
                "interval": settings.interval,
                "scrapeTimeout": settings.scrape_timeout,
                "relabelings": _relabelings(spec.name, "engine"),
                **_bearer(spec.api_key_secret),
            }],
        },
    }


# --- PromQL from the table -------------------------------------------------------------------


def gauge_by_pod(m: EngineMetrics, name: str, sel: str) -> str:
    """One value per pod: sum over vLLM's DP engines, max over SGLang's ranks."""
    return f"{m.gauge_aggregation} by (namespace, pod) ({name}{_sel(sel)})"


def endpoint_selector(spec: EndpointLike) -> str:
    return f'namespace="{spec.namespace}", {ENDPOINT_LABEL}="{spec.name}"'


# --- rules -----------------------------------------------------------------------------------


def endpoint_alerts(spec: EndpointLike, settings: ObservabilitySettings,
                    ttft_p95_ms: float | None) -> list[dict[str, Any]]:
    """The alerts of one engine endpoint (TTFT only when the endpoint has an SLO)."""
    m = ENGINE_METRICS[spec.engine]
    sel = endpoint_selector(spec)
    ep = {ENDPOINT_LABEL: spec.name}
    waiting = gauge_by_pod(m, m.waiting, sel)
    rules = [
        _alert("InferenceTargetDown",
               "up" + _sel(sel, f'{COMPONENT_LABEL}="engine"') + " == 0", "2m", "critical",
               f"{spec.name}: engine replica {{{{ $labels.pod }}}} cannot be scraped",
               "Prometheus has failed to scrape this engine replica for 2 minutes: the pod is "
               "down, not listening on its metrics port, or /metrics fails.", **ep),
        _alert("InferenceMetricsAbsent",
               f"absent_over_time({m.waiting}{_sel(sel)}[{settings.stale_window}])", "0m",
               "critical",
               f"{spec.name}: no engine metrics for {settings.stale_window}",
               f"No sample of {m.waiting} for {settings.stale_window}: no replica is scraped "
               "(monitor not selected, pods gone, or metrics disabled).", **ep),
        _alert("InferenceQueueGrowing",
               f"(min_over_time(({waiting})[15m:1m]) > 0) and (deriv(({waiting})[15m:1m]) > 0)",
               "5m", "warning",
               f"{spec.name}: request queue on {{{{ $labels.pod }}}} keeps growing",
               "Requests have waited for 15 minutes and the queue is still growing: the "
               "endpoint needs more replicas or lower load.", **ep),
        _alert("InferenceKVCacheHigh",
               f"{gauge_by_pod(m, m.kv_cache_usage, sel)} > {settings.kv_cache_threshold:g}",
               settings.kv_cache_for, "warning",
               f"{spec.name}: KV cache on {{{{ $labels.pod }}}} above "
               f"{settings.kv_cache_threshold:.0%}",
               f"KV cache usage has been above {settings.kv_cache_threshold:.0%} for "
               f"{settings.kv_cache_for}; requests will queue or be preempted.", **ep),
        _alert("InferencePreemptions",
               f"sum by (namespace, pod) (increase({m.preemptions}{_sel(sel)}[10m])) > 0", "0m",
               "warning",
               f"{spec.name}: {{{{ $labels.pod }}}} preempted requests",
               "The engine preempted (vLLM) or retracted (SGLang) requests in the last 10 "
               "minutes because the KV cache ran out; latency suffers.", **ep),
    ]
    if ttft_p95_ms is not None:
        rules.append(_alert(
            "InferenceTTFTAboveSLO",
            f"{latency_quantile(0.95, m.ttft, sel, '5m')} > {ttft_p95_ms / 1000.0:g}",
            "10m", "warning",
            f"{spec.name}: P95 TTFT above the {ttft_p95_ms:g} ms SLO",
            f"P95 time to first token over 5 minutes has exceeded slos.ttft_p95_ms "
            f"({ttft_p95_ms:g} ms) for 10 minutes. Value: {{{{ $value | humanizeDuration }}}}.",
            **ep))
    return rules


def gpu_alerts() -> list[dict[str, Any]]:
    return [_alert(
        "GPUXidError", f"max_over_time({DCGM_XID}[5m]) > 0", "0m", "critical",
        "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
        "DCGM reports an XID error (the value is the XID code): a driver/hardware fault; the "
        "pod {{ $labels.namespace }}/{{ $labels.pod }} using it may be hung or corrupt.")]


def watchdog_alert() -> dict[str, Any]:
    return _alert(
        "Watchdog", "vector(1)", "0m", "none",
        "Dead man's switch: always firing",
        "This alert fires as long as Prometheus evaluates rules and Alertmanager delivers; "
        "route it to a heartbeat receiver that pages when it STOPS arriving.")


def rule_groups(endpoints: Sequence[EndpointLike], routers: Sequence[RouterSpec],
                settings: ObservabilitySettings,
                ttft_slos_ms: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Rule groups (the PrometheusRule's `spec.groups`, also a valid promtool rule file)."""
    groups = [{"name": f"inference-stacks.{spec.name}",
               "rules": endpoint_alerts(spec, settings, ttft_slos_ms.get(spec.name))}
              for spec in endpoints]
    if routers:
        groups.append({"name": "inference-stacks.routers",
                       "rules": [r for spec in routers for r in router_alerts(spec, settings)]})
    if settings.gpu:
        groups.append({"name": "inference-stacks.gpu", "rules": gpu_alerts()})
    groups.append({"name": "inference-stacks.meta", "rules": [watchdog_alert()]})
    return groups


def prometheus_rule(endpoints: Sequence[EndpointLike], routers: Sequence[RouterSpec],
                    settings: ObservabilitySettings,
                    ttft_slos_ms: Mapping[str, float | None]) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "PrometheusRule",
        "metadata": {"name": "inference-stacks-alerts", "namespace": settings.namespace,
                     "labels": _labels(settings)},
        "spec": {"groups": rule_groups(endpoints, routers, settings, ttft_slos_ms)},
    }


# --- dashboards ------------------------------------------------------------------------------

def _latency_panel(title: str, histogram: str) -> PanelDef:
    return PanelDef(title, "s", tuple(
        (latency_quantile(q, histogram, DASHBOARD_SEL, RATE), f"p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)))


def engine_panels(m: EngineMetrics) -> list[PanelDef]:
    """The engine panels, all from the table: same layout for vLLM and SGLang."""
    s = DASHBOARD_SEL
    return [
        _latency_panel("Time to first token", m.ttft),
        _latency_panel("Inter-token latency", m.itl),
        _latency_panel("End-to-end latency", m.e2e),
        PanelDef("Requests running / waiting", "short", (
            (gauge_by_pod(m, m.running, s), "running {{pod}}"),
            (gauge_by_pod(m, m.waiting, s), "waiting {{pod}}"))),
        PanelDef("KV cache usage", "percentunit", (
            (gauge_by_pod(m, m.kv_cache_usage, s), "{{pod}}"),)),
        PanelDef("Tokens/s", "short", (
            (counter_rate(m.prompt_tokens, s, RATE), "prompt {{pod}}"),
            (counter_rate(m.generation_tokens, s, RATE), "generation {{pod}}"))),
        PanelDef("Finished / failed requests/s", "reqps", (
            (counter_rate(m.requests, s, RATE), "finished {{pod}}"),
            (counter_rate(m.errors, s, RATE, matchers=m.errors_matchers), "failed {{pod}}"))),
        PanelDef("Preemptions/s", "short", (
            (counter_rate(m.preemptions, s, RATE), "{{pod}}"),),
            "vLLM preemptions; SGLang retractions"),
    ]


def gpu_panels() -> list[PanelDef]:
    s = 'namespace=~"$namespace", pod=~"$pod"'
    return [
        PanelDef("GPU utilisation", "percent", ((f"{DCGM_GPU_UTIL}{_sel(s)}",
                                                 "{{pod}} gpu {{gpu}}"),)),
        PanelDef("GPU memory used", "decmbytes", ((f"{DCGM_FB_USED}{_sel(s)}",
                                                   "{{pod}} gpu {{gpu}}"),)),
        PanelDef("GPU temperature", "celsius", ((f"{DCGM_GPU_TEMP}{_sel(s)}",
                                                 "{{pod}} gpu {{gpu}}"),)),
        PanelDef("GPU XID errors (last code)", "none", ((f"{DCGM_XID}{_sel(s)}",
                                                         "{{Hostname}} gpu {{gpu}}"),)),
    ]


def dashboard_uid(engine: Engine) -> str:
    return f"inference-{engine}"


def _panel_json(p: PanelDef, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": p.title,
        "description": p.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"}},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (expr, legend) in enumerate(p.queries)],
    }


def _query_variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name}, "definition": query,
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1}


def dashboard_sections(engine: Engine, gpu: bool = True,
                       routers: Sequence[RouterKind] = ROUTER_KINDS
                       ) -> list[tuple[str, list[PanelDef]]]:
    """Engine rows, GPU rows, then one row per kind of router in front of this engine's
    endpoints (each from that kind's metric table)."""
    sections = [("Engine", engine_panels(ENGINE_METRICS[engine]))]
    if gpu:
        sections.append(("GPU (DCGM)", gpu_panels()))
    return sections + router_sections(routers)


def rows_json(sections: Sequence[tuple[str, Sequence[PanelDef]]]) -> list[dict[str, Any]]:
    """Grafana panels: one row per section, its panels three to a line."""
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for title, defs in sections:
        panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        for i, p in enumerate(defs):
            panels.append(_panel_json(p, next_id, (i % 3) * 8, y + (i // 3) * 8))
            next_id += 1
        y += ((len(defs) + 2) // 3) * 8
    return panels


def dashboard(engine: Engine, gpu: bool = True,
              routers: Sequence[RouterKind] = ROUTER_KINDS) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) for every endpoint of one engine."""
    m = ENGINE_METRICS[engine]
    panels = rows_json(dashboard_sections(engine, gpu, routers))
    return {
        "uid": dashboard_uid(engine),
        "title": f"Inference: {engine}",
        "tags": ["inference-stacks", engine],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            _query_variable("namespace", f"label_values({m.waiting}, namespace)", "Namespace"),
            _query_variable(
                "endpoint",
                f'label_values({m.waiting}{{namespace=~"$namespace"}}, {ENDPOINT_LABEL})',
                "Endpoint"),
            _query_variable(
                "pod", f'label_values({m.waiting}{{{ENDPOINT_LABEL}=~"$endpoint"}}, pod)',
                "Pod"),
        ]},
        "panels": panels,
    }


def dashboard_config_map(engine: Engine, settings: ObservabilitySettings,
                         routers: Sequence[RouterKind] = ROUTER_KINDS) -> dict[str, Any]:
    """The dashboard as a ConfigMap the Grafana sidecar loads (label `settings.dashboard_label`)."""
    uid = dashboard_uid(engine)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{uid}-dashboard", "namespace": settings.namespace,
                     "labels": {**_labels(settings), **settings.dashboard_label}},
        "data": {f"{uid}.json": json.dumps(dashboard(engine, settings.gpu, routers),
                                           indent=1, sort_keys=True)},
    }


def dashboard_queries(dash: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and query variables."""
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            exprs.append(var["query"]["query"])
    return exprs


_LABEL_VALUES = re.compile(r"^label_values\((?P<expr>.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$")


def substitute(expr: str, rate_interval: str = "1m",
               variables: Mapping[str, str] | None = None) -> str:
    """A dashboard expression as Prometheus can run it: Grafana's `$__rate_interval` and the
    template variables replaced (default `.*`); `label_values(m, l)` becomes `m`."""
    match = _LABEL_VALUES.match(expr)
    if match:
        expr = match.group("expr")
    expr = expr.replace("$__rate_interval", rate_interval)
    values = {"namespace": ".*", "endpoint": ".*", "pod": ".*", **(variables or {})}
    for name, value in values.items():
        expr = expr.replace(f"${name}", value)
    return expr


# --- everything at once ----------------------------------------------------------------------


def engines_in_use(endpoints: Sequence[EndpointLike]) -> list[Engine]:
    return sorted({spec.engine for spec in endpoints})


def observability_objects(endpoints: Sequence[EndpointLike], routers: Sequence[RouterSpec],
                          settings: ObservabilitySettings,
                          ttft_slos_ms: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Monitors, the rule and one dashboard ConfigMap per engine in use, in creation order."""
    objs = [engine_pod_monitor(spec, settings) for spec in endpoints]
    objs += [router_service_monitor(spec, settings) for spec in routers]
    objs.append(prometheus_rule(endpoints, routers, settings, ttft_slos_ms))
    objs += [dashboard_config_map(engine, settings, routers=router_kinds(
                 routers, [e.name for e in endpoints if e.engine == engine]))
             for engine in engines_in_use(endpoints)]
    return objs


# --- Helm values (bundled mode) --------------------------------------------------------------


@dataclass(frozen=True)
class RemoteWrite:
    """Prometheus remote write, e.g. to Amazon Managed Prometheus (SigV4 when region is set)."""

    url: str
    sigv4_region: str | None = None
    role_arn: str | None = None  # assumed by SigV4; else the pod's own credentials (IRSA)


def _remote_write_target(remote_write: RemoteWrite) -> dict[str, Any]:
    target: dict[str, Any] = {"url": remote_write.url}
    if remote_write.sigv4_region is not None:
        sigv4: dict[str, Any] = {"region": remote_write.sigv4_region}
        if remote_write.role_arn is not None:
            sigv4["roleArn"] = remote_write.role_arn
        target["sigv4"] = sigv4
    return target


def kube_prometheus_stack_values(
    settings: ObservabilitySettings,
    *,
    grafana: bool = True,
    remote_write: RemoteWrite | Sequence[RemoteWrite] | None = None,
    prometheus_service_account_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Values for the pinned kube-prometheus-stack chart.

    The three `*NilUsesHelmValues: false` make Prometheus select every ServiceMonitor,
    PodMonitor and PrometheusRule in every namespace (the chart's default selects only its own
    release's); Grafana stays ClusterIP (reach it with port-forward) and its dashboard sidecar
    loads ConfigMaps with `settings.dashboard_label` from all namespaces.
    """
    spec: dict[str, Any] = {
        "scrapeInterval": settings.interval,
        "evaluationInterval": settings.interval,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "retention": "15d",
    }
    targets = [remote_write] if isinstance(remote_write, RemoteWrite) else list(remote_write or [])
    if targets:
        spec["remoteWrite"] = [_remote_write_target(t) for t in targets]
    prometheus: dict[str, Any] = {"prometheusSpec": spec, "service": {"type": "ClusterIP"}}
    if prometheus_service_account_annotations:
        # Named explicitly: an IRSA role trusts exactly this service account.
        prometheus["serviceAccount"] = {
            "create": True, "name": PROMETHEUS_SERVICE_ACCOUNT,
            "annotations": dict(prometheus_service_account_annotations)}
    (label_key, label_value), *_ = settings.dashboard_label.items()
    values: dict[str, Any] = {
        "prometheus": prometheus,
        "grafana": {"enabled": grafana},
        "alertmanager": {"enabled": True},
    }
    if grafana:
        values["grafana"] = {
            "enabled": True,
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "sidecar": {"dashboards": {"enabled": True, "label": label_key,
                                       "labelValue": label_value, "searchNamespace": "ALL"}},
        }
    return values


def dcgm_exporter_values(
    settings: ObservabilitySettings,
    *,
    runtime_class: str | None = None,
    node_selector: Mapping[str, str] | None = None,
    affinity: Mapping[str, Any] | None = None,
    extra_tolerations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Values for the pinned dcgm-exporter chart.

    Its default tolerations cover only the control-plane taint, so on GPU nodes tainted
    `nvidia.com/gpu` (gpu_nodes.GPU_TAINT) the DaemonSet would never schedule; it is added here.
    `runtime_class="nvidia"` on K3s (as for the device plugin). `honorLabels: true` keeps the
    `namespace`/`pod` of the GPU's consumer that dcgm-exporter attaches (otherwise Prometheus
    renames them `exported_*` in favour of the exporter pod's own). `affinity` and
    `extra_tolerations` are for nodes without the GPU label (HyperPod: instance types, and its
    node-health taint).
    """
    values: dict[str, Any] = {
        "nodeSelector": dict(node_selector if node_selector is not None
                             else {GPU_PRESENT_LABEL: "true"}),
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
             "effect": "NoSchedule"},
            *(dict(t) for t in extra_tolerations),
        ],
        "serviceMonitor": {
            "enabled": True,
            "interval": settings.interval,
            "honorLabels": True,
            "additionalLabels": dict(settings.selector_labels),
        },
    }
    if affinity:
        values["affinity"] = dict(affinity)
    if runtime_class is not None:
        values["runtimeClassName"] = runtime_class
    return values
