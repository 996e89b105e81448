"""`batch_jobs` through the public config path: the endpoint rules at the job's key path,
platform support, identities, and the plan's Job and outputs."""

from __future__ import annotations

import copy
from typing import Any

from tests.helpers import config_problems, k8s_config, plan_config

JOB: dict[str, Any] = {
    "name": "nightly", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
    "gpu": {"instance_type": "g5.xlarge"},
    "input": {"url": "https://example.invalid/batch.jsonl"},
    "output": {"pvc": "results"},
}


def with_job(**changes: Any) -> dict[str, Any]:
    config = k8s_config()
    config["batch_jobs"] = [{**copy.deepcopy(JOB), **changes}]
    return config


def test_a_valid_batch_job_plans_to_an_indexed_job_and_an_outputs_entry() -> None:
    result = plan_config(with_job(completions=3, parallelism=2))
    jobs = [o for o in result.manifests.values() if o["kind"] == "Job"]
    assert len(jobs) == 1 and jobs[0]["spec"]["completionMode"] == "Indexed"
    assert jobs[0]["spec"]["completions"] == 3 and jobs[0]["spec"]["parallelism"] == 2
    entry = result.outputs["batch_jobs"]["nightly"]
    assert entry["job"] == "nightly" and entry["namespace"] == "batch"
    assert entry["input"] == "https://example.invalid/batch.jsonl"


def test_endpoint_rules_apply_at_the_batch_jobs_key_path() -> None:
    problems = config_problems(with_job(gpu={"instance_type": "g5.xlarge", "count": 2}))
    assert any(p.startswith("inference-stacks:batch_jobs[0].gpu.count") for p in problems), \
        problems
    fit = config_problems(with_job(engine_args={"max_model_len": 131072},
                                   model="meta-llama/Llama-3.1-8B-Instruct"))
    assert any("batch_jobs[0].engine_args.max_model_len" in p and "R9" in p for p in fit), fit


def test_a_batch_job_cannot_share_an_endpoints_name_and_namespace() -> None:
    problems = config_problems(with_job(name="qwen3-0-6b", namespace="inference"))
    assert any("batch_jobs[0].name" in p and "also an endpoint" in p for p in problems), problems


def test_platforms_without_batch_jobs_reject_them() -> None:
    config = {"platform": "k3s-gcp", "k3s_gcp": {"project": "my-project-1"},
              "batch_jobs": [JOB]}
    problems = config_problems(config)
    assert any(p.startswith("inference-stacks:batch_jobs:") and "runs no batch jobs" in p
               for p in problems), problems
