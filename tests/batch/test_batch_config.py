"""The `batch_jobs` entry config model: strict, documented, and consistent with the builders."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from infra.config.batch import BatchInputConfig, BatchJobConfig, BatchOutputConfig

BASE: dict[str, Any] = {
    "name": "nightly", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
    "input": {"url": "s3://bucket/in.jsonl"}, "output": {"pvc": "results", "path": "runs/1"},
}


def entry(**changes: Any) -> BatchJobConfig:
    return BatchJobConfig.model_validate({**BASE, **changes})


def test_defaults_and_locations() -> None:
    config = entry()
    assert (config.completions, config.parallelism, config.concurrency,
            config.backoff_limit_per_index) == (1, 1, 8, 2)
    assert config.input.location == "s3://bucket/in.jsonl"
    pvc = entry(input={"pvc": "inputs", "path": "/b/in.jsonl"})
    assert pvc.input.location == "pvc://inputs/b/in.jsonl"


@pytest.mark.parametrize("changes", [
    {"input": {"url": "s3://b/x", "pvc": "p", "path": "x"}},
    {"input": {"pvc": "p"}},
    {"input": {"url": "ftp://x"}},
    {"parallelism": 3, "completions": 2},
    {"max_failed_indexes": 3, "completions": 2},
    {"parallelism": 2, "completions": 2, "output": {"pvc": "r", "size": "10Gi"}},
    {"output": {"pvc": "r", "s3_uri": "https://x"}},
    {"name": "Nightly_Run"},
    {"engine": "tgi"},
    {"concurrency": 0},
    {"typo_field": 1},
])
def test_invalid_entries_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        entry(**changes)


def test_parallel_shards_on_a_created_claim_with_a_class_are_fine() -> None:
    config = entry(parallelism=2, completions=4,
                   output={"pvc": "r", "size": "10Gi", "storage_class": "efs"})
    assert config.output.storage_class == "efs"


def test_models_are_frozen_and_every_field_is_described() -> None:
    models: list[type[BaseModel]] = [BatchJobConfig, BatchInputConfig, BatchOutputConfig]
    for model in models:
        assert model.model_config.get("extra") == "forbid" and model.model_config.get("frozen")
        undocumented = [n for n, f in model.model_fields.items() if not f.description]
        assert undocumented == [], model.__name__
