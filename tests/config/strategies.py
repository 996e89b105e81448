"""Hypothesis strategies over the stack config model: valid and invalid values for every field.

Values are derived from the pydantic models themselves (every field of every model, so a new
field is covered without touching this file): each field draws either a plausible value of its
type (including the formats other fields use, so a hostname lands in a path and a path in a
bucket), a boundary number, or junk (a wrong type, an unknown key). Configs start from a valid
stack and override a few fields, so a good share of them plan and the rest fail in one place.
"""

from __future__ import annotations

import copy
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel

from infra.config.batch import BatchJobConfig
from infra.config.endpoint import EndpointConfig
from infra.config.stack import section_of, settings_model

# Strings the fields of this config take, in each other's places too.
TEXTS = [
    "", " ", "a", "x" * 70, "Qwen/Qwen3-0.6B", "Qwen/Qwen3 0.6B", "a/b/c", "gpt2", "Upper",
    "--trust-remote-code", "-x", "$(VLLM_API_KEY)", "/opt/chat.jinja", "rel/path", "/a/../b",
    "hermes", "qwen25", "main", "v1.0", "a" * 40, "my-bucket", "My_Bucket", "10.0.0.1",
    "models/qwen3/", "models//x", "us-east-1", "US-EAST-1", "https://minio.local:9000",
    "http://minio:9000 x", "minio:9000", "redis://cache:6379", "llm.example.com",
    "*.example.com", "arn:aws:acm:us-east-1:123456789012:certificate/0a1b", "arn:aws:acm:x",
    "vllm/vllm-openai:v0.32.0", "vllm/vllm-openai:latest", "VLLM/x:1", "g5.xlarge", "T4", "L4",
    "A10G", "a10g", "ml.g5.8xlarge", "50Gi", "500m", "0", "2 cores", "inference", "default",
    "kube-system", "qwen3-0-6b", "qwen3-0-6b-router", "qwen3-0-6b-api-key", "x\ny", "ümlaut",
    "a b", "1.33", "prefixaware", "round_robin",
]
JUNK: list[Any] = [None, 0, -1, 1.5, True, [], {}, ["a"], {"k": "v"}, "junk"]
UNKNOWN_KEYS = ["bogus", "max_model_length", "s3", "Name", "type "]
INTS = [-1, 0, 1, 2, 4, 5, 8, 9, 10, 59, 60, 255, 256, 299, 300, 1024, 4096, 8000, 12288,
        29000, 65535, 65536, 131072, 10**9]


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def value_of(annotation: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A valid-looking value of `annotation`, a boundary, or junk."""
    annotation = _unwrap(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    junk = st.sampled_from(JUNK)
    if origin in (Union, types.UnionType):
        return st.one_of(*(value_of(a, depth) for a in args if a is not type(None)),
                         st.none())
    if origin is Literal:
        return st.one_of(st.sampled_from(args), st.sampled_from(args),
                         st.sampled_from(TEXTS), junk)
    if annotation is bool:
        return st.one_of(st.booleans(), st.booleans(), junk)
    if annotation is int:
        return st.one_of(st.sampled_from(INTS), st.integers(-10, 70000), junk)
    if annotation is float:
        return st.one_of(st.sampled_from([0.0, 0.1, 0.11, 0.5, 0.9, 0.98, 0.99, 1.0, 5.0]),
                         st.floats(-1, 2, allow_nan=False), junk)
    if annotation is str:
        return st.one_of(st.sampled_from(TEXTS), st.sampled_from(TEXTS),
                         st.text(max_size=12), junk)
    if origin is list:
        item = value_of(args[0], depth + 1) if args else st.sampled_from(TEXTS)
        return st.one_of(st.lists(item, max_size=3), junk)
    if origin is dict:
        value = value_of(args[1], depth + 1) if len(args) == 2 else st.sampled_from(TEXTS)
        return st.one_of(st.just({}), st.dictionaries(st.sampled_from(TEXTS + UNKNOWN_KEYS),
                                                      value, max_size=3), junk)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = model_dict(annotation, depth + 1)
        return st.one_of(nested, nested, nested, junk) if depth < 4 else junk
    return junk


@st.composite
def model_dict(draw: st.DrawFn, model: type[BaseModel], depth: int = 0) -> dict[str, Any]:
    """A dict for `model`: its required fields, a few optional ones, maybe an unknown key."""
    fields = model.model_fields
    out: dict[str, Any] = {}
    optional = sorted(name for name, f in fields.items() if not f.is_required())
    chosen = draw(st.lists(st.sampled_from(optional), max_size=2, unique=True)) \
        if optional else []
    for name in sorted(n for n, f in fields.items() if f.is_required()) + chosen:
        field = fields[name]
        literal = _literal(field.annotation)
        if name == "type" and literal is not None:
            out[name] = draw(st.sampled_from(literal))  # a member's tag (mostly valid)
        elif field.discriminator is not None:
            member = draw(st.sampled_from(_members(field.annotation)))
            out[name] = draw(model_dict(member, depth + 1))
        else:
            out[name] = draw(value_of(field.annotation, depth))
    if draw(st.integers(0, 24)) == 0:
        out[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(st.sampled_from(JUNK))
    return out


def _literal(annotation: Any) -> tuple[Any, ...] | None:
    return get_args(annotation) if get_origin(annotation) is Literal else None


def _members(annotation: Any) -> list[type[BaseModel]]:
    return [a for a in get_args(_unwrap(annotation))
            if isinstance(a, type) and issubclass(a, BaseModel)]


BASE_ENDPOINT: dict[str, Any] = {"name": "qwen3-0-6b", "engine": "vllm",
                                 "model": "Qwen/Qwen3-0.6B",
                                 "gpu": {"instance_type": "g5.xlarge"}}
BASES: dict[str, dict[str, Any]] = {
    "kubernetes": {"platform": "kubernetes", "kubernetes": {"kubernetes_version": "1.33"}},
    "eks": {"platform": "eks", "eks": {
        "region": "us-east-1", "vpc": {"availability_zone_names": ["us-east-1a", "us-east-1b"]},
        "gpu_pools": [{"name": "a10g", "instance_types": ["g5.xlarge"]}]}},
    "k3s-workload": {"platform": "k3s-workload", "k3s_workload": {}},
    "hyperpod": {"platform": "hyperpod", "hyperpod": {
        "region": "us-east-1", "availability_zone_names": ["us-east-1a", "us-east-1b"],
        "instance_groups": [
            {"name": "system", "role": "system", "instance_type": "ml.c5.4xlarge"},
            {"name": "gpu", "role": "gpu", "instance_type": "ml.g5.8xlarge"}]}},
}
PLATFORM_GPU = {"kubernetes": {"instance_type": "g5.xlarge"}, "eks": {"pool": "a10g"},
                "k3s-workload": {"type": "L4"}, "hyperpod": {"instance_type": "ml.g5.8xlarge"}}


@st.composite
def endpoint_dict(draw: st.DrawFn, platform: str, index: int) -> dict[str, Any]:
    """A valid endpoint with 0-3 fields replaced by generated values (valid or not)."""
    endpoint: dict[str, Any] = {**copy.deepcopy(BASE_ENDPOINT), "gpu": PLATFORM_GPU[platform]}
    if index:
        endpoint["name"] = f"{endpoint['name']}-{index}"
    fields = sorted(EndpointConfig.model_fields)
    count = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))
    for name in draw(st.lists(st.sampled_from(fields), min_size=count, max_size=count,
                              unique=True)):
        field = EndpointConfig.model_fields[name]
        if field.discriminator is not None:
            member = draw(st.sampled_from(_members(field.annotation)))
            endpoint[name] = draw(st.one_of(model_dict(member), st.sampled_from(JUNK)))
        else:
            endpoint[name] = draw(value_of(field.annotation))
    if draw(st.integers(0, 14)) == 0:
        endpoint[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(st.sampled_from(JUNK))
    return endpoint


BASE_JOB: dict[str, Any] = {"name": "nightly", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                            "input": {"url": "https://example.invalid/batch.jsonl"},
                            "output": {"pvc": "results"}}


@st.composite
def batch_job_dict(draw: st.DrawFn, platform: str) -> dict[str, Any]:
    """A valid batch job with 0-2 fields replaced by generated values (valid or not)."""
    job: dict[str, Any] = {**copy.deepcopy(BASE_JOB), "gpu": PLATFORM_GPU[platform]}
    fields = sorted(BatchJobConfig.model_fields)
    count = draw(st.sampled_from([0, 1, 1, 2]))
    for name in draw(st.lists(st.sampled_from(fields), min_size=count, max_size=count,
                              unique=True)):
        field = BatchJobConfig.model_fields[name]
        if field.discriminator is not None:
            member = draw(st.sampled_from(_members(field.annotation)))
            job[name] = draw(st.one_of(model_dict(member), st.sampled_from(JUNK)))
        else:
            job[name] = draw(value_of(field.annotation))
    return job


@st.composite
def stack_config(draw: st.DrawFn) -> dict[str, Any]:
    """A stack config (keys without the `inference-stacks:` prefix), valid or not."""
    platform = draw(st.sampled_from(["kubernetes", "kubernetes", "kubernetes", "k3s-workload",
                                     "eks", "hyperpod"]))
    config = copy.deepcopy(BASES[platform])
    section = section_of(platform)
    if draw(st.integers(0, 5)) == 0:  # the platform section, valid or not
        settings = settings_model(platform)
        config[section] = {**config[section], **draw(model_dict(settings))}
    count = draw(st.sampled_from([0, 1, 1, 1, 2, 2]))
    config["endpoints"] = [draw(endpoint_dict(platform, i)) for i in range(count)]
    if count == 2 and draw(st.booleans()):  # same identity, maybe in another namespace
        config["endpoints"][1]["name"] = draw(st.sampled_from(
            [config["endpoints"][0].get("name"), f"{config['endpoints'][0].get('name')}-router"]))
    if platform != "hyperpod" and draw(st.integers(0, 5)) == 0:
        config["batch_jobs"] = [draw(batch_job_dict(platform))]
    if draw(st.integers(0, 14)) == 0:
        config[draw(st.sampled_from(["slos", "hf_token", "bogus", "eks", "hyperpod"]))] = \
            draw(st.sampled_from([*JUNK, "hf_abc", {"ttft_p95_ms": 100}]))
    return config
