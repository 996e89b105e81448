"""Pure builders (engine argv, pod, manifests) without Pulumi: one test per field rule."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components import engines, manifests, names, pod
from components.spec import EndpointSpec, ExposureSpec, ModelSourceSpec, ProbeSpec


def make_spec(**changes) -> EndpointSpec:
    engine = changes.pop("engine", "vllm")
    base = EndpointSpec(
        name="ep", namespace="inference", engine=engine,
        profile=engines.ENGINE_PROFILES[(engine, "upstream")],
        image="img:1", model="Qwen/Qwen3-0.6B", served_model_name="Qwen3-0.6B",
        engine_settings={"max_model_len": 12288, "tensor_parallel_size": 1,
                         "gpu_memory_utilization": 0.9, "max_num_seqs": 256},
        source=ModelSourceSpec("huggingface"),
    )
    return dataclasses.replace(base, **changes)


def container(spec: EndpointSpec) -> dict:
    return pod.engine_container(spec)


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_r5_served_model_name_is_always_passed(engine: str) -> None:
    argv = container(make_spec(engine=engine))["args"]
    assert flag_value(argv, "--served-model-name") == "Qwen3-0.6B"


def test_r5_default_served_name_is_the_last_path_segment() -> None:
    assert names.served_name_default("Qwen/Qwen3-4B-Instruct-2507") == "Qwen3-4B-Instruct-2507"
    assert names.served_name_default("/opt/ml/model/") == "model"


@pytest.mark.parametrize(("engine", "port"), [("vllm", 8000), ("sglang", 30000)])
def test_r6_port_follows_the_engine_profile_everywhere(engine: str, port: int) -> None:
    spec = make_spec(engine=engine)
    c = container(spec)
    assert flag_value(c["args"], "--port") == str(port)
    assert c["ports"][0]["containerPort"] == port
    assert c["readinessProbe"]["httpGet"]["port"] == "http"
    assert manifests.service(spec)["spec"]["ports"][0]["port"] == port


def test_r6_sagemaker_sglang_dlc_listens_on_8080() -> None:
    spec = make_spec(engine="sglang", profile=engines.ENGINE_PROFILES[("sglang", "sagemaker-dlc")])
    assert flag_value(container(spec)["args"], "--port") == "8080"


def test_r7_sglang_always_gets_enable_metrics() -> None:
    assert "--enable-metrics" in container(make_spec(engine="sglang"))["args"]
    assert "--enable-metrics" not in container(make_spec())["args"]


def test_r8_every_setting_maps_for_each_engine_or_is_rejected() -> None:
    settings = {"max_model_len": 4096, "tensor_parallel_size": 2, "gpu_memory_utilization": 0.8,
                "max_num_seqs": 32, "chat_template": "/t.jinja", "tool_call_parser": "hermes",
                "dtype": "half"}
    vllm = engines.build_engine_argv("vllm", "m", "s", 8000, settings)
    sglang = engines.build_engine_argv("sglang", "m", "s", 30000, settings)
    for flag, value in [("--max-model-len", "4096"), ("--tensor-parallel-size", "2"),
                        ("--gpu-memory-utilization", "0.8"), ("--max-num-seqs", "32"),
                        ("--tool-call-parser", "hermes")]:
        assert flag_value(vllm, flag) == value
    assert "--enable-auto-tool-choice" in vllm
    for flag, value in [("--context-length", "4096"), ("--tp-size", "2"),
                        ("--mem-fraction-static", "0.8"), ("--max-running-requests", "32")]:
        assert flag_value(sglang, flag) == value
    assert engines.unsupported_settings("sglang", {"enforce_eager": True}) != []
    assert engines.unsupported_settings("vllm", {"enforce_eager": True}) == []
    assert set(engines.FLAG_TABLE) <= set(
        f for f in __import__("infra.config.endpoint", fromlist=["EngineArgs"])
        .EngineArgs.model_fields)


def test_limit_mm_per_prompt_renders_json() -> None:
    argv = engines.build_engine_argv("vllm", "m", "s", 8000, {"limit_mm_per_prompt": {"image": 2}})
    assert json.loads(flag_value(argv, "--limit-mm-per-prompt")) == {"image": 2}


def test_r1_r2_startup_then_readiness_and_liveness() -> None:
    c = container(make_spec(probes=ProbeSpec(startup_budget_seconds=1200)))
    startup, ready, live = c["startupProbe"], c["readinessProbe"], c["livenessProbe"]
    assert startup["httpGet"]["path"] == "/health"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    assert ready["timeoutSeconds"] >= 5 and live["timeoutSeconds"] == 10
    assert live["periodSeconds"] == 30 and live["failureThreshold"] == 3
    assert all("initialDelaySeconds" not in p for p in (startup, ready, live))


def test_r3_pinning_and_tolerations_reach_the_pod() -> None:
    spec = make_spec(node_selector={"node.kubernetes.io/instance-type": "g5.xlarge"},
                     tolerations=({"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"},))
    p = pod.pod_spec(spec)
    assert p["nodeSelector"]["node.kubernetes.io/instance-type"] == "g5.xlarge"
    assert p["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_r4_low_compute_capability_turns_off_flashinfer_sampler() -> None:
    c = container(make_spec(flashinfer_sampler_off=True))
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    env = {e["name"] for e in container(make_spec())["env"]}
    assert "VLLM_USE_FLASHINFER_SAMPLER" not in env


def test_r15_api_key_comes_from_the_secret() -> None:
    vllm = container(make_spec(api_key_secret="ep-api-key"))
    env = {e["name"]: e for e in vllm["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "ep-api-key",
                                                                 "key": "api-key"}
    sglang = container(make_spec(engine="sglang", api_key_secret="ep-api-key"))
    assert flag_value(sglang["args"], "--api-key") == f"$({engines.API_KEY_ENV})"


@pytest.mark.parametrize(("replicas", "strategy"), [(1, "Recreate"), (2, "RollingUpdate")])
def test_r16_gpu_rollouts_never_surge(replicas: int, strategy: str) -> None:
    deployment = manifests.deployment(make_spec(replicas=replicas))
    assert deployment["spec"]["strategy"]["type"] == strategy
    if strategy == "RollingUpdate":
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0,
                                                                   "maxUnavailable": 1}
    assert deployment["spec"]["progressDeadlineSeconds"] >= 1800


def test_r18_emptydir_cache_requests_ephemeral_storage() -> None:
    c = container(make_spec(cache_size="50Gi"))
    assert c["resources"]["requests"]["ephemeral-storage"] == "50Gi"
    assert c["resources"]["limits"]["ephemeral-storage"] == "50Gi"
    volume = pod.volumes(make_spec(cache_size="50Gi"))[0]
    assert volume["emptyDir"]["sizeLimit"] == "50Gi"
    hostpath = pod.volumes(make_spec(cache_type="hostpath"))[0]
    assert hostpath["hostPath"]["path"] == "/var/lib/model-cache"


def test_r19_s3_download_finishes_before_the_engine_starts() -> None:
    source = ModelSourceSpec("s3", s3_bucket="models", s3_prefix="Qwen/Qwen3-4B",
                             s3_endpoint_url="https://minio:9000", s3_credentials_secret="creds")
    spec = make_spec(source=source)
    init = pod.init_containers(spec)
    assert len(init) == 1
    script = init[0]["command"][2]
    assert "config.json" in script and "*.safetensors" in script and "partial" in script
    env = {e["name"]: e for e in init[0]["env"]}
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://minio:9000"
    assert env["SOURCE"]["value"] == "s3://models/Qwen/Qwen3-4B"
    assert flag_value(container(spec)["args"], "--model") == pod.DOWNLOADED_WEIGHTS


def test_r19_s3_streaming_uses_runai_streamer_without_download() -> None:
    source = ModelSourceSpec("s3", s3_bucket="models", s3_prefix="m", s3_stream=True,
                             s3_endpoint_url="https://minio:9000")
    spec = make_spec(source=source)
    assert pod.init_containers(spec) == []
    argv = container(spec)["args"]
    assert flag_value(argv, "--load-format") == "runai_streamer"
    assert flag_value(argv, "--model") == "s3://models/m"


def test_r21_tensor_parallel_pods_mount_shm() -> None:
    spec = make_spec(shm_size="16Gi")
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in \
        pod.volumes(spec)
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container(spec)["volumeMounts"]
    assert all(v["name"] != "dshm" for v in pod.volumes(make_spec()))


def test_r23_alb_idle_timeout_health_check_and_ip_targets() -> None:
    spec = make_spec(exposure=ExposureSpec(type="alb", scheme="internet-facing",
                                           certificate_arn="arn:c", inbound_cidrs=("10.0.0.0/8",)))
    annotations = manifests.ingress(spec)["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io"
    assert annotations[f"{prefix}/load-balancer-attributes"] == "idle_timeout.timeout_seconds=300"
    assert annotations[f"{prefix}/target-type"] == "ip"
    assert annotations[f"{prefix}/healthcheck-path"] == "/health"
    assert annotations[f"{prefix}/ssl-redirect"] == "443"
    assert json.loads(annotations[f"{prefix}/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert manifests.load_balancer_url(spec, "lb.example") == "https://lb.example"


def test_internal_alb_is_the_default_scheme() -> None:
    spec = make_spec(exposure=ExposureSpec(type="alb"))
    annotations = manifests.ingress(spec)["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert manifests.load_balancer_url(spec, "lb.example") == "http://lb.example"


def test_nlb_uses_ip_targets_and_source_ranges() -> None:
    spec = make_spec(exposure=ExposureSpec(type="nlb", scheme="internal",
                                           inbound_cidrs=("10.0.0.0/8",)))
    svc = manifests.nlb_service(spec)
    prefix = "service.beta.kubernetes.io"
    assert svc["metadata"]["annotations"][f"{prefix}/aws-load-balancer-nlb-target-type"] == "ip"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert manifests.load_balancer_url(spec, "nlb.example") == "http://nlb.example:8000"


def test_r13_budget_covers_every_suffix_the_program_adds() -> None:
    budget = names.endpoint_name_budget()
    longest = "a" * budget
    for suffix in names.ENDPOINT_SUFFIXES:
        assert len(longest + suffix) <= names.DNS_LABEL_MAX
    assert names.check_name(longest, budget, "name") == []
    assert names.check_name(longest + "a", budget, "name") != []
    assert names.hyperpod_name_budget() == 50


def test_r14_sanitize_lowercases_and_replaces_invalid_characters() -> None:
    assert names.sanitize("Qwen3_4B.Instruct--2507") == "qwen3-4b-instruct-2507"
