"""Model facts and the R9 memory-fit check."""

from __future__ import annotations

import pytest

from components.model_catalog import (
    GIB,
    ModelFacts,
    check_memory_fit,
    exceeds_native_context,
    is_gated,
    known_models,
    kv_cache_bytes_per_token,
    lookup_model,
    weights_bytes,
)

CATALOG_IDS = [
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-4B",
    "Qwen/Qwen3-4B-Instruct-2507",
    "Qwen/Qwen2.5-7B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "Qwen/Qwen3-VL-2B-Instruct",
]


@pytest.mark.parametrize("model_id", CATALOG_IDS)
def test_every_catalog_model_resolves_by_id_segment_and_case(model_id: str) -> None:
    facts = lookup_model(model_id)
    assert facts is not None
    assert lookup_model(model_id.split("/")[-1]) == facts
    assert lookup_model(model_id.upper()) == facts
    assert lookup_model(f"s3://weights/models/{model_id.split('/')[-1]}/") == facts


def test_known_values() -> None:
    # (layers, kv heads, head_dim, native context) from each repo's config.json.
    expected = {
        "Qwen/Qwen3-0.6B": (28, 8, 128, 40960),
        "Qwen/Qwen3-4B": (36, 8, 128, 40960),
        "Qwen/Qwen3-4B-Instruct-2507": (36, 8, 128, 262144),
        "Qwen/Qwen2.5-7B-Instruct": (28, 4, 128, 32768),
        "meta-llama/Llama-3.1-8B-Instruct": (32, 8, 128, 131072),
        "mistralai/Mistral-7B-Instruct-v0.3": (32, 8, 128, 32768),
        "mistralai/Mixtral-8x7B-Instruct-v0.1": (32, 8, 128, 32768),
        "Qwen/Qwen3-VL-2B-Instruct": (28, 8, 128, 262144),
    }
    for model_id, values in expected.items():
        f = lookup_model(model_id)
        assert f is not None
        assert (f.num_layers, f.num_kv_heads, f.head_dim, f.max_context) == values, model_id
    assert len(known_models()) == len(expected)


def test_variants_and_unknowns() -> None:
    # Same config.json as the instruct checkpoint.
    assert lookup_model("meta-llama/Llama-3.1-8B") == lookup_model("Llama-3.1-8B-Instruct")
    assert lookup_model("mistralai/Mixtral-8x7B-v0.1") == lookup_model("Mixtral-8x7B-Instruct-v0.1")
    # The 2507 instruct has a 262k context; the original Qwen3-4B has 40960: not the same.
    assert lookup_model("Qwen3-4B-Instruct-2507") != lookup_model("Qwen3-4B")
    assert lookup_model("Qwen3-0.6B-Instruct") == lookup_model("Qwen3-0.6B")
    assert lookup_model("Qwen/Qwen3-8B") is None
    assert lookup_model("") is None
    assert lookup_model("/") is None


def test_kv_bytes_per_token_formula() -> None:
    llama = lookup_model("Llama-3.1-8B-Instruct")
    assert llama is not None
    assert kv_cache_bytes_per_token(llama) == 2 * 32 * 8 * 128 * 2 == 128 * 1024
    assert kv_cache_bytes_per_token(llama, kv_dtype_bytes=1) == 64 * 1024  # fp8 KV cache


def test_r9_incident_is_qwen3_vl_2b_at_its_native_context() -> None:
    """The field saw "28.00 GiB KV cache is needed" for a 262,144-token context."""
    vl = lookup_model("Qwen/Qwen3-VL-2B-Instruct")
    assert vl is not None and vl.max_context == 262144
    assert kv_cache_bytes_per_token(vl) == 112 * 1024
    fit = check_memory_fit(vl, 262144, gpu_memory_gib=24, gpu_memory_utilization=0.9,
                           tensor_parallel_size=1)
    assert fit.kv_gib == pytest.approx(28.0)
    assert not fit.fits
    assert 0 < fit.max_model_len_that_fits < 262144
    assert fit.max_model_len_that_fits % 256 == 0
    # The suggestion itself must fit, and 256 tokens more must not.
    assert check_memory_fit(vl, fit.max_model_len_that_fits, 24, 0.9, 1).fits
    assert not check_memory_fit(vl, fit.max_model_len_that_fits + 256, 24, 0.9, 1).fits
    # Qwen3-4B-Instruct-2507 at 262k would need 36 GiB of KV: not the incident's model.
    q4 = lookup_model("Qwen3-4B-Instruct-2507")
    assert q4 is not None
    assert check_memory_fit(q4, 262144, 24, 0.9, 1).kv_gib == pytest.approx(36.0)


