"""One test per field rule (R1-R25) enforced in the stack config, through the public config path.

Each test feeds a bad value through `config_problems` (what `python -m infra plan` and
`pulumi preview` run) and checks the boundary both ways, so the test fails when the rule is
removed or weakened (a bound lowered, a comparison flipped, a setting ignored), not only when
it disappears. Rules with no config half (R16, R17, R20, R22: renderers, outputs, smoke
clients) have their tests with the builders and smoke.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.config.configs import (
    AMP,
    CERT,
    eks_config,
    hyperpod_config,
    k3s_gcp_config,
    k8s_config,
)
from tests.helpers import config_problems

AT = "inference-stacks:endpoints[0]"


def refused(config: dict[str, Any], path: str, *words: str) -> str:
    """The one problem of `config`: at `path`, with `words` in its message."""
    problems = config_problems(config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:"), problems
    for word in words:
        assert word in problems[0], problems
    return problems[0]


def accepted(config: dict[str, Any]) -> None:
    assert config_problems(config) == []


# --- R1 startup before readiness; R2 probe timeouts >= 5 s --------------------------------------

@pytest.mark.parametrize(("field", "bad", "good"), [
    ("startup_budget_seconds", 59, 60),
    ("startup_budget_seconds", 7201, 7200),
    ("liveness_timeout_seconds", 4, 5),
    ("liveness_period_seconds", 9, 10),
    ("liveness_failure_threshold", 0, 1),
])
def test_r1_startup_budget_and_liveness_bounds(field: str, bad: int, good: int) -> None:
    refused(k8s_config(probes={field: bad}), f"{AT}.probes.{field}", f"(got {bad})")
    accepted(k8s_config(probes={field: good}))


def test_r2_readiness_timeout_4_is_refused_and_5_accepted() -> None:
    refused(k8s_config(probes={"readiness_timeout_seconds": 4}),
            f"{AT}.probes.readiness_timeout_seconds", "greater than or equal to 5")
    accepted(k8s_config(probes={"readiness_timeout_seconds": 5}))
    # HyperPod takes the same probes (worker.probes).
    refused(hyperpod_config(probes={"readiness_timeout_seconds": 4}),
            f"{AT}.probes.readiness_timeout_seconds")
    accepted(hyperpod_config(probes={"readiness_timeout_seconds": 5}))


# --- R3 pinned GPU instance types -------------------------------------------------------------

def test_r3_a_pool_with_several_instance_types_needs_the_endpoint_to_name_one() -> None:
    pool = {"instance_types": ["g5.xlarge", "g5.2xlarge"]}
    refused(eks_config(pool=pool), f"{AT}.gpu.instance_type", "name one so pods are pinned (R3)")
    accepted(eks_config(pool=pool, gpu={"pool": "a10g", "instance_type": "g5.2xlarge"}))


def test_r3_an_existing_cluster_needs_a_gpu_type_or_instance_type() -> None:
    refused(k8s_config(gpu={}), f"{AT}.gpu.type", "missing")
    accepted(k8s_config(gpu={"type": "A10G"}))


def test_r3_node_labels_and_selectors_cannot_override_the_pinning() -> None:
    refused(eks_config(pool={"labels": {"node.kubernetes.io/instance-type": "g4dn.xlarge"}}),
            "inference-stacks:eks.gpu_pools[0].labels", "(R3)")
    accepted(eks_config(pool={"labels": {"team": "ml"}}))
    config = k8s_config()
    config["kubernetes"]["gpu_node_selector"] = {"node.kubernetes.io/instance-type": "g5.xlarge"}
    refused(config, "inference-stacks:kubernetes.gpu_node_selector", "(R3)")


# --- R4 compute capability < 8.0 --------------------------------------------------------------

def test_r4_bfloat16_is_refused_on_t4_and_accepted_on_a10g() -> None:
    refused(k8s_config(gpu={"type": "T4"}, engine_args={"dtype": "bfloat16"}),
            f"{AT}.engine_args.dtype", "not supported on T4", "(R4)")
    accepted(k8s_config(gpu={"type": "A10G"}, engine_args={"dtype": "bfloat16"}))


# --- R5 served model name ---------------------------------------------------------------------

def test_r5_served_model_name_is_one_argv_item_clients_can_send() -> None:
    refused(k8s_config(served_model_name="qwen 3"), f"{AT}.served_model_name", "letters, digits")
    refused(k8s_config(served_model_name="--port"), f"{AT}.served_model_name")
    accepted(k8s_config(served_model_name="team/Qwen3-0.6B:v1"))


# --- R6 port per engine profile ---------------------------------------------------------------

def test_r6_a_profile_exists_for_the_engine_and_no_port_is_used_twice() -> None:
    refused(k8s_config(profile="sagemaker-dlc"), f"{AT}.profile", "no vllm image profile")
    accepted(k8s_config(engine="sglang", profile="sagemaker-dlc"))
    refused(k8s_config(router={"prometheus_port": 8000}), f"{AT}.router.prometheus_port",
            "HTTP port", "R6")
    accepted(k8s_config(router={"prometheus_port": 8001}))


# --- R7 SGLang metrics ------------------------------------------------------------------------

def test_r7_enable_metrics_is_the_program_s_not_extra_args() -> None:
    refused(k8s_config(engine="sglang", engine_args={"extra_args": ["--enable-metrics"]}),
            f"{AT}.engine_args.extra_args", "set by the program")
    accepted(k8s_config(engine="sglang", engine_args={"extra_args": ["--log-level", "info"]}))


# --- R8 one mapping table ---------------------------------------------------------------------

def test_r8_a_setting_the_engine_cannot_honour_is_refused() -> None:
    refused(k8s_config(engine="sglang", engine_args={"enforce_eager": True}),
            f"{AT}.engine_args.enforce_eager", "not supported by sglang", "(R8)")
    accepted(k8s_config(engine="vllm", engine_args={"enforce_eager": True}))


@pytest.mark.parametrize("args", [["--max-model-len=4096"], ["--max_model_len", "4096"],
                                  ["--max-model", "4096"], ["-tp", "1"],
                                  ["--served-model-name", "x"]])
def test_r8_extra_args_cannot_reach_a_mapped_flag(args: list[str]) -> None:
    refused(k8s_config(engine_args={"extra_args": args}), f"{AT}.engine_args.extra_args",
            "mapped setting")


# --- R9 memory fit ----------------------------------------------------------------------------

def test_r9_defaults_and_bounds() -> None:
    refused(k8s_config(engine_args={"max_model_len": 255}), f"{AT}.engine_args.max_model_len")
    accepted(k8s_config(engine_args={"max_model_len": 256}))
    refused(k8s_config(engine_args={"gpu_memory_utilization": 0.99}),
            f"{AT}.engine_args.gpu_memory_utilization")
    refused(k8s_config(engine_args={"gpu_memory_utilization": 0.1}),
            f"{AT}.engine_args.gpu_memory_utilization")
    accepted(k8s_config(engine_args={"gpu_memory_utilization": 0.98}))
    refused(k8s_config(engine_args={"max_num_seqs": 0}), f"{AT}.engine_args.max_num_seqs")


QWEN3_4B_ON_T4 = {"model": "Qwen/Qwen3-4B-Instruct-2507", "gpu": {"type": "T4"}}


def test_r9_the_fit_uses_the_configured_gpu_memory_utilization() -> None:
    # 32768 tokens of Qwen3-4B on a 16 GiB T4: 12.0 GiB needed; 14.4 GiB at 0.9, 11.2 at 0.7.
    fits = {"max_model_len": 32768, "gpu_memory_utilization": 0.9}
    accepted(k8s_config(**QWEN3_4B_ON_T4, engine_args=fits))
    problem = refused(k8s_config(**QWEN3_4B_ON_T4, engine_args={**fits,
                                                                  "gpu_memory_utilization": 0.7}),
                      f"{AT}.engine_args.max_model_len", "does not fit", "x 0.7", "(R9)")
    assert "11.2 GiB" in problem


def test_r9_the_largest_fitting_length_it_names_fits_and_longer_does_not() -> None:
    problem = refused(k8s_config(**QWEN3_4B_ON_T4, engine_args={"max_model_len": 131072}),
                      f"{AT}.engine_args.max_model_len", "largest max_model_len that fits is")
    match = re.search(r"fits is (\d+)", problem)
    assert match is not None
    largest = int(match.group(1))
    accepted(k8s_config(**QWEN3_4B_ON_T4, engine_args={"max_model_len": largest}))
    refused(k8s_config(**QWEN3_4B_ON_T4, engine_args={"max_model_len": largest + 4096}),
            f"{AT}.engine_args.max_model_len", "does not fit")


def test_r9_tensor_parallel_gpus_add_memory() -> None:
    mixtral = {"model": "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpu": {"type": "A100-80GB"}}
    token = {"hf_token": "hf_test"}  # Mixtral is gated on Hugging Face
    refused({**k8s_config(**mixtral, engine_args={"max_model_len": 16384}), **token},
            f"{AT}.engine_args.max_model_len", "weights alone do not fit")
    accepted({**k8s_config(**{**mixtral, "gpu": {"type": "A100-80GB", "count": 2}},
                           engine_args={"max_model_len": 16384, "tensor_parallel_size": 2}),
              **token})


# --- R10, R11 KV cache tiers ------------------------------------------------------------------

def test_r10_kv_cache_is_vllm_only() -> None:
    problems = config_problems(hyperpod_config(engine="sglang", kv_cache={"l1": True}))
    assert any(p.startswith(f"{AT}.kv_cache:") and "(R10)" in p for p in problems), problems
    accepted(hyperpod_config(engine="vllm", kv_cache={"l1": True}))


def test_r11_no_prefix_caching_flag_with_kv_cache() -> None:
    refused(hyperpod_config(kv_cache={"l1": True}, engine_args={"enable_prefix_caching": True}),
            f"{AT}.engine_args.enable_prefix_caching", "(R11)")
    accepted(hyperpod_config(kv_cache={"l1": True}, engine_args={"enable_prefix_caching": False}))
    accepted(hyperpod_config(engine_args={"enable_prefix_caching": True}))


# --- R12 public HyperPod needs routing --------------------------------------------------------

def test_r12_an_alb_on_hyperpod_needs_intelligent_routing() -> None:
    refused(hyperpod_config(exposure={"type": "alb"}), f"{AT}.routing", "(R12)")
    accepted(hyperpod_config(exposure={"type": "alb"}, routing={"strategy": "prefixaware"}))


# --- R13 name budgets; R14 lower-case RFC 1123 ------------------------------------------------

def test_r13_the_budget_of_each_platform_is_exact_and_said_once() -> None:
    accepted(k8s_config(name="a" * 48))
    refused(k8s_config(name="a" * 49), f"{AT}.name", "the budget is 48", "(R13)")
    accepted(hyperpod_config(name="a" * 50))
    refused(hyperpod_config(name="a" * 51), f"{AT}.name", "the budget is 50",
            "'prefetch-' and '-inf'")
    auto = {"prometheus_server_address": AMP}
    accepted(hyperpod_config(name="a" * 44, autoscaling=auto))
    refused(hyperpod_config(name="a" * 45, autoscaling=auto), f"{AT}.name", "the budget is 44")


@pytest.mark.parametrize("name", ["Qwen3-0-6b", "qwen3-0-6B", "qwen3_0_6b", "qwen3.0", "-qwen3",
                                  "qwen3-"])
def test_r14_names_are_lower_case_rfc1123_labels(name: str) -> None:
    # Endpoint names also name Services, so the message names RFC 1035 (a letter first).
    refused(k8s_config(name=name), f"{AT}.name", "lower-case RFC 1035")
    refused(hyperpod_config(name=name), f"{AT}.name", "lower-case RFC 1035")


def test_r14_a_lower_case_name_is_accepted_and_the_namespace_is_checked_too() -> None:
    accepted(k8s_config(name="qwen3-0-6b"))
    refused(k8s_config(namespace="Inference"), f"{AT}.namespace", "lower-case RFC 1123")
    accepted(k8s_config(namespace="inference-2"))


# --- R15 generated API key --------------------------------------------------------------------

@pytest.mark.parametrize("key", ["VLLM_API_KEY", "INFERENCE_API_KEY"])
def test_r15_env_cannot_replace_the_generated_api_key(key: str) -> None:
    refused(k8s_config(env={key: ""}), f"{AT}.env", "set by the program")
    refused(hyperpod_config(env={key: "x"}), f"{AT}.env", "set by the program")
    accepted(k8s_config(env={"VLLM_LOGGING_LEVEL": "INFO"}))


def test_r15_extra_args_cannot_set_the_api_key() -> None:
    refused(k8s_config(engine_args={"extra_args": ["--api-key", "secret"]}),
            f"{AT}.engine_args.extra_args", "set by the program")


# --- R18 explicit model cache -----------------------------------------------------------------

def test_r18_cache_size_is_a_quantity_and_a_pvc_is_named() -> None:
    refused(k8s_config(cache={"size": "50GB"}), f"{AT}.cache.size", "Kubernetes quantity")
    accepted(k8s_config(cache={"size": "50Gi"}))
    refused(k8s_config(cache={"type": "pvc"}), f"{AT}.cache", "claim_name")
    accepted(k8s_config(cache={"type": "pvc", "claim_name": "models"}))
    refused(k8s_config(cache={"type": "hostpath", "host_path": "cache"}),
            f"{AT}.cache.host_path", "absolute path")


def test_r18_the_cache_leaves_room_for_images_on_the_root_volume() -> None:
    accepted(eks_config(cache={"size": "160Gi"}))  # 160 + 40 = the 200 GiB root volume
    refused(eks_config(cache={"size": "161Gi"}), f"{AT}.cache.size", "(R18)", "at least 201")


# --- R19 download before start ----------------------------------------------------------------

def test_r19_s3_streaming_is_vllm_only_and_locations_are_well_formed() -> None:
    s3 = {"type": "s3", "bucket": "models", "prefix": "qwen3/", "stream": True}
    refused(k8s_config(engine="sglang", source=s3), f"{AT}.source.stream", "vLLM only")
    accepted(k8s_config(engine="vllm", source=s3))
    refused(k8s_config(source={**s3, "bucket": "Models"}), f"{AT}.source.bucket",
            "S3 bucket name")
    refused(k8s_config(source={**s3, "endpoint_url": "minio:9000"}),
            f"{AT}.source.endpoint_url", "http(s) URL")


# --- R21 /dev/shm for tensor parallel ---------------------------------------------------------

def test_r21_shm_size_is_a_quantity_and_gpus_match_tensor_parallel_size() -> None:
    refused(k8s_config(resources={"shm_size": "8 GB"}), f"{AT}.resources.shm_size",
            "Kubernetes quantity")
    accepted(k8s_config(resources={"shm_size": "16Gi"}))
    refused(k8s_config(gpu={"type": "L4", "count": 2}), f"{AT}.gpu.count", "must be equal")
    accepted(k8s_config(gpu={"type": "L4", "count": 2},
                        engine_args={"tensor_parallel_size": 2}))


# --- R23 ALB idle timeout ---------------------------------------------------------------------

def test_r23_idle_timeout_299_is_refused_and_300_accepted() -> None:
    refused(k8s_config(exposure={"idle_timeout_seconds": 299}),
            f"{AT}.exposure.idle_timeout_seconds", "greater than or equal to 300")
    accepted(k8s_config(exposure={"idle_timeout_seconds": 300}))
    refused(k8s_config(exposure={"idle_timeout_seconds": 4001}),
            f"{AT}.exposure.idle_timeout_seconds")
    accepted(k8s_config(exposure={"idle_timeout_seconds": 4000}))


# --- R24 nothing public by default ------------------------------------------------------------

PUBLIC = {"type": "alb", "scheme": "internet-facing", "certificate_arn": CERT,
          "inbound_cidrs": ["203.0.113.0/24"]}


def _with_lbc(config: dict[str, Any]) -> dict[str, Any]:
    config["kubernetes"]["aws_load_balancer_controller"] = True
    config["kubernetes"]["load_balancer_cidrs"] = ["10.0.0.0/16"]
    return config


@pytest.mark.parametrize(("missing", "word"), [("certificate_arn", "certificate_arn (TLS)"),
                                               ("inbound_cidrs", "inbound_cidrs")])
def test_r24_internet_facing_needs_tls_and_client_cidrs(missing: str, word: str) -> None:
    exposure = {k: v for k, v in PUBLIC.items() if k != missing}
    refused(_with_lbc(k8s_config(exposure=exposure)), f"{AT}.exposure", word, "(R24)")
    accepted(_with_lbc(k8s_config(exposure=PUBLIC)))


def test_r24_internet_facing_needs_an_api_key_and_a_load_balancer() -> None:
    refused(_with_lbc(k8s_config(exposure=PUBLIC, api_key=False)), f"{AT}.api_key", "(R24)")
    refused(k8s_config(exposure={**PUBLIC, "type": "cluster"}), f"{AT}.exposure",
            "needs type alb or nlb")


def test_r24_admin_ports_open_to_the_world_only_when_asked() -> None:
    refused(k3s_gcp_config(admin_cidrs=["0.0.0.0/0"]), "inference-stacks:k3s_gcp.admin_cidrs",
            "(R24)")
    accepted(k3s_gcp_config(admin_cidrs=["0.0.0.0/0"], allow_public_admin=True))
    accepted(k3s_gcp_config(admin_cidrs=["203.0.113.0/24"]))


# --- R25 machine type and GPU together --------------------------------------------------------

def test_r25_a3_highgpu_is_refused_for_l4_naming_the_g2_family() -> None:
    refused(k3s_gcp_config(machine_type="a3-highgpu-1g"), "inference-stacks:k3s_gcp.machine_type",
            "1x H100", "g2-standard family", "(R25)")
    accepted(k3s_gcp_config(machine_type="g2-standard-8"))


def test_r25_a_workload_gpu_type_and_machine_type_must_agree() -> None:
    config = {"platform": "k3s-workload", "k3s_workload": {},
              "endpoints": [{"name": "m", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                             "gpu": {"type": "L4", "instance_type": "a3-highgpu-1g"}}]}
    refused(config, f"{AT}.gpu.instance_type", "not L4", "(R25)")
    config["endpoints"][0]["gpu"]["instance_type"] = "g2-standard-8"
    accepted(config)


def test_r14_an_endpoint_name_starts_with_a_letter_because_it_names_a_service() -> None:
    """Found by the property test: `500m` is an RFC 1123 label but not a Service name."""
    problems = config_problems(k8s_config(name="500m"))
    assert any(p.startswith(f"{AT}.name:") and "RFC 1035" in p and "'e-500m'" in p
               for p in problems), problems
    accepted(k8s_config(name="m500"))
