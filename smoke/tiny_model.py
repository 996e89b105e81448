"""A tiny Llama-architecture model generated at run time (docs/smoke.md).

No network: the tokenizer is trained in memory on a few sentences (byte-level BPE, so any text
encodes) and the weights are random. vLLM's CPU attention needs head_dim 64: hidden 128 with 2
heads, 1 KV head, 2 layers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast


class TinyModelError(Exception):
    """The tiny model could not be generated."""


# A Llama-3-like chat template reduced to what the OpenAI chat endpoint needs.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start|>{{ message['role'] }}\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|start|>", "<|end|>"]
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Smoke checks tell whether an endpoint really works after deployment.",
    "Hello! How can I help you today? Say hello in one short sentence.",
    "Kubernetes schedules pods on nodes; vLLM serves models over an OpenAI API.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"-()[]{}",
]
_MARKER = "tiny-model.json"  # written last, so a half-written directory is regenerated


def generate_tiny_model(directory: Path, max_position_embeddings: int = 4096) -> Path:
    """Write tokenizer, config and random weights into `directory` (reused when complete).

    Built in a sibling directory and renamed into place, so a concurrent run or an engine
    reading the directory never sees half a model. A non-empty directory that is not a
    generated model is left alone (it may be someone's real model)."""
    directory = Path(directory)
    if (directory / _MARKER).is_file():
        return directory
    if directory.is_dir() and any(directory.iterdir()):
        raise TinyModelError(f"{directory} exists and is not a generated tiny model; "
                               "pass an empty or new --model-dir")
    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        vocab_size = _write_tokenizer(building)
        _write_weights(building, vocab_size, max_position_embeddings)
        (building / _MARKER).write_text(json.dumps({"vocab_size": vocab_size}), encoding="utf-8")
        with contextlib.suppress(OSError):  # another run finished first: use its model
            os.rename(building, directory)  # atomic; replaces only an empty directory
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if not (directory / _MARKER).is_file():
        raise TinyModelError(f"could not create the tiny model in {directory}")
    return directory


def _write_tokenizer(directory: Path) -> int:
    # Imported lazily: these are the optional "engines" dependencies.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(str(directory))
    return int(tokenizer.get_vocab_size())


def _write_weights(directory: Path, vocab_size: int, max_positions: int) -> None:
    # Imported lazily: these are the optional "engines" dependencies.
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep the terminal for our own messages

    torch.manual_seed(0)  # same weights every run, so a regenerated model behaves the same
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=max_positions,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    # cast: transformers' decorated `to` confuses mypy; bf16 is what vLLM's CPU path runs.
    model = cast(Any, LlamaForCausalLM(config)).to(torch.bfloat16)
    model.save_pretrained(str(directory), safe_serialization=True)
