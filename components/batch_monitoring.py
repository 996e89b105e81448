"""Monitoring of batch jobs: a PodMonitor on each shard's feeder and a "batch stalled" alert.

The feeder serves its progress as metrics (never pushed: a dead feeder's series disappear
instead of freezing), so a shard that still has work but has recorded no answer for a while is
stuck, whatever the last status file says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.batch_feeder import DEFAULT_METRICS_PORT
from components.batch_manifests import BatchJobSpec
from components.observability_manifests import MONITORING_GROUP, ObservabilitySettings

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


def batch_objects(jobs: Sequence[BatchJobSpec],
                  settings: ObservabilitySettings) -> list[dict[str, Any]]:
    if not jobs:
        return []
    return [*(batch_pod_monitor(job, settings) for job in jobs), batch_rule(jobs, settings)]
