"""The InferenceEndpointConfig renderer: CRD-valid for every variant, and each field rule holds.

Pure builder tests (no Pulumi): every variant that should pass validates strictly against the
operator CRD's `v1` schema (unknown fields are errors), and each rule (R2, R5-R7, R10, R11, R13-R15)
has a test that fails when the rule is removed from `components/hyperpod_manifest.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components import hyperpod_manifest as hp
from components.engines import API_KEY_ENV, engine_profile
from components.platforms import hyperpod_routing as routing
from components.spec import ExposureSpec, ProbeSpec
from tests.contract.harness import (
    parse_sglang_argv,
    parse_vllm_argv,
    validate_inference_endpoint_config,
    validate_k8s_manifest,
)

AMP = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd-4567"
SETTINGS = {"max_model_len": 12288, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9,
            "max_num_seqs": 256}


def spec(**changes: Any) -> hp.HyperPodEndpointSpec:
    engine = changes.pop("engine", "vllm")
    profile = engine_profile(engine, changes.pop("profile", "upstream"))
    assert profile is not None
    base = hp.HyperPodEndpointSpec(
        name="qwen3-4b", namespace="inference", profile=profile, image=profile.image,
        model="Qwen/Qwen3-4B-Instruct-2507", served_model_name="Qwen3-4B-Instruct-2507",
        engine_settings=dict(SETTINGS),
        source=hp.HyperPodSource("s3", s3_bucket="models", s3_region="us-east-1",
                                 location="Qwen/Qwen3-4B-Instruct-2507"),
        instance_type="ml.g5.8xlarge", routing_strategy="prefixaware",
        kv_cache=hp.HyperPodKvCache() if engine == "vllm" else None)
    return dataclasses.replace(base, **changes)


def render(s: hp.HyperPodEndpointSpec) -> dict[str, Any]:
    return hp.inference_endpoint_config(s, "the-api-key", "s3://tls-bucket/certificates")


HF = hp.HyperPodSource("huggingface", hf_model_id="Qwen/Qwen3-4B-Instruct-2507",
                       hf_token_secret="qwen3-4b-hf-token", hf_commit="a" * 40)
FSX = hp.HyperPodSource("fsx", fsx_file_system_id="fs-0123456789abcdef0", fsx_mount_name="abc",
                        location="models/qwen3-4b")
VARIANTS: dict[str, hp.HyperPodEndpointSpec] = {
    "vllm-s3-routing-l1": spec(),
    "vllm-no-routing-no-cache": spec(routing_strategy=None, kv_cache=None),
    "vllm-l2-redis": spec(kv_cache=hp.HyperPodKvCache(True, "redis", "redis://cache:6379")),
    "vllm-l2-tieredstorage": spec(kv_cache=hp.HyperPodKvCache(True, "tieredstorage")),
    "vllm-hf-token-commit": spec(source=HF),
    "vllm-fsx-prefetch": spec(source=dataclasses.replace(FSX, prefetch=True), kv_cache=None),
    "vllm-autoscaling": spec(autoscaling=hp.HyperPodAutoscaling(
        1, 4, AMP, "sum(vllm:num_requests_waiting)", 5)),
    "vllm-tp2-kvaware": spec(gpu_count=2, routing_strategy="kvaware",
                             engine_settings={**SETTINGS, "tensor_parallel_size": 2}),
    "sglang-upstream": spec(engine="sglang", routing_strategy="roundrobin"),
    "sglang-dlc-hf": spec(engine="sglang", profile="sagemaker-dlc", source=HF,
                          routing_strategy=None),
    "no-api-key": spec(api_key=False, extra_env={"PYTHONHASHSEED": "123"}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_validates_strictly_against_the_crd_v1_schema(variant: str) -> None:
    validate_inference_endpoint_config(render(VARIANTS[variant]))


def test_the_strict_validation_rejects_an_unknown_field() -> None:
    obj = render(spec())
    obj["spec"]["worker"]["probes"]["readinessProbe"]["timeoutSecond"] = 5  # typo
    with pytest.raises(AssertionError, match="timeoutSecond"):
        validate_inference_endpoint_config(obj)


def test_probes_exist_with_timeouts_of_at_least_5s_on_the_engine_port() -> None:  # R1, R2, R6
    for variant in VARIANTS.values():
        probes = hp.worker_probes(variant)
        assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}
        for probe in probes.values():
            assert probe["timeoutSeconds"] >= 5
            assert probe["httpGet"] == {"path": "/health", "port": variant.port}
        assert probes["startupProbe"]["periodSeconds"] * probes["startupProbe"][
            "failureThreshold"] >= 1800


def test_a_probe_timeout_below_5s_is_refused() -> None:  # R2
    with pytest.raises(hp.HyperPodRenderError, match="R2"):
        hp.worker_probes(spec(probes=ProbeSpec(readiness_timeout_seconds=1)))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_args_always_carry_the_served_model_name(variant: str) -> None:  # R5
    args = render(VARIANTS[variant])["spec"]["worker"]["args"]
    assert args[args.index("--served-model-name") + 1] == "Qwen3-4B-Instruct-2507"


@pytest.mark.parametrize("profile", ["upstream", "sagemaker-dlc"])
def test_one_port_for_invocation_probes_metrics_and_args(profile: str) -> None:  # R6
    s = spec(engine="sglang", profile=profile)
    body = render(s)["spec"]
    port = {"upstream": 30000, "sagemaker-dlc": 8080}[profile]
    assert body["worker"]["modelInvocationPort"]["containerPort"] == port
    assert body["metrics"]["modelMetrics"]["port"] == port
    assert body["worker"]["args"][body["worker"]["args"].index("--port") + 1] == str(port)
    assert {p["httpGet"]["port"] for p in body["worker"]["probes"].values()} == {port}


@pytest.mark.engines
def test_sglang_always_enables_metrics_and_its_parser_accepts_the_args() -> None:  # R7
    args = render(spec(engine="sglang"))["spec"]["worker"]["args"]
    assert "--enable-metrics" in args
    parsed = parse_sglang_argv(args)
    assert parsed.enable_metrics is True


def test_kv_cache_with_sglang_is_refused() -> None:  # R10
    with pytest.raises(hp.HyperPodRenderError, match="only be configured for vLLM"):
        render(spec(engine="sglang", kv_cache=hp.HyperPodKvCache()))


def test_kv_cache_turns_prefetch_off_and_refuses_prefix_caching() -> None:  # R11
    with_kv = spec(source=dataclasses.replace(FSX, prefetch=True))
    assert render(with_kv)["spec"]["modelSourceConfig"]["prefetchEnabled"] is False
    without_kv = dataclasses.replace(with_kv, kv_cache=None)
    assert render(without_kv)["spec"]["modelSourceConfig"]["prefetchEnabled"] is True
    assert "--enable-prefix-caching" not in render(spec())["spec"]["worker"]["args"]
    clash = spec(engine_settings={**SETTINGS, "enable_prefix_caching": True})
    with pytest.raises(hp.HyperPodRenderError, match="R11"):
        render(clash)


def test_kv_cache_spec_only_lists_l2_when_asked() -> None:
    assert render(spec())["spec"]["kvCacheSpec"] == {"enableL1Cache": True,
                                                     "enableL2Cache": False}
    l2 = render(VARIANTS["vllm-l2-redis"])["spec"]["kvCacheSpec"]
    assert l2["l2CacheSpec"] == {"l2CacheBackend": "redis",
                                 "l2CacheLocalUrl": "redis://cache:6379"}
    assert "kvCacheSpec" not in render(VARIANTS["vllm-no-routing-no-cache"])["spec"]


def test_names_are_lower_cased_and_kept_within_the_operator_budget() -> None:  # R13, R14
    assert hp.hyperpod_name("Qwen3-4B-Instruct") == "qwen3-4b-instruct"
    body = render(spec(name="Qwen3-4B"))
    assert body["metadata"]["name"] == body["spec"]["modelName"] == "qwen3-4b"
    assert body["spec"]["endpointName"] == "qwen3-4b"
    assert hp.hyperpod_name("a" * 50) == "a" * 50
    with pytest.raises(hp.HyperPodRenderError, match="budget is 50"):
        hp.hyperpod_name("Qwen3-" + "X" * 54)  # 60 characters, mixed case
    assert len("prefetch-" + "a" * 50 + "-inf") == 63


def test_the_api_key_is_a_plain_env_value_the_operator_can_copy_to_its_router() -> None:  # R15
    env = render(spec())["spec"]["worker"]["environmentVariables"]
    by_name = {e["name"]: e for e in env}
    for name in (API_KEY_ENV, "VLLM_API_KEY"):
        assert by_name[name] == {"name": name, "value": "the-api-key"}
    assert all("valueFrom" not in e for e in env)
    sglang = render(spec(engine="sglang"))["spec"]["worker"]
    assert {e["name"] for e in sglang["environmentVariables"]} == {API_KEY_ENV}
    assert f"$({API_KEY_ENV})" in sglang["args"]
    assert render(spec(api_key=False))["spec"]["worker"]["environmentVariables"] == []


def test_routing_and_env_changes_are_replacements() -> None:
    assert "spec.intelligentRoutingSpec" in hp.IMMUTABLE_PATHS
    assert "spec.worker.environmentVariables" in hp.IMMUTABLE_PATHS
    body = render(spec(routing_strategy="session"))["spec"]
    assert body["intelligentRoutingSpec"] == {"enabled": True, "routingStrategy": "session"}
    assert "intelligentRoutingSpec" not in render(spec(routing_strategy=None))["spec"]


def test_health_check_and_invocation_path_suit_openai_servers() -> None:
    body = render(spec())["spec"]
    assert body["loadBalancer"] == {"healthCheckPath": "/health"}
    assert body["invocationEndpoint"] == "v1/chat/completions"
    assert body["worker"]["image"] == "vllm/vllm-openai:v0.32.0"


def test_model_path_is_the_mount_for_s3_and_fsx_and_the_hub_id_for_hugging_face() -> None:
    assert hp.model_path(spec()) == "/opt/ml/model"
    assert hp.model_path(spec(source=FSX)) == "/opt/ml/model"
    assert hp.model_path(spec(source=HF)) == "Qwen/Qwen3-4B-Instruct-2507"
    hf = render(spec(source=HF))["spec"]["modelSourceConfig"]["huggingFaceModel"]
    assert hf["tokenSecretRef"] == {"name": "qwen3-4b-hf-token", "key": "token"}


def test_router_ingress_and_worker_service_are_valid_kubernetes_objects() -> None:
    exposure = ExposureSpec(type="alb", scheme="internet-facing",
                            certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x",
                            inbound_cidrs=("203.0.113.0/24",))
    ingress = routing.router_ingress("qwen3-4b-router", "hyperpod-inference-system",
                                "qwen3-4b-default-router", 8000, exposure, "/health")
    validate_k8s_manifest(ingress, "1.33")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24"
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert "idle_timeout.timeout_seconds=300" in annotations[
        "alb.ingress.kubernetes.io/load-balancer-attributes"]
    validate_k8s_manifest(routing.worker_service(spec()), "1.33")


@pytest.mark.engines
@pytest.mark.parametrize("variant", ["vllm-s3-routing-l1", "vllm-hf-token-commit",
                                     "vllm-tp2-kvaware"])
def test_vllm_parser_accepts_the_worker_args(variant: str) -> None:
    parsed = parse_vllm_argv(render(VARIANTS[variant])["spec"]["worker"]["args"])
    assert parsed.served_model_name == ["Qwen3-4B-Instruct-2507"]
