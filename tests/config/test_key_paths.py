"""Every problem names a key path of the user's file: no union tags, no validator wrappers."""

from __future__ import annotations

import pytest

from tests.helpers import config_problems, k8s_config

AT = "inference-stacks:endpoints[0]"


def _one(config: dict) -> str:
    problems = config_problems(config)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize(("source", "path"), [
    ({"type": "s3", "bucket": 5}, "source.bucket"),
    ({"type": "s3", "bucket": "models", "buckit": "x"}, "source.buckit"),
    ({"type": "huggingface", "revision": ["main"]}, "source.revision"),
    ({"type": "fsx", "file_system_id": "nope"}, "source.file_system_id"),
    # A key spelled like the tag is still the user's key.
    ({"type": "s3", "bucket": "models", "s3": {"bucket": "x"}}, "source.s3"),
])
def test_tagged_union_errors_carry_no_tag(source: dict, path: str) -> None:
    problem = _one(k8s_config(source=source))
    assert problem.startswith(f"{AT}.{path}:"), problem


def test_an_unknown_source_type_is_reported_at_type_with_the_allowed_values() -> None:
    problem = _one(k8s_config(source={"type": "gcs"}))
    assert problem == (f"{AT}.source.type: got 'gcs'; allowed: 'huggingface', 's3', 'fsx'")
    problem = _one(k8s_config(source={"bucket": "models"}))
    assert problem == f"{AT}.source.type: missing; allowed: 'huggingface', 's3', 'fsx'"


def test_an_unknown_key_in_a_tagged_union_lists_that_member_s_keys() -> None:
    problem = _one(k8s_config(source={"type": "s3", "bucket": "models", "prefx": "a/"}))
    assert "allowed keys:" in problem and "prefix" in problem


def test_a_secret_value_is_never_echoed() -> None:
    problems = config_problems({**k8s_config(), "hf_token": {"token": "hf_very_secret"}})
    assert problems and all("hf_very_secret" not in p for p in problems), problems
    assert problems[0].startswith("inference-stacks:hf_token:")


def test_a_batch_job_bound_the_endpoint_has_is_a_problem_not_a_traceback() -> None:
    job = {"name": "nightly", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
           "gpu": {"instance_type": "g5.xlarge"},
           "input": {"url": "https://example.invalid/batch.jsonl"},
           "output": {"pvc": "results"}, "completions": 100, "parallelism": 100}
    problem = _one({**k8s_config(), "batch_jobs": [job]})
    assert problem == ("inference-stacks:batch_jobs[0].parallelism: Input should be less than "
                       "or equal to 64 (got 100)")
