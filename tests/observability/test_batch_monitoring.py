"""Batch jobs under monitoring: the feeder's PodMonitor against the prometheus-operator CRD,
and the BatchStalled alert under the real promtool with synthetic feeder series."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from components.batch_manifests import BatchJobSpec
from components.batch_monitoring import batch_objects, batch_rule
from tests.contract.crds import validate_custom_resource
from tests.observability import specs


def job() -> BatchJobSpec:
    return BatchJobSpec(name="nightly", endpoint=specs.ENDPOINTS[0], input="https://x.invalid/in",
                        output_claim="results")


def test_pod_monitor_and_rule_follow_the_crds() -> None:
    objects = batch_objects([job()], specs.SETTINGS)
    assert [o["kind"] for o in objects] == ["PodMonitor", "PrometheusRule", "ConfigMap"]
    for obj in objects[:2]:
        validate_custom_resource(obj)
    assert objects[2]["metadata"]["labels"] == {**specs.SETTINGS.selector_labels,
                                                **specs.SETTINGS.dashboard_label}
    assert batch_objects([], specs.SETTINGS) == []


def _series(progress_at: float, completed: int, total: int, minutes: int) -> list[dict]:
    pod = 'namespace="inference", pod="nightly-0-abcde", shard="0"'
    return [
        {"series": f"batch_requests_total{{{pod}}}", "values": f"{total}x{minutes}"},
        {"series": f"batch_requests_completed_total{{{pod}}}", "values": f"{completed}x{minutes}"},
        {"series": f"batch_requests_failed_total{{{pod}}}", "values": f"0x{minutes}"},
        {"series": f"batch_last_progress_timestamp_seconds{{{pod}}}",
         "values": f"{progress_at}x{minutes}"},
    ]


def test_batch_stalled_fires_only_for_a_shard_with_work_left_and_no_progress(
        promtool: str, tmp_path: Path) -> None:
    rule = batch_rule([job()], specs.SETTINGS)
    groups = rule["spec"]["groups"]
    for group in groups:
        for r in group["rules"]:
            r.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    labels = {"severity": "warning", "batch_job": "nightly", "namespace": "inference",
              "pod": "nightly-0-abcde", "shard": "0"}
    tests = [
        # Last answer at t=0, 60 of 100 done, for 40 min: stalled since 15 min (+5 min for).
        {"interval": "1m", "input_series": _series(0, 60, 100, 40),
         "alert_rule_test": [{"eval_time": "30m", "alertname": "BatchStalled",
                              "exp_alerts": [{"exp_labels": labels}]},
                             {"eval_time": "10m", "alertname": "BatchStalled",
                              "exp_alerts": []}]},
        # Finished (100 of 100): never stalled, however old the last answer.
        {"interval": "1m", "input_series": _series(0, 100, 100, 40),
         "alert_rule_test": [{"eval_time": "30m", "alertname": "BatchStalled",
                              "exp_alerts": []}]},
    ]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"],
                                                        "evaluation_interval": "1m",
                                                        "tests": tests}))
    result = subprocess.run([promtool, "test", "rules", str(tmp_path / "tests.yml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_batch_queries_parse_and_name_only_metrics_the_feeder_serves() -> None:
    import pytest

    promql_parser = pytest.importorskip("promql_parser", reason="pip install promql-parser")
    from components.batch_feeder.results import Status, metrics_text  # the feeder's own
    from components.batch_monitoring import batch_dashboard, stalled_expr
    from components.observability_manifests import dashboard_queries

    served = {line.split(" ")[2] for line in metrics_text(Status())
              .splitlines() if line.startswith("# TYPE")}
    # Grafana's label_values() is a template function, not PromQL: take its selector.
    exprs = [q.removeprefix("label_values(").rsplit(",", 1)[0] if q.startswith("label_values(")
             else q for q in dashboard_queries(batch_dashboard())]
    exprs.append(stalled_expr("batch", "nightly"))
    names: set[str] = set()
    for expr in exprs:
        text = expr.replace("$__rate_interval", "5m").replace("$namespace", "x").replace(
            "$pod", "y")
        tree = promql_parser.parse(text)
        names |= {n for n in _selector_names(tree, promql_parser)}
    assert names and names <= served, names - served


def _selector_names(node: object, parser: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, parser.VectorSelector) and node.name:  # type: ignore[attr-defined]
        found.add(node.name)
    for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None:
            found |= _selector_names(child, parser)
    for arg in getattr(node, "args", None) or []:
        found |= _selector_names(arg, parser)
    return found
