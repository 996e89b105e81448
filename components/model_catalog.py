"""Model facts and the R9 memory-fit check (pure, no Pulumi).

R9 from the field: a model with a 262,144-token context OOMed at start-up ("28.00 GiB KV cache
is needed, which is larger than the available KV cache memory (13.69 GiB)"). That is
Qwen3-VL-2B-Instruct: 2 (K and V) x 28 layers x 8 KV heads x 128 head_dim x 2 bytes = 112 KiB
per token, x 262,144 tokens = exactly 28 GiB. The check below catches that at preview time.

Numbers are the models' own `config.json` values on the Hugging Face Hub (repo named on each
entry; VL models keep them under `text_config`). Parameter counts are the model cards' totals
(tied embeddings counted once, as vLLM loads them once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3

# vLLM allocates KV cache in blocks (16 tokens by default on CUDA; some attention backends
# and hybrid models use 32/64/128+). Rounding the suggested length down to a multiple of 256
# keeps it block-aligned for all of them and readable, and leaves a little slack for an
# estimate that cannot be byte-exact.
_LEN_ROUNDING = 256


@dataclass(frozen=True)
class ModelFacts:
    parameters_b: float  # billions, total (MoE: total params, all experts are resident)
    num_layers: int
    num_kv_heads: int
    head_dim: int
    dtype_bytes: int = 2  # weights bf16/fp16
    max_context: int | None = None  # model's native max_position_embeddings


# Keyed by the lower-cased last path segment of the HF id. Aliases below add other ids whose
# architecture AND config are identical; variants whose context differs get their own entry.
_CATALOG: dict[str, ModelFacts] = {
    # Qwen/Qwen3-0.6B config.json: num_hidden_layers 28, num_key_value_heads 8, head_dim 128,
    # max_position_embeddings 40960, tie_word_embeddings true. Card: 0.6B parameters.
    "qwen3-0.6b": ModelFacts(0.6, 28, 8, 128, max_context=40960),
    # Qwen/Qwen3-4B config.json: num_hidden_layers 36, num_key_value_heads 8, head_dim 128,
    # max_position_embeddings 40960, tied embeddings. Card: 4.0B (4.02B) parameters.
    "qwen3-4b": ModelFacts(4.02, 36, 8, 128, max_context=40960),
    # Qwen/Qwen3-4B-Instruct-2507 config.json: same architecture as Qwen3-4B, but
    # max_position_embeddings 262144 ("262,144 natively" on the card).
    "qwen3-4b-instruct-2507": ModelFacts(4.02, 36, 8, 128, max_context=262144),
    # Qwen/Qwen2.5-7B-Instruct config.json: num_hidden_layers 28, num_attention_heads 28,
    # num_key_value_heads 4, hidden_size 3584 -> head_dim 128, max_position_embeddings 32768.
    # Card: 7.61B parameters.
    "qwen2.5-7b-instruct": ModelFacts(7.61, 28, 4, 128, max_context=32768),
    # meta-llama/Llama-3.1-8B-Instruct config.json: num_hidden_layers 32,
    # num_attention_heads 32, num_key_value_heads 8, hidden_size 4096 -> head_dim 128,
    # max_position_embeddings 131072. Card: 8.03B parameters.
    "llama-3.1-8b-instruct": ModelFacts(8.03, 32, 8, 128, max_context=131072),
    # mistralai/Mistral-7B-Instruct-v0.3 config.json: num_hidden_layers 32,
    # num_key_value_heads 8, head_dim 128, max_position_embeddings 32768. 7.25B parameters.
    "mistral-7b-instruct-v0.3": ModelFacts(7.25, 32, 8, 128, max_context=32768),
    # mistralai/Mixtral-8x7B-Instruct-v0.1 config.json: num_hidden_layers 32,
    # num_key_value_heads 8, head_dim 128 (4096/32), num_local_experts 8,
    # max_position_embeddings 32768. 46.7B total parameters (12.9B active); all experts
    # are resident in GPU memory, so the total is what counts for fit.
    "mixtral-8x7b-instruct-v0.1": ModelFacts(46.7, 32, 8, 128, max_context=32768),
    # Qwen/Qwen3-VL-2B-Instruct config.json text_config: num_hidden_layers 28,
    # num_attention_heads 16, num_key_value_heads 8, head_dim 128, hidden_size 2048,
    # max_position_embeddings 262144 (matches the R9 incident's 28.00 GiB exactly).
    # ~2.13B parameters: ~1.72B text (tied embeddings) + ~0.41B vision encoder/mergers.
    "qwen3-vl-2b-instruct": ModelFacts(2.13, 28, 8, 128, max_context=262144),
}

# Same weights layout and config as the key's entry (base vs instruct checkpoints of the same
# release share config.json except where noted above).
_ALIASES: dict[str, str] = {
    "llama-3.1-8b": "llama-3.1-8b-instruct",
    "meta-llama-3.1-8b-instruct": "llama-3.1-8b-instruct",  # the repo's pre-rename id
    "mistral-7b-v0.3": "mistral-7b-instruct-v0.3",
    "mixtral-8x7b-v0.1": "mixtral-8x7b-instruct-v0.1",
    # Qwen3-4B-Thinking-2507 shares the 2507 config (262144 context).
    "qwen3-4b-thinking-2507": "qwen3-4b-instruct-2507",
    "qwen3-vl-2b-thinking": "qwen3-vl-2b-instruct",
}

_INSTRUCT_SUFFIX = re.compile(r"-instruct(-\d{4})?$")

# Gated on the Hugging Face hub: downloading needs a token of an account that accepted the
# model's license (the model pages of meta-llama/Llama-3.1-8B-Instruct,
# mistralai/Mistral-7B-Instruct-v0.3 and mistralai/Mixtral-8x7B-Instruct-v0.1 ask to "agree to
# share your contact information"). Every meta-llama repository is gated.
_GATED: frozenset[str] = frozenset({
    "llama-3.1-8b-instruct", "mistral-7b-instruct-v0.3", "mixtral-8x7b-instruct-v0.1",
})
_GATED_ORGS: frozenset[str] = frozenset({"meta-llama"})


def _model_key(model_id: str) -> str:
    # Accept HF ids ("Qwen/Qwen3-0.6B"), bare names, and paths/URIs
    # ("s3://bucket/models/Qwen3-0.6B/", "/opt/ml/model/Qwen3-0.6B").
    return model_id.strip().rstrip("/").rsplit("/", 1)[-1].lower()


def lookup_model(model_id: str) -> ModelFacts | None:
    """Facts for an HF id or its last path segment, case-insensitive; None when unknown."""
    key = _model_key(model_id)
    if not key:
        return None
    key = _ALIASES.get(key, key)
    if key in _CATALOG:
        return _CATALOG[key]
    # "Qwen3-0.6B-Instruct"-style spellings of a model whose canonical id has no suffix.
    stripped = _INSTRUCT_SUFFIX.sub("", key)
    if stripped != key and stripped in _CATALOG:
        return _CATALOG[stripped]
    return None


def is_gated(model_id: str) -> bool:
    """True for a Hugging Face model that cannot be downloaded without a token."""
    parts = model_id.strip().strip("/").split("/")
    if len(parts) == 2 and parts[0].lower() in _GATED_ORGS:
        return True
    key = _model_key(model_id)
    return _ALIASES.get(key, key) in _GATED


def known_models() -> list[str]:
    """Catalog keys (lower-case last path segments), sorted, for error messages."""
    return sorted(_CATALOG)


def kv_cache_bytes_per_token(facts: ModelFacts, kv_dtype_bytes: int = 2) -> int:
    """K and V for every layer and KV head: 2 * layers * kv_heads * head_dim * bytes."""
    return 2 * facts.num_layers * facts.num_kv_heads * facts.head_dim * kv_dtype_bytes


def weights_bytes(facts: ModelFacts) -> int:
    return int(facts.parameters_b * 1e9 * facts.dtype_bytes)


def exceeds_native_context(facts: ModelFacts, max_model_len: int) -> bool:
    """vLLM refuses a max_model_len above max_position_embeddings (unless overridden)."""
    return facts.max_context is not None and max_model_len > facts.max_context


@dataclass(frozen=True)
class FitResult:
    fits: bool
    required_gib: float
    available_gib: float
    weights_gib: float
    kv_gib: float
    max_model_len_that_fits: int  # 0 when even the weights do not fit


def check_memory_fit(
    facts: ModelFacts,
    max_model_len: int,
    gpu_memory_gib: float,
    gpu_memory_utilization: float,
    tensor_parallel_size: int,
    kv_dtype_bytes: int = 2,
    overhead_gib_per_gpu: float = 0.0,
) -> FitResult:
    """R9: weights + KV cache for ONE max_model_len sequence within memory x utilization x TP.

    vLLM refuses to start unless at least one full-length sequence fits in the KV cache, so
    this is the minimum; concurrency (max_num_seqs) only needs more blocks, which vLLM
    handles by queueing. Totals are summed over the TP group: weights and KV heads are
    sharded across ranks. When TP exceeds the KV head count, vLLM replicates KV heads so
    every rank holds one, which multiplies the KV cache by tp / kv_heads.

    `overhead_gib_per_gpu` reserves memory vLLM uses besides weights and KV cache
    (activation peak during profiling, CUDA graphs, NCCL/cuBLAS workspaces). It defaults to
    0 (the rule as written); the R9 incident implies about 2.5 GiB on an A10G once the gap
    between the nominal 24 GB and the ~22.5 GiB CUDA reports is included.
    """
    if max_model_len <= 0:
        raise ValueError(f"max_model_len must be positive, got {max_model_len}")
    if tensor_parallel_size <= 0:
        raise ValueError(f"tensor_parallel_size must be positive, got {tensor_parallel_size}")
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")

    kv_replication = max(tensor_parallel_size, facts.num_kv_heads) / facts.num_kv_heads
    per_token = kv_cache_bytes_per_token(facts, kv_dtype_bytes) * kv_replication
    weights = weights_bytes(facts)
    kv = per_token * max_model_len
    available = (
        gpu_memory_gib * gpu_memory_utilization - overhead_gib_per_gpu
    ) * tensor_parallel_size * GIB

    room_for_kv = available - weights
    if room_for_kv <= 0:
        max_len = 0
    else:
        max_len = int(room_for_kv // per_token) // _LEN_ROUNDING * _LEN_ROUNDING
        if facts.max_context is not None:
            # Longer than the model's own context is never the answer, even if it fits.
            max_len = min(max_len, facts.max_context)

    return FitResult(
        fits=weights + kv <= available,
        required_gib=(weights + kv) / GIB,
        available_gib=available / GIB,
        weights_gib=weights / GIB,
        kv_gib=kv / GIB,
        max_model_len_that_fits=max_len,
    )
