"""Monitoring of batch jobs: a PodMonitor on each shard's feeder and a "batch stalled" alert.

The feeder serves its progress as metrics (never pushed: a dead feeder's series disappear
instead of freezing), so a shard that still has work but has recorded no answer for a while is
stuck, whatever the last status file says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from components.batch_feeder import DEFAULT_METRICS_PORT
from components.batch_manifests import BatchJobSpec
from components.observability_manifests import (
    MONITORING_GROUP,
    ObservabilitySettings,
    PanelDef,
    rows_json,
)

STALLED_AFTER_MINUTES = 15  # no durable answer for this long while requests remain


def batch_pod_monitor(spec: BatchJobSpec, settings: ObservabilitySettings) -> dict[str, Any]:
    """Every shard pod of the job, on the feeder's metrics port."""
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "PodMonitor",
        "metadata": {"name": f"{spec.name}-batch", "namespace": spec.namespace,
                     "labels": {**settings.selector_labels,
                                "inference-stacks/batch-job": spec.name}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/instance": spec.name,
                                         "app.kubernetes.io/component": "batch"}},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "podMetricsEndpoints": [{"portNumber": DEFAULT_METRICS_PORT, "path": "/metrics",
                                     "interval": settings.interval}],
        },
    }


def stalled_expr(namespace: str, pod_prefix: str, minutes: int = STALLED_AFTER_MINUTES) -> str:
    """Shards with work left and no durable answer for `minutes` (one sample per pod)."""
    sel = f'namespace="{namespace}", pod=~"{pod_prefix}-.*"'
    remaining = (f"(batch_requests_total{{{sel}}} - batch_requests_completed_total{{{sel}}}"
                 f" - batch_requests_failed_total{{{sel}}})")
    return (f"(time() - batch_last_progress_timestamp_seconds{{{sel}}}) > {minutes * 60} "
            f"and on (namespace, pod) {remaining} > 0")


def batch_rule(jobs: Sequence[BatchJobSpec], settings: ObservabilitySettings) -> dict[str, Any]:
    """PrometheusRule with one BatchStalled alert per job."""
    rules = [{
        "alert": "BatchStalled",
        "expr": stalled_expr(job.namespace, job.name),
        "for": "5m",
        "labels": {"severity": "warning", "batch_job": job.name},
        "annotations": {
            "summary": f"Batch job {job.name}: a shard has made no progress for "
                       f"{STALLED_AFTER_MINUTES} min while requests remain",
            "description": "Check the shard's pod (engine sidecar restarts, feeder log) and "
                           f"`python -m smoke batch --job {job.name}`.",
        },
    } for job in jobs]
    return {
        "apiVersion": MONITORING_GROUP,
        "kind": "PrometheusRule",
        "metadata": {"name": "inference-stacks-batch", "namespace": settings.namespace,
                     "labels": dict(settings.selector_labels)},
        "spec": {"groups": [{"name": "inference-stacks.batch", "rules": rules}]},
    }


BATCH_DASHBOARD_UID = "inference-batch"
_SEL = 'namespace=~"$namespace", pod=~"$pod"'


def batch_panels() -> list[PanelDef]:
    """Progress per shard, answers and failures per second, and the age of the last answer
    (the number that shows a stuck shard whatever its status file says)."""
    s = _SEL
    return [
        PanelDef("Answered / total per shard", "short", (
            (f"batch_requests_completed_total{{{s}}} + batch_requests_failed_total{{{s}}}",
             "answered {{pod}}"),
            (f"batch_requests_total{{{s}}}", "total {{pod}}"))),
        PanelDef("Answers/s", "reqps", (
            (f"sum by (pod) (rate(batch_requests_completed_total{{{s}}}[$__rate_interval]))",
             "completed {{pod}}"),
            (f"sum by (pod) (rate(batch_requests_failed_total{{{s}}}[$__rate_interval]))",
             "failed {{pod}}"))),
        PanelDef("Seconds since the last answer", "s", (
            (f"time() - batch_last_progress_timestamp_seconds{{{s}}}", "{{pod}}"),)),
        PanelDef("Requests in flight", "short", (
            (f"batch_requests_in_flight{{{s}}}", "{{pod}}"),)),
    ]


def batch_dashboard() -> dict[str, Any]:
    return {
        "uid": BATCH_DASHBOARD_UID, "title": "Inference: batch jobs",
        "tags": ["inference-stacks", "batch"], "timezone": "browser", "schemaVersion": 39,
        "version": 1, "editable": False, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "namespace", "label": "Namespace", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(batch_requests_total, namespace)",
                       "refId": "namespace"}, "refresh": 2, "includeAll": True, "multi": True},
            {"name": "pod", "label": "Shard pod", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": 'label_values(batch_requests_total{namespace=~"$namespace"}, pod)',
                       "refId": "pod"}, "refresh": 2, "includeAll": True, "multi": True},
        ]},
        "panels": rows_json([("Batch jobs", batch_panels())]),
    }


def batch_dashboard_config_map(settings: ObservabilitySettings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{BATCH_DASHBOARD_UID}-dashboard", "namespace": settings.namespace,
                     "labels": {**settings.selector_labels, **settings.dashboard_label}},
        "data": {f"{BATCH_DASHBOARD_UID}.json": json.dumps(batch_dashboard(), indent=1,
                                                          sort_keys=True)},
    }


def batch_objects(jobs: Sequence[BatchJobSpec],
                  settings: ObservabilitySettings) -> list[dict[str, Any]]:
    if not jobs:
        return []
    return [*(batch_pod_monitor(job, settings) for job in jobs), batch_rule(jobs, settings),
            batch_dashboard_config_map(settings)]