def test_default_max_model_len_fits_on_the_field_gpus() -> None:
    # The R9 defaults (12288, 0.9) for the K3s/L4 and EKS/A10G models.
    for model_id in ("Llama-3.1-8B-Instruct", "Qwen2.5-7B-Instruct", "Mistral-7B-Instruct-v0.3"):
        facts = lookup_model(model_id)
        assert facts is not None
        fit = check_memory_fit(facts, 12288, 24, 0.9, 1)
        assert fit.fits, (model_id, fit)
        assert fit.available_gib == pytest.approx(21.6)
        assert fit.required_gib == pytest.approx(fit.weights_gib + fit.kv_gib)


def test_weights_that_do_not_fit_report_zero() -> None:
    llama = lookup_model("Llama-3.1-8B-Instruct")
    assert llama is not None
    fit = check_memory_fit(llama, 4096, 16, 0.9, 1)  # T4: 14.4 GiB < 14.96 GiB of weights
    assert not fit.fits and fit.max_model_len_that_fits == 0
    assert fit.weights_gib == pytest.approx(weights_bytes(llama) / GIB)


def test_tensor_parallel_adds_memory() -> None:
    mixtral = lookup_model("Mixtral-8x7B-Instruct-v0.1")
    assert mixtral is not None
    assert mixtral.parameters_b == pytest.approx(46.7)  # all experts resident
    # 87 GiB of bf16 weights: not on 2 x L40S (86.4 GiB usable), fine on 2 x A100-80GB.
    assert not check_memory_fit(mixtral, 12288, 48, 0.9, 2).fits
    on_a100 = check_memory_fit(mixtral, 12288, 80, 0.9, 2)
    assert on_a100.fits and on_a100.available_gib == pytest.approx(144.0)


def test_kv_heads_are_replicated_when_tp_exceeds_them() -> None:
    qwen = lookup_model("Qwen2.5-7B-Instruct")  # 4 KV heads
    assert qwen is not None
    tp4 = check_memory_fit(qwen, 8192, 24, 0.9, 4)
    tp8 = check_memory_fit(qwen, 8192, 24, 0.9, 8)
    assert tp8.kv_gib == pytest.approx(2 * tp4.kv_gib)


def test_suggestion_is_capped_at_native_context() -> None:
    small = lookup_model("Qwen3-0.6B")
    assert small is not None
    fit = check_memory_fit(small, 65536, 80, 0.9, 1)
    assert fit.fits  # memory is not the problem at 65536...
    assert fit.max_model_len_that_fits == 40960  # ...but the model's context is
    assert exceeds_native_context(small, 65536)
    assert not exceeds_native_context(small, 40960)
    assert not exceeds_native_context(ModelFacts(1.0, 2, 1, 64), 10**7)


def test_overhead_reduces_available_memory() -> None:
    vl = lookup_model("Qwen3-VL-2B-Instruct")
    assert vl is not None
    plain = check_memory_fit(vl, 8192, 24, 0.9, 1)
    reserved = check_memory_fit(vl, 8192, 24, 0.9, 1, overhead_gib_per_gpu=2.5)
    assert reserved.available_gib == pytest.approx(plain.available_gib - 2.5)
    assert reserved.max_model_len_that_fits < plain.max_model_len_that_fits


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_model_len": 0},
        {"tensor_parallel_size": 0},
        {"gpu_memory_utilization": 0.0},
        {"gpu_memory_utilization": 1.5},
    ],
)
def test_invalid_inputs(kwargs: dict[str, float]) -> None:
    facts = ModelFacts(1.0, 2, 1, 64)
    args: dict[str, float] = {
        "max_model_len": 1024, "gpu_memory_gib": 24, "gpu_memory_utilization": 0.9,
        "tensor_parallel_size": 1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        check_memory_fit(facts, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("model", "gated"), [
    ("meta-llama/Llama-3.1-8B-Instruct", True), ("meta-llama/Llama-3.2-1B", True),
    ("mistralai/Mistral-7B-Instruct-v0.3", True), ("mistralai/Mixtral-8x7B-Instruct-v0.1", True),
    ("Qwen/Qwen2.5-7B-Instruct", False), ("Qwen/Qwen3-0.6B", False),
])
def test_gated_models(model: str, gated: bool) -> None:
    assert is_gated(model) is gated
