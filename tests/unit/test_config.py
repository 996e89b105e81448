"""Stack config model: strictness, defaults from the field rules, key paths in every error."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

import infra.config.endpoint as endpoint_module
import infra.config.stack as stack_module
from infra.config.base import StrictModel
from infra.config.stack import STACK_MODELS, settings_model
from tests.helpers import config_problems, k8s_config, load, stack_names


def _strict_models() -> list[type[BaseModel]]:
    models: set[type[BaseModel]] = set()
    for module in (endpoint_module, stack_module):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, StrictModel) and obj is not StrictModel:
                models.add(obj)
    models.update(settings_model(name) for name in STACK_MODELS)
    return sorted(models, key=lambda m: m.__name__)


@pytest.mark.parametrize("model", _strict_models(), ids=lambda m: m.__name__)
def test_every_field_is_described_and_unknown_keys_are_forbidden(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    undocumented = [name for name, f in model.model_fields.items() if not f.description]
    assert undocumented == [], f"{model.__name__} fields without description: {undocumented}"


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_file_loads(stack: str) -> None:
    from infra.plan import STACKS_DIR, read_stack_file
    from tests.helpers import ASSUMED_SECRETS

    config, _ = read_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml",
                                ASSUMED_SECRETS.get(stack, ()))
    assert load(config).endpoints is not None


def test_defaults_come_from_the_field_notes() -> None:
    endpoint = load(k8s_config()).endpoints[0]
    args = endpoint.engine_args
    assert (args.max_model_len, args.gpu_memory_utilization, args.max_num_seqs) == (12288, 0.9, 256)
    assert endpoint.exposure.type == "cluster"  # R24: nothing public by default
    assert endpoint.api_key is True  # R15
    assert endpoint.probes.readiness_timeout_seconds >= 5  # R2
    assert endpoint.served_name == "Qwen3-0.6B"  # R5


def _one(config: dict) -> str:
    problems = config_problems(config)
    assert len(problems) == 1, problems
    return problems[0]


def test_unknown_key_names_its_path_and_the_allowed_keys() -> None:
    problem = _one(k8s_config(engine_args={"max_model_length": 4096}))
    assert problem.startswith("inference-stacks:endpoints[0].engine_args.max_model_length:")
    assert "unknown key" in problem and "max_model_len" in problem


def test_bad_value_names_path_value_and_allowed_values() -> None:
    problem = _one(k8s_config(engine="tgi"))
    assert problem.startswith("inference-stacks:endpoints[0].engine:")
    assert "'vllm' or 'sglang'" in problem and "'tgi'" in problem


def test_key_path_points_into_the_second_endpoint() -> None:
    config = k8s_config()
    config["endpoints"].append({**config["endpoints"][0], "name": "second",
                                "engine_args": {"max_model_len": 10}})
    problem = _one(config)
    assert problem.startswith("inference-stacks:endpoints[1].engine_args.max_model_len:")
    assert "256" in problem and "(got 10)" in problem


def test_unknown_platform_lists_the_registry() -> None:
    problem = _one({"platform": "nomad", "endpoints": []})
    assert problem.startswith("inference-stacks:platform:")
    assert "'nomad'" in problem and "kubernetes" in problem


def test_unknown_top_level_key_is_rejected() -> None:
    config = {**k8s_config(), "endpoint": []}
    problem = _one(config)
    assert problem.startswith("inference-stacks:endpoint:") and "endpoints" in problem


def test_every_problem_is_reported_at_once() -> None:
    config = k8s_config(engine="sglang", name="Bad_Name",
                        engine_args={"enforce_eager": True, "max_model_len": 500000})
    problems = config_problems(config)
    assert len(problems) >= 3, problems


def test_r8_settings_an_engine_does_not_support_are_rejected() -> None:
    problem = _one(k8s_config(engine="sglang", engine_args={"enable_prefix_caching": True}))
    assert "endpoints[0].engine_args.enable_prefix_caching" in problem and "sglang" in problem
    problem = _one(k8s_config(engine="sglang", engine_args={"limit_mm_per_prompt": {"image": 2}}))
    assert "engine_args.limit_mm_per_prompt" in problem


def test_r8_extra_args_may_not_repeat_a_mapped_flag() -> None:
    problem = _one(k8s_config(engine_args={"extra_args": ["--max-model-len=4096"]}))
    assert "engine_args.extra_args" in problem and "max_model_len" in problem


def test_r9_model_that_does_not_fit_names_the_largest_fitting_length() -> None:
    problem = _one(k8s_config(model="Qwen/Qwen3-4B-Instruct-2507", gpu={"type": "T4"},
                              engine_args={"max_model_len": 131072}))
    assert problem.startswith("inference-stacks:endpoints[0].engine_args.max_model_len:")
    assert "largest max_model_len that fits is" in problem and "(R9)" in problem
    fitting = int(problem.split("fits is ")[1].split(" ")[0])
    assert config_problems(k8s_config(model="Qwen/Qwen3-4B-Instruct-2507", gpu={"type": "T4"},
                                      engine_args={"max_model_len": fitting})) == []


def test_r9_weights_alone_too_big_say_so() -> None:
    problem = _one({**k8s_config(model="mistralai/Mixtral-8x7B-Instruct-v0.1",
                                 gpu={"instance_type": "g5.xlarge"}), "hf_token": "hf_x"})
    assert "weights alone do not fit" in problem


def test_r9_tensor_parallel_adds_memory() -> None:
    config = k8s_config(model="mistralai/Mixtral-8x7B-Instruct-v0.1",
                        gpu={"type": "A100-80GB", "count": 2},
                        engine_args={"tensor_parallel_size": 2, "max_model_len": 16384})
    assert config_problems({**config, "hf_token": "hf_x"}) == []


def test_model_outside_the_catalog_uses_config_facts_or_warns() -> None:
    from infra.validate.rules import stack_warnings

    unknown = k8s_config(model="acme/secret-model-13b")
    assert config_problems(unknown) == []
    assert any("not in the model catalog" in w for w in stack_warnings(load(unknown)))
    with_facts = k8s_config(model="acme/secret-model-13b", model_facts={
        "parameters_b": 13, "num_layers": 40, "num_kv_heads": 40, "head_dim": 128})
    assert "does not fit" in _one(with_facts)


def test_gpu_count_must_equal_tensor_parallel_size() -> None:
    problem = _one(k8s_config(gpu={"type": "L4", "count": 2}))
    assert problem.startswith("inference-stacks:endpoints[0].gpu.count:")


def _with(config: dict, needle: str) -> str:
    """The one problem containing `needle` (others may be reported beside it)."""
    matching = [p for p in config_problems(config) if needle in p]
    assert len(matching) == 1, config_problems(config)
    return matching[0]


def test_r10_kv_cache_only_with_vllm() -> None:
    problem = _with(k8s_config(engine="sglang", kv_cache={"l1": True}), "(R10)")
    assert problem.startswith("inference-stacks:endpoints[0].kv_cache:")


def test_r11_no_prefix_caching_flag_with_kv_cache() -> None:
    config = k8s_config(kv_cache={"l1": True}, engine_args={"enable_prefix_caching": True})
    assert "engine_args.enable_prefix_caching" in _with(config, "(R11)")


def test_tieredstorage_needs_the_experimental_flag() -> None:
    problem = _with(k8s_config(kv_cache={"l2_backend": "tieredstorage"}), "experimental")
    assert "endpoints[0].kv_cache" in problem
    opted_in = k8s_config(kv_cache={"l2_backend": "tieredstorage",
                                    "experimental_tieredstorage": True})
    assert not any("experimental" in p for p in config_problems(opted_in))


@pytest.mark.parametrize("field", ["kv_cache", "routing"])
def test_hyperpod_only_settings_are_rejected_elsewhere(field: str) -> None:
    problem = _one(k8s_config(**{field: {}}))
    assert problem.startswith(f"inference-stacks:endpoints[0].{field}:")
    assert "only platform hyperpod" in problem


def test_r13_r14_names_must_be_lowercase_rfc1123_within_budget() -> None:
    problems = config_problems(k8s_config(name="Qwen3_4B"))
    assert any("RFC 1035" in p and "'qwen3-4b'" in p for p in problems), problems
    long_name = "a" * 60
    problems = config_problems(k8s_config(name=long_name))
    assert any("the budget is 48" in p for p in problems), problems


def test_duplicate_endpoint_names_are_rejected() -> None:
    config = k8s_config()
    config["endpoints"].append(dict(config["endpoints"][0]))
    assert any("used twice" in p for p in config_problems(config))


def test_r24_internet_facing_needs_tls_cidrs_and_api_key() -> None:
    lb = {"aws_load_balancer_controller": True, "kubernetes_version": "1.33",
          "load_balancer_cidrs": ["10.0.0.0/16"]}
    config = k8s_config(exposure={"type": "alb", "scheme": "internet-facing"})
    config["kubernetes"] = lb
    problem = _one(config)
    assert "endpoints[0].exposure" in problem
    assert "certificate_arn" in problem and "inbound_cidrs" in problem
    config = k8s_config(api_key=False, exposure={
        "type": "alb", "scheme": "internet-facing",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
        "inbound_cidrs": ["203.0.113.0/24"]})
    config["kubernetes"] = lb
    assert "endpoints[0].api_key" in _one(config)


def test_r23_idle_timeout_at_least_300() -> None:
    problem = _one(k8s_config(exposure={"type": "cluster", "idle_timeout_seconds": 60}))
    assert "exposure.idle_timeout_seconds" in problem and "300" in problem


def test_load_balancers_need_the_controller_on_existing_clusters() -> None:
    problem = _one(k8s_config(exposure={"type": "nlb"}))
    assert "exposure.type" in problem and "aws_load_balancer_controller" in problem


def test_r4_bfloat16_rejected_on_t4() -> None:
    problem = _one(k8s_config(gpu={"type": "T4"}, engine_args={"dtype": "bfloat16"}))
    assert "engine_args.dtype" in problem and "half" in problem


def test_unknown_gpu_type_lists_the_catalog() -> None:
    problem = _one(k8s_config(gpu={"type": "V100"}))
    assert "gpu.type" in problem and "A10G" in problem
    problem = _one(k8s_config(gpu={"instance_type": "g9.huge"}))
    assert "gpu.instance_type" in problem and "g5.xlarge" in problem


def test_images_must_be_pinned() -> None:
    assert "pinned" in _one(k8s_config(image="vllm/vllm-openai:latest"))
    assert "pinned" in _one(k8s_config(image="vllm/vllm-openai"))
    assert config_problems(k8s_config(image="registry:5000/vllm/vllm-openai:v0.32.0")) == []


def test_hf_token_required_only_when_asked() -> None:
    problem = _one(k8s_config(source={"type": "huggingface", "use_token": True}))
    assert "source.use_token" in problem and "hf_token" in problem
    config = {**k8s_config(source={"type": "huggingface", "use_token": True}),
              "hf_token": "hf_x"}
    assert config_problems(config) == []


def test_s3_streaming_is_vllm_only() -> None:
    problem = _one(k8s_config(engine="sglang", source={"type": "s3", "bucket": "models",
                                                       "stream": True}))
    assert "source.stream" in problem
