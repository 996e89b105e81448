"""The generated PrometheusRule under the real `promtool` (Debian's prometheus package).

`promtool check rules` parses every expression and annotation template. `promtool test rules`
feeds synthetic series and checks that each alert fires when it should and stays silent
otherwise. promtool compares annotations exactly, so the unit-test copy of the rules drops them
(their templates are covered by `check rules`); labels are compared in full.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import observability_manifests as om
from tests.observability import specs

VL = 'namespace="inference", inference_endpoint="vl"'
SG = 'namespace="inference", inference_endpoint="sg"'


def _groups() -> list[dict[str, Any]]:
    rule = om.prometheus_rule(specs.ENDPOINTS, specs.ROUTERS, specs.SETTINGS,
                              specs.TTFT_SLOS_MS)
    return rule["spec"]["groups"]


def _write_rules(path: Path, annotations: bool) -> Path:
    groups = copy.deepcopy(_groups())
    if not annotations:
        for group in groups:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_promtool_check_rules_accepts_the_generated_rules(promtool: str, tmp_path: Path) -> None:
    rules = _write_rules(tmp_path / "rules.yml", annotations=True)
    result = _run(promtool, "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    expected = sum(len(g["rules"]) for g in _groups())
    assert f"SUCCESS: {expected} rules found" in result.stdout


def test_every_required_alert_exists() -> None:
    names = {r["alert"] for g in _groups() for r in g["rules"]}
    assert names == {"InferenceTargetDown", "InferenceMetricsAbsent", "InferenceQueueGrowing",
                     "InferenceKVCacheHigh", "InferencePreemptions", "InferenceTTFTAboveSLO",
                     "InferenceRouterTargetDown", "InferenceRouterWorkersUnhealthy",
                     "GPUXidError", "Watchdog"}


def test_ttft_alert_only_for_endpoints_with_an_slo() -> None:
    by_group = {g["name"]: {r["alert"] for r in g["rules"]} for g in _groups()}
    assert "InferenceTTFTAboveSLO" in by_group["inference-stacks.vl"]
    assert "InferenceTTFTAboveSLO" not in by_group["inference-stacks.sg"]


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _alert(alertname: str, eval_time: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": eval_time, "alertname": alertname,
            "exp_alerts": [{"exp_labels": labels} for labels in expected]}


def _labels(severity: str, **labels: str) -> dict[str, str]:
    return {"severity": severity, **labels}


ENGINE_VL0 = f'{VL}, inference_component="engine", pod="vl-0"'
ENGINE_VL1 = f'{VL}, inference_component="engine", pod="vl-1"'
VL_ROUTER = f'{VL}, inference_component="router", pod="vl-router-0"'
SG_ROUTER = f'{SG}, inference_component="router", pod="sg-router-0"'
VL0 = dict(namespace="inference", inference_endpoint="vl", inference_component="engine",
           pod="vl-0")

# (case name, input series, alert tests). Each case is one promtool test group.
CASES: list[tuple[str, list[dict[str, str]], list[dict[str, Any]]]] = [
    ("target down after 2m, the healthy replica is not reported", [
        _series("up", ENGINE_VL0, "1 1 1 0 0 0 0 0"),
        _series("up", ENGINE_VL1, "1 1 1 1 1 1 1 1"),
    ], [
        _alert("InferenceTargetDown", "4m"),  # down 1 minute: pending only
        _alert("InferenceTargetDown", "6m", _labels("critical", **VL0)),
    ]),
    ("router target down", [
        _series("up", f'{VL}, inference_component="router", pod="vl-router-0"', "0x10"),
    ], [
        _alert("InferenceRouterTargetDown", "5m", _labels(
            "critical", namespace="inference", inference_endpoint="vl",
            inference_component="router", pod="vl-router-0")),
    ]),
    ("router sees fewer healthy workers than it has for 5m: each kind's own gauge", [
        _series("vllm_router_worker_health", f'{VL_ROUTER}, worker="http://10.0.0.1:8000"',
                "1x30"),
        _series("vllm_router_worker_health", f'{VL_ROUTER}, worker="http://10.0.0.2:8000"',
                "1 1 0x18 1x10"),
        _series("vllm_router_active_workers", VL_ROUTER, "2x30"),
        _series("smg_worker_health", f'{SG_ROUTER}, worker="http://10.0.1.1:30000"', "1x30"),
        _series("smg_worker_health", f'{SG_ROUTER}, worker="http://10.0.1.2:30000"',
                "1 1 0x28"),
        # the other kind's gauge on an endpoint is not this router's: never alerts
        _series("smg_worker_health", f'{VL_ROUTER}, worker="http://10.0.0.3:8000"', "0x30"),
    ], [
        _alert("InferenceRouterWorkersUnhealthy", "5m"),  # 3 minutes unhealthy: pending
        _alert("InferenceRouterWorkersUnhealthy", "9m",
               _labels("warning", namespace="inference", pod="vl-router-0",
                       inference_endpoint="vl"),
               _labels("warning", namespace="inference", pod="sg-router-0",
                       inference_endpoint="sg")),
        _alert("InferenceRouterWorkersUnhealthy", "25m",  # vl's worker recovered at 20m
               _labels("warning", namespace="inference", pod="sg-router-0",
                       inference_endpoint="sg")),
    ]),
    ("every worker healthy, on two router replicas: no router alert; vllm-router's stale "
     "series of a removed worker does not count", [
        _series("vllm_router_worker_health", f'{VL_ROUTER}, worker="http://10.0.0.1:8000"',
                "1x20"),
        _series("vllm_router_worker_health", f'{VL_ROUTER}, worker="http://10.0.0.9:8000"',
                "0x20"),  # removed from the router: only the gauge's last value is left
        _series("vllm_router_active_workers", VL_ROUTER, "1x20"),
        _series("smg_worker_health", f'{SG_ROUTER}, worker="http://10.0.1.1:30000"', "1x20"),
        _series("smg_worker_health",
                f'{SG}, inference_component="router", pod="sg-router-1", '
                'worker="http://10.0.1.1:30000"', "1x20"),
    ], [
        _alert("InferenceRouterWorkersUnhealthy", "15m"),
    ]),
    ("metrics absent for the stale window (10m) after the last sample", [
        _series("vllm:num_requests_waiting", f'{VL}, pod="vl-0", engine="0"', "0 0 0 0"),
        _series("sglang:num_queue_reqs", f'{SG}, pod="sg-0", tp_rank="0"', "0x30"),
    ], [
        _alert("InferenceMetricsAbsent", "12m"),
        _alert("InferenceMetricsAbsent", "15m", _labels(
            "critical", namespace="inference", inference_endpoint="vl")),
    ]),
    ("queue growing for 15m fires; a long but flat queue does not", [
        _series("vllm:num_requests_waiting", f'{VL}, pod="vl-0", engine="0"',
                "0x10 1+1x40"),
        _series("vllm:num_requests_waiting", f'{VL}, pod="vl-1", engine="0"', "5x50"),
    ], [
        _alert("InferenceQueueGrowing", "20m"),  # queue empty 10 minutes ago
        _alert("InferenceQueueGrowing", "28m"),  # non-empty 15m and growing, not yet 5m
        _alert("InferenceQueueGrowing", "35m", _labels(
            "warning", namespace="inference", pod="vl-0", inference_endpoint="vl")),
    ]),
    ("KV cache above 90% for 10m; SGLang's ranks aggregate with max by pod", [
        _series("vllm:kv_cache_usage_perc", f'{VL}, pod="vl-0", engine="0"', "0.95x20"),
        _series("vllm:kv_cache_usage_perc", f'{VL}, pod="vl-1", engine="0"', "0.85x20"),
        _series("sglang:token_usage", f'{SG}, pod="sg-0", tp_rank="0"', "0.5x20"),
        _series("sglang:token_usage", f'{SG}, pod="sg-0", tp_rank="1"', "0.97x20"),
    ], [
        _alert("InferenceKVCacheHigh", "9m"),
        _alert("InferenceKVCacheHigh", "12m",
               _labels("warning", namespace="inference", pod="vl-0", inference_endpoint="vl"),
               _labels("warning", namespace="inference", pod="sg-0", inference_endpoint="sg")),
    ]),
    ("preemptions (vLLM) and retractions (SGLang) alert, then clear", [
        _series("vllm:num_preemptions_total", f'{VL}, pod="vl-0", engine="0"',
                "0 0 0 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2"),
        _series("vllm:num_preemptions_total", f'{VL}, pod="vl-1", engine="0"', "0x23"),
        _series("sglang:num_retracted_requests_total", f'{SG}, pod="sg-0", tp_rank="0"',
                "0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ], [
        _alert("InferencePreemptions", "2m"),
        _alert("InferencePreemptions", "6m",
               _labels("warning", namespace="inference", pod="vl-0", inference_endpoint="vl"),
               _labels("warning", namespace="inference", pod="sg-0", inference_endpoint="sg")),
        _alert("InferencePreemptions", "23m"),
    ]),
    ("P95 TTFT above the 500 ms SLO for 10m", [
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="0.1"', "0x30"),
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="0.5"', "0x30"),
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="1"',
                "0+10x30"),
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="+Inf"',
                "0+10x30"),
    ], [
        _alert("InferenceTTFTAboveSLO", "5m"),  # above SLO, not yet for 10m
        _alert("InferenceTTFTAboveSLO", "20m", _labels("warning", inference_endpoint="vl")),
    ]),
    ("P95 TTFT within the SLO does not fire", [
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="0.1"',
                "0+10x30"),
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="0.5"',
                "0+10x30"),
        _series("vllm:time_to_first_token_seconds_bucket", f'{VL}, pod="vl-0", le="+Inf"',
                "0+10x30"),
    ], [
        _alert("InferenceTTFTAboveSLO", "20m"),
    ]),
    ("GPU XID error fires while in the 5m window; a healthy GPU does not", [
        _series("DCGM_FI_DEV_XID_ERRORS", 'gpu="0", Hostname="node-1", pod="vl-0"',
                "0 0 0 79 79 0 0 0 0 0 0 0 0 0 0"),
        _series("DCGM_FI_DEV_XID_ERRORS", 'gpu="1", Hostname="node-1", pod="vl-1"', "0x15"),
    ], [
        _alert("GPUXidError", "2m"),
        _alert("GPUXidError", "5m", _labels("critical", gpu="0", Hostname="node-1", pod="vl-0")),
        _alert("GPUXidError", "12m"),
    ]),
    ("Watchdog always fires", [], [
        _alert("Watchdog", "1m", _labels("none")),
    ]),
]


def test_promtool_test_rules_each_alert_fires_when_it_should(
    promtool: str, tmp_path: Path
) -> None:
    _write_rules(tmp_path / "rules.yml", annotations=False)
    tests = []
    for name, series, alerts in CASES:
        tests.append({"name": name, "interval": "1m", "input_series": series,
                      "alert_rule_test": alerts})
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": ["rules.yml"],
                                         "evaluation_interval": "1m", "tests": tests},
                                        sort_keys=False))
    result = _run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("name", ["InferenceKVCacheHigh", "InferenceQueueGrowing"])
def test_sglang_gauges_aggregate_ranks_with_max_by_pod(name: str) -> None:
    rules = {r["alert"]: r for g in _groups() if g["name"] == "inference-stacks.sg"
             for r in g["rules"]}
    assert "max by (namespace, pod) (sglang:" in rules[name]["expr"]


def test_vllm_gauges_sum_data_parallel_engines() -> None:
    rules = {r["alert"]: r for g in _groups() if g["name"] == "inference-stacks.vl"
             for r in g["rules"]}
    assert "sum by (namespace, pod) (vllm:kv_cache_usage_perc" in rules["InferenceKVCacheHigh"][
        "expr"]
