"""The KEDA trigger the stack renders for an autoscaled endpoint, for the live autoscaling tests.

Planned through the public path (stack config -> the program under Pulumi's mocks -> the
ScaledObject manifest), so the tests run exactly the query and activation the stack deploys.
The endpoint serves the local engine's model name in namespace `inference`; the local
Prometheus labels the engine's series the way the PodMonitor does in that namespace.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from components.autoscaling import AutoscalingSpec
from tests.helpers import k8s_config, manifest, plan_config

NAMESPACE = "inference"
ENDPOINT = "qwen3-0-6b"
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
MAX = 2  # one local engine: the stand-in autoscaler only ever goes between 1 and 2


@functools.cache
def scaled_object(engine: str, served_model_name: str) -> dict[str, Any]:
    config = k8s_config(engine=engine, served_model_name=served_model_name,
                        autoscaling={"prometheus_server_address": PROMETHEUS, "max": MAX})
    return manifest(plan_config(config), "ScaledObject", ENDPOINT)


def trigger(engine: str, served_model_name: str) -> dict[str, str]:
    """The Prometheus trigger's metadata: `query`, `threshold`, `activationThreshold`."""
    triggers = scaled_object(engine, served_model_name)["spec"]["triggers"]
    assert len(triggers) == 1 and triggers[0]["type"] == "prometheus", triggers
    return dict(triggers[0]["metadata"])


def policy(engine: str, served_model_name: str) -> AutoscalingSpec:
    """The rendered object's policy, for the pure KEDA/HPA model (no windows: one poll)."""
    spec = scaled_object(engine, served_model_name)["spec"]
    meta = trigger(engine, served_model_name)
    return AutoscalingSpec(
        min_replicas=spec["minReplicaCount"], max_replicas=spec["maxReplicaCount"],
        queue_per_replica=float(meta["threshold"]),
        activation=float(meta["activationThreshold"]), scale_up_window_s=0,
        scale_down_window_s=0, polling_interval_s=spec["pollingInterval"])


def capacity(engine: Any, output_tokens: int, tmp_path: Path) -> float:
    """Requests/s the engine serves at full batch right now (`smoke bench`, closed loop at
    --max-num-seqs 2): the live tests size their load on it, so a queue forms on a quiet host
    and still drains in time on a busy one."""
    report = tmp_path / "capacity.json"
    subprocess.run(
        [sys.executable, "-m", "smoke", "bench", "--outputs", str(engine.outputs_path),
         "--concurrency", "2", "--num-requests", "8", "--warmup", "2", "--input-tokens", "32",
         "--output-tokens", str(output_tokens), "--no-progress", "--no-records",
         "--slo", "ttft_p95_ms=none", "--report", str(report)],
        capture_output=True, text=True, timeout=300, check=True)
    summary = json.loads(report.read_text())["endpoints"][0]["load_points"][0]["summary"]
    return float(summary["request_throughput"])
