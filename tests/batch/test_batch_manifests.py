"""Batch Job builders: strict Kubernetes 1.33 schema, the sidecar shape, reuse of the engine pod."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components import batch_manifests as bm
from components import engines, pod
from components.batch_feeder import EXIT_INVALID, EXIT_OK, cli
from components.spec import ModelSourceSpec
from tests.batch.fakes import chat_line, write_jsonl
from tests.contract.harness import validate_k8s_manifest
from tests.unit.test_builders import make_spec

K8S_VERSION = "1.33"


def make_batch(**changes: Any) -> bm.BatchJobSpec:
    endpoint = changes.pop("endpoint", make_spec(
        node_selector={"node.kubernetes.io/instance-type": "g6.xlarge"},
        tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
        runtime_class="nvidia"))
    base = bm.BatchJobSpec("nightly", endpoint, "s3://bucket/in.jsonl", "batch-results",
                           "runs/1")
    return dataclasses.replace(base, **changes)


def by_kind(spec: bm.BatchJobSpec) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in bm.objects(spec)}


def pod_of(spec: bm.BatchJobSpec) -> dict[str, Any]:
    return bm.job(spec)["spec"]["template"]["spec"]


VARIANTS = {
    "huggingface": {},
    "s3-weights": {"endpoint": make_spec(source=ModelSourceSpec(
        "s3", s3_bucket="weights", s3_prefix="qwen", s3_region="us-east-1"))},
    "sglang": {"endpoint": make_spec(engine="sglang", api_key_secret="nightly-key")},
    "pvc-input-own-claim": {"input": "pvc://inputs/batches/in.jsonl"},
    "pvc-input-output-claim": {"input": "pvc://batch-results/in.jsonl"},
    "sharded-created-claim": {"completions": 8, "parallelism": 4, "output_claim_size": "20Gi",
                              "output_storage_class": "efs", "max_failed_indexes": 2,
                              "deadline_seconds": 86400, "ttl_seconds": 3600,
                              "output_s3": "s3://results/nightly",
                              "service_account": "batch-s3"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_is_valid_kubernetes_1_33_strict(variant: str) -> None:
    objects = bm.objects(make_batch(**VARIANTS[variant]))
    assert [o["kind"] for o in objects][-1] == "Job"
    for obj in objects:
        validate_k8s_manifest(obj, K8S_VERSION)


def test_job_is_indexed_with_the_engine_as_native_sidecar() -> None:
    spec = make_batch(completions=4, parallelism=2, backoff_limit_per_index=3)
    body = bm.job(spec)["spec"]
    assert (body["completionMode"], body["completions"], body["parallelism"],
            body["backoffLimitPerIndex"]) == ("Indexed", 4, 2, 3)
    template = body["template"]["spec"]
    assert template["restartPolicy"] == "Never"
    assert [c["name"] for c in template["initContainers"]] == ["validate-input", "engine"]
    assert [c["name"] for c in template["containers"]] == ["feeder"]
    sidecar = template["initContainers"][-1]
    assert sidecar["restartPolicy"] == "Always"
    assert "startupProbe" not in sidecar and "livenessProbe" not in sidecar
    assert "restartPolicy" not in template["initContainers"][0]
    assert "activeDeadlineSeconds" not in body and "maxFailedIndexes" not in body


def test_engine_is_the_endpoints_engine_with_its_pinning() -> None:
    spec = make_batch()
    template = pod_of(spec)
    endpoint_pod = pod.pod_spec(spec.endpoint)
    sidecar = template["initContainers"][-1]
    assert sidecar["args"] == pod.engine_argv(spec.endpoint)
    assert sidecar["image"] == endpoint_pod["containers"][0]["image"]
    assert sidecar["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for key in ("nodeSelector", "tolerations", "runtimeClassName"):
        assert template[key] == endpoint_pod[key]


def test_s3_weights_download_runs_after_validation_and_before_the_engine() -> None:
    spec = make_batch(**VARIANTS["s3-weights"])
    names = [c["name"] for c in pod_of(spec)["initContainers"]]
    assert names == ["validate-input", "download-model", "engine"]


def test_failure_policy_ignores_disruptions_and_fails_the_index_on_bad_input() -> None:
    rules = bm.job(make_batch())["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [
        {"type": "DisruptionTarget", "status": "True"}]}
    fail_index = {r["onExitCodes"]["containerName"]: r["onExitCodes"]["values"]
                  for r in rules if r["action"] == "FailIndex"}
    assert fail_index == {"validate-input": [EXIT_INVALID], "feeder": [EXIT_INVALID]}


def test_deadline_ttl_failed_index_budget_and_service_account_are_rendered() -> None:
    body = bm.job(make_batch(**VARIANTS["sharded-created-claim"]))["spec"]
    assert (body["activeDeadlineSeconds"], body["ttlSecondsAfterFinished"],
            body["maxFailedIndexes"]) == (86400, 3600, 2)
    assert body["template"]["spec"]["serviceAccountName"] == "batch-s3"
    plain = bm.job(make_batch())["spec"]
    assert "ttlSecondsAfterFinished" not in plain
    assert "serviceAccountName" not in plain["template"]["spec"]


def _feeder_args(spec: bm.BatchJobSpec, container: str = "feeder") -> Any:
    template = pod_of(spec)
    (found,) = [c for c in template["containers"] + template["initContainers"]
                if c["name"] == container]
    return cli.build_parser().parse_args(found["args"])


@pytest.mark.parametrize(("location", "expected"), [
    ("s3://bucket/in.jsonl", "s3://bucket/in.jsonl"),
    ("pvc://inputs/batches/in.jsonl", "/batch/input/batches/in.jsonl"),
    ("pvc://batch-results/in.jsonl", "/batch/output/in.jsonl"),
])
def test_feeder_args_parse_with_the_feeders_own_parser(location: str, expected: str) -> None:
    spec = make_batch(input=location, completions=3, parallelism=3, concurrency=16,
                      output_s3="s3://results/x")
    args = _feeder_args(spec)
    assert args.input == expected
    assert str(args.output_dir) == "/batch/output/runs/1"
    assert (args.shard_count, args.concurrency, args.upload_s3) == (3, 16, "s3://results/x")
    assert args.engine_url == "http://127.0.0.1:8000" and args.served_model == "Qwen3-0.6B"
    assert args.metrics_port == 9400 and not args.validate_only
    check = _feeder_args(spec, "validate-input")
    assert check.validate_only and check.metrics_port == 0 and check.input == expected


def test_sglang_feeder_follows_the_engine_profile() -> None:
    spec = make_batch(endpoint=make_spec(engine="sglang", api_key_secret="k"))
    args = _feeder_args(spec)
    port = engines.ENGINE_PROFILES[("sglang", "upstream")].port
    assert args.engine_url == f"http://127.0.0.1:{port}" and port == 30000
    feeder = pod_of(spec)["containers"][0]
    assert {"name": "INFERENCE_API_KEY", "valueFrom": {"secretKeyRef": {
        "name": "k", "key": "api-key"}}} in feeder["env"]


def test_output_claim_is_read_write_many_only_for_parallel_shards() -> None:
    assert bm.output_claim(make_batch()) is None
    one = bm.output_claim(make_batch(output_claim_size="5Gi"))
    many = bm.output_claim(make_batch(**VARIANTS["sharded-created-claim"]))
    assert one is not None and many is not None
    assert one["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert many["spec"]["accessModes"] == ["ReadWriteMany"]
    assert many["spec"]["storageClassName"] == "efs"


@pytest.mark.parametrize(("changes", "message"), [
    ({"completions": 2, "parallelism": 3}, "parallelism"),
    ({"input": "/data/in.jsonl"}, "must be pvc://"),
    ({"input": "pvc://claim-only"}, "not pvc://CLAIM/PATH"),
    ({"output_s3": "https://x"}, "s3:// URI"),
    ({"max_failed_indexes": 5}, "max_failed_indexes"),
])
def test_impossible_specs_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bm.job(make_batch(**changes))


def test_locations_name_the_claim_path_and_status_files() -> None:
    spec = make_batch()
    assert spec.output_location == "pvc://batch-results/runs/1"
    assert spec.status_location == "pvc://batch-results/runs/1/shard-*/status.json"


def test_config_map_runs_as_the_batch_feeder_package(tmp_path: Path) -> None:
    """The ConfigMap mounted as /opt/batch/batch_feeder is a runnable package on its own."""
    data = bm.config_map(make_batch())["data"]
    assert {"__init__.py", "__main__.py", "cli.py"} <= set(data)
    assert len(json.dumps(data)) < 1_000_000  # ConfigMaps hold at most 1 MiB
    package = tmp_path / "opt" / "batch_feeder"
    package.mkdir(parents=True)
    for name, text in data.items():
        (package / name).write_text(text)
    good = write_jsonl(tmp_path / "good.jsonl", [chat_line("a"), chat_line("b")])
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat_line("a"), "{"])
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "opt")}
    codes = []
    for inp in (good, bad):
        proc = subprocess.run(
            [sys.executable, "-m", "batch_feeder", "--input", str(inp), "--output-dir",
             str(tmp_path / "out"), "--validate-only", "--metrics-port", "0"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
        codes.append(proc.returncode)
    assert codes == [EXIT_OK, EXIT_INVALID]
