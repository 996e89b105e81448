"""Free-text values that end up in argv, env, URLs or object names have a precise format.

Each bad value is one that used to pass validation and render a broken command, object or URL;
the message names what is allowed. Good values next to them keep the formats from creeping.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import config_problems, k8s_config

AT = "inference-stacks:endpoints[0]"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


def _with_path(path: str, value: Any) -> dict[str, Any]:
    """k8s_config with `value` at the dotted `path` under the endpoint."""
    endpoint: dict[str, Any] = {}
    node = endpoint
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    if "source" in endpoint and "type" not in endpoint["source"]:
        endpoint["source"] = {"type": "s3", "bucket": "models", **endpoint["source"]}
    return k8s_config(**endpoint)


# (path under the endpoint, bad value, words of the message, a good value)
CASES: list[tuple[str, Any, str, Any]] = [
    ("model", "Qwen/Qwen3 0.6B", "model id such as Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B"),
    ("model", "--trust-remote-code", "model id", "gpt2"),
    ("model", "a/b/c", "one or two '/'-separated parts", "org.name/model_v1.5"),
    ("served_model_name", "my model", "letters, digits", "Qwen3-0.6B"),
    ("served_model_name", "-x", "letters, digits", "team/qwen:latest"),
    ("image", "vllm/vllm-openai:v0.32.0 --privileged", "image reference",
     "registry.local:5000/vllm/vllm-openai:v0.32.0"),
    ("image", "VLLM/vllm-openai:v1", "lower-case repository path", "vllm/vllm-openai:v0.32.0"),
    ("engine_args.chat_template", "templates/chat.jinja", "absolute path",
     "/opt/templates/chat.jinja"),
    ("engine_args.chat_template", "/opt/../etc/passwd", "no spaces, '..'", "/t.jinja"),
    ("engine_args.tool_call_parser", "Hermes --x", "parser name such as hermes", "qwen25"),
    ("engine_args.extra_args", ["--max-loras 4"], "one item per flag and value",
     ["--max-loras", "4"]),
    ("engine_args.extra_args", ["4", "--max-loras"], "must be a flag", ["--max-loras=4"]),
    ("engine_args.extra_args", [" --enforce-eager"], "leading/trailing whitespace",
     ["--trust-remote-code"]),
    ("engine_args.extra_args", ["--x", "$(VLLM_API_KEY)"], "expands $(VAR)", ["--x", "$$(y)"]),
    ("engine_args.extra_args", ["--max_model_len=4096"], "mapped setting", ["--seed", "-1"]),
    ("engine_args.extra_args", ["--max-model", "4096"], "abbreviates", ["-O3"]),
    ("engine_args.extra_args", ["-tp", "2"], "mapped setting", ["--max-num-batched-tokens=8"]),
    ("env", {"MY VAR": "1"}, "env names must be letters, digits and '_'", {"MY_VAR": "1"}),
    ("env", {"VLLM_API_KEY": ""}, "set by the program", {"VLLM_LOGGING_LEVEL": "DEBUG"}),
    ("env", {"HF_TOKEN": "hf_x"}, "set by the program", {"NCCL_DEBUG": "INFO"}),
    ("source.bucket", "My_Bucket", "S3 bucket name", "my.models-1"),
    ("source.bucket", "192.168.1.10", "not an IP address", "abc"),
    ("source.prefix", "models/qwen 3/", "S3 key prefix", "models/qwen3-0.6b/"),
    ("source.prefix", "models/../x", "'..'", "/models/x"),
    ("source.region", "US-EAST-1", "AWS region such as us-east-1", "eu-west-1"),
    ("source.endpoint_url", "https://minio:9000 --no-verify-ssl", "http(s) URL",
     "http://10.0.0.5:9000"),
    ("source.endpoint_url", "minio.local:9000", "http(s) URL", "https://minio.local/s3"),
    ("source.endpoint_url", "https://minio:99999", "http(s) URL", "https://minio"),
    ("source.credentials_secret", "S3_Creds", "Kubernetes object name", "s3-creds"),
    ("cache.host_path", "relative/dir", "absolute path", "/mnt/models"),
    ("cache.claim_name", "Models PVC", "Kubernetes object name", "models-pvc"),
    ("resources.cpu", "2 cores", "CPU quantity", "500m"),
    ("resources.memory", "0", "positive Kubernetes quantity", "24Gi"),
    ("exposure.hostname", "https://llm.example.com", "DNS name", "llm.example.com"),
    ("exposure.hostname", "*.example.com", "no scheme, port, path or wildcard", "a.b.c"),
    ("exposure.certificate_arn", "arn:aws:acm:x", "ACM certificate ARN", CERT),
    ("exposure.group_name", "Shared ALB", "IngressGroup name", "shared.alb"),
]


@pytest.mark.parametrize(("path", "bad", "words", "good"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_badly_formatted_value_is_refused_with_what_is_allowed(
        path: str, bad: Any, words: str, good: Any) -> None:
    problems = config_problems(_with_path(path, bad))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{AT}.{path}:"), problems
    assert words in problems[0], problems
    assert config_problems(_with_path(path, good)) == []


def test_a_revision_is_a_git_ref() -> None:
    source = {"type": "huggingface", "revision": "main branch"}
    problems = config_problems(k8s_config(source=source))
    assert problems == [f"{AT}.source.revision: must be a branch, tag or commit such as main, v1.0 "
                        "or a 40-character SHA (letters, digits, '.', '_', '-', '/'; no spaces or "
                        "'..') (got 'main branch')"]
    assert config_problems(k8s_config(source={"type": "huggingface", "revision": "v2.0"})) == []


def test_the_hf_token_is_one_token_and_is_never_echoed() -> None:
    problems = config_problems({**k8s_config(), "hf_token": "hf_abc\n"})
    assert problems == ["inference-stacks:hf_token: must be one token without spaces or line "
                        "breaks (a trailing newline from a file?)"]


@pytest.mark.parametrize(("section", "settings", "path", "words"), [
    ("kubernetes", {"gpu_node_selector": {"gpu type": "a10g"}}, "gpu_node_selector",
     "not a label key"),
    ("kubernetes", {"gpu_node_selector": {"pool": "a10g gpus"}}, "gpu_node_selector",
     "not a label value"),
    ("kubernetes", {"runtime_class": "NVIDIA"}, "runtime_class", "Kubernetes object name"),
    ("kubernetes", {"aws_region": "useast1"}, "aws_region", "AWS region"),
])
def test_platform_settings_formats(section: str, settings: dict, path: str, words: str) -> None:
    config = {**k8s_config(), section: settings}
    problems = config_problems(config)
    assert len(problems) == 1 and problems[0].startswith(f"inference-stacks:{section}.{path}:")
    assert words in problems[0], problems
