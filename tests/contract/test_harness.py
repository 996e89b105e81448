"""The harness itself: each checker accepts a known-good object and rejects a broken one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.contract.harness import (
    k8s_schema_version,
    parse_sglang_argv,
    parse_vllm_argv,
    validate_inference_endpoint_config,
    validate_k8s_manifest,
)

VLLM_GOOD = [
    "--model", "Qwen/Qwen3-0.6B",
    "--served-model-name", "Qwen3-0.6B",
    "--host", "0.0.0.0",
    "--port", "8000",
    "--max-model-len", "12288",
    "--tensor-parallel-size", "2",
    "--gpu-memory-utilization", "0.9",
    "--max-num-seqs", "256",
    "--enable-prefix-caching",
    "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
    "--enforce-eager",
    "--limit-mm-per-prompt", '{"image": 2}',
    "--dtype", "half",
    "--load-format", "runai_streamer",
    "--disable-custom-all-reduce",
    "--chat-template", "/templates/chat.jinja",
]

SGLANG_GOOD = [
    "--model-path", "Qwen/Qwen3-0.6B",
    "--served-model-name", "Qwen3-0.6B",
    "--host", "0.0.0.0",
    "--port", "30000",
    "--context-length", "12288",
    "--tp-size", "2",
    "--mem-fraction-static", "0.85",
    "--max-running-requests", "256",
    "--chat-template", "/templates/chat.jinja",
    "--tool-call-parser", "qwen25",
    "--enable-metrics",
    "--dtype", "half",
]


@pytest.mark.engines
class TestVllm:
    def test_known_good_argv(self) -> None:
        args = parse_vllm_argv(VLLM_GOOD)
        assert args.model == "Qwen/Qwen3-0.6B"
        assert args.served_model_name == ["Qwen3-0.6B"]
        assert (args.max_model_len, args.tensor_parallel_size) == (12288, 2)
        assert args.gpu_memory_utilization == 0.9 and args.max_num_seqs == 256
        assert args.enable_prefix_caching is True and args.enforce_eager is True
        assert args.limit_mm_per_prompt == {"image": 2}
        assert args.tool_call_parser == "hermes" and args.load_format == "runai_streamer"
        assert args.disable_custom_all_reduce is True

    def test_api_key_flag(self) -> None:
        assert parse_vllm_argv(["--model", "m", "--api-key", "s3cret"]).api_key == ["s3cret"]

    @pytest.mark.parametrize(
        ("argv", "needle"),
        [
            (["--model", "m", "--bogus-flag", "1"], "--bogus-flag"),
            (["--model", "m", "--max-model", "1024"], "--max-model"),  # abbreviation
            (["--model", "m", "--enable-prefix-caching", "true"], "'true'"),  # stray positional
            (["--model", "m", "--dtype", "bf16"], "--dtype"),
            (["--model", "m", "--tool-call-parser", "qwen25"], "qwen25"),  # SGLang's name
            (["--model", "m", "--load-format", "s3"], "--load-format"),
            (["--model", "m", "--limit-mm-per-prompt", "image=2"], "--limit-mm-per-prompt"),
            (["--model", "m", "--enable-auto-tool-choice"], "--tool-call-parser"),
            (["--model", "m", "--max-model-len", "lots"], "--max-model-len"),
        ],
    )
    def test_bad_argv_fails_with_the_flag_named(self, argv: list[str], needle: str) -> None:
        with pytest.raises(AssertionError, match="vLLM") as info:
            parse_vllm_argv(argv)
        assert needle in str(info.value)


@pytest.mark.engines
class TestSglang:
    def test_known_good_argv(self) -> None:
        args = parse_sglang_argv(SGLANG_GOOD)
        assert args.model_path == "Qwen/Qwen3-0.6B" and args.served_model_name == "Qwen3-0.6B"
        assert (args.context_length, args.tp_size, args.max_running_requests) == (12288, 2, 256)
        assert args.mem_fraction_static == 0.85 and args.enable_metrics is True
        assert args.tool_call_parser == "qwen25" and args.port == 30000

    @pytest.mark.parametrize(
        ("argv", "needle"),
        [
            (["--model-path", "m", "--bogus-flag"], "--bogus-flag"),
            (["--model-path", "m", "--max-model-len", "1024"], "--max-model-len"),  # vLLM's name
            (["--model-path", "m", "--tool-call-parser", "llama3_json"], "llama3_json"),
            (["--model-path", "m", "--tp_size", "2"], "--tp_size"),
            (["--model-path", "m", "--context", "2048"], "--context"),  # abbreviation
        ],
    )
    def test_bad_argv_fails_with_the_flag_named(self, argv: list[str], needle: str) -> None:
        with pytest.raises(AssertionError, match="SGLang") as info:
            parse_sglang_argv(argv)
        assert needle in str(info.value)


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "qwen3-0-6b", "namespace": "inference", "labels": {"app": "qwen3"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "qwen3"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "qwen3"}},
                "spec": {
                    "containers": [{
                        "name": "engine",
                        "image": "vllm/vllm-openai:v0.32.0",
                        "args": ["--model", "Qwen/Qwen3-0.6B"],
                        "ports": [{"containerPort": 8000, "name": "http"}],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "24Gi"}},
                        "startupProbe": {"httpGet": {"path": "/health", "port": "http"},
                                         "failureThreshold": 60, "periodSeconds": 10,
                                         "timeoutSeconds": 5},
                    }],
                    "volumes": [{"name": "shm",
                                 "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
                },
            },
        },
    }


class TestKubernetes:
    def test_schema_version_choice(self) -> None:
        assert k8s_schema_version("1.33") == "1.33.0"
        assert k8s_schema_version("v1.33.4") == "1.33.0"
        assert k8s_schema_version("1.99") == k8s_schema_version("1.99.0")  # newest shipped
        assert k8s_schema_version("1.2") == k8s_schema_version("1.0")  # oldest shipped
        with pytest.raises(ValueError):
            k8s_schema_version("latest")

    def test_valid_deployment_passes(self) -> None:
        validate_k8s_manifest(deployment(), "1.33")

    def test_unknown_field_fails_strictly(self) -> None:
        bad = deployment()
        bad["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["timeout"] = 5
        bad["spec"]["replicaz"] = 2
        with pytest.raises(AssertionError) as info:
            validate_k8s_manifest(bad, "1.33")
        message = str(info.value)  # all errors, not only the first
        assert "replicaz" in message and "timeout" in message and "1.33" in message

    def test_wrong_type_fails(self) -> None:
        bad = deployment()
        bad["spec"]["replicas"] = "one"
        with pytest.raises(AssertionError, match=r"spec\.replicas"):
            validate_k8s_manifest(bad, "1.33")

    @pytest.mark.parametrize(
        ("path", "value", "needle"),
        [
            (("metadata", "name"), "Qwen3-0.6B", "metadata.name"),  # R14: upper case
            (("metadata", "name"), "x" * 254, "metadata.name"),
            (("metadata", "namespace"), "Inference", "metadata.namespace"),
            (("metadata", "labels"), {"app": "a" * 64}, "metadata.labels"),
        ],
    )
    def test_api_server_name_rules(self, path: tuple[str, str], value: Any, needle: str) -> None:
        bad = deployment()
        bad[path[0]][path[1]] = value
        with pytest.raises(AssertionError, match=needle):
            validate_k8s_manifest(bad, "1.33")

    def test_service_names_are_rfc1035(self) -> None:
        svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "3-models"}, "spec": {"ports": [{"port": 80}]}}
        with pytest.raises(AssertionError, match="RFC 1035"):
            validate_k8s_manifest(svc, "1.33")
        svc["metadata"]["name"] = "models-3"
        validate_k8s_manifest(svc, "1.33")

    def test_bad_quantity_fails(self) -> None:
        bad = deployment()
        bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "24GB"
        with pytest.raises(AssertionError, match="24GB"):
            validate_k8s_manifest(bad, "1.33")

    def test_unknown_kind(self) -> None:
        pool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"}}
        with pytest.raises(AssertionError, match=r"no Kubernetes 1\.33\.0 schema"):
            validate_k8s_manifest(pool, "1.33")
        validate_k8s_manifest(pool, "1.33", allow_unknown_kinds=True)


def endpoint_config() -> dict[str, Any]:
    return {
        "apiVersion": "inference.sagemaker.aws.amazon.com/v1",
        "kind": "InferenceEndpointConfig",
        "metadata": {"name": "qwen3-4b", "namespace": "default"},
        "spec": {
            "modelName": "qwen3-4b",
            "endpointName": "qwen3-4b",
            "instanceType": "ml.g5.xlarge",
            "replicas": 1,
            "invocationEndpoint": "v1/chat/completions",
            "modelSourceConfig": {
                "modelSourceType": "s3",
                "s3Storage": {"bucketName": "weights", "region": "us-east-1"},
                "modelLocation": "Qwen3-4B-Instruct-2507",
                "prefetchEnabled": False,
            },
            "worker": {
                "image": "vllm/vllm-openai:v0.32.0",
                "args": ["--model", "/opt/ml/model", "--served-model-name", "Qwen3-4B"],
                "modelInvocationPort": {"containerPort": 8000, "name": "http"},
                "modelVolumeMount": {"name": "model-weights", "mountPath": "/opt/ml/model"},
                "resources": {"limits": {"nvidia.com/gpu": 1}, "requests": {"cpu": "3"}},
                "environmentVariables": [{"name": "VLLM_API_KEY", "value": "k"}],
            },
        },
    }


class TestInferenceEndpointConfig:
    def test_valid_passes(self) -> None:
        validate_inference_endpoint_config(endpoint_config())
        validate_k8s_manifest(endpoint_config(), "1.33")  # routed to the CRD schema

    def test_unknown_field_fails(self) -> None:
        bad = endpoint_config()
        bad["spec"]["worker"]["modelInvocationPort"]["hostPort"] = 8000
        bad["spec"]["scheme"] = "internet-facing"  # R12: the CRD has no scheme field
        with pytest.raises(AssertionError) as info:
            validate_inference_endpoint_config(bad)
        assert "hostPort" in str(info.value) and "scheme" in str(info.value)

    @pytest.mark.parametrize(
        ("mutate", "needle"),
        [
            (lambda o: o["spec"].pop("worker"), "worker"),
            (lambda o: o["spec"].update(instanceType="g5.xlarge"), "instanceType"),
            (lambda o: o["spec"]["modelSourceConfig"].update(modelSourceType="gcs"), "gcs"),
            (lambda o: o.update(apiVersion="inference.sagemaker.aws.amazon.com/v1alpha1"),
             "apiVersion"),
            (lambda o: o.update(kind="InferenceEndpoint"), "kind"),
            (lambda o: o["metadata"].update(name="Qwen3_4B"), "metadata.name"),
            (lambda o: o.update(metadata={}), "metadata.name"),
        ],
    )
    def test_invalid_fails(self, mutate: Any, needle: str) -> None:
        bad = copy.deepcopy(endpoint_config())
        mutate(bad)
        with pytest.raises(AssertionError, match="InferenceEndpointConfig") as info:
            validate_inference_endpoint_config(bad)
        assert needle in str(info.value)
