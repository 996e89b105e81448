"""Benchmark prompts: synthetic ones of controlled length, or a JSONL dataset.

The client has no tokenizer for a deployed model, so synthetic prompts are built from common
English words, and their length is set in *server* tokens: the benchmark asks the server how many
prompt tokens (`usage.prompt_tokens`, chat template included) two probe prompts cost, fits
tokens = overhead + per_word x words, and sizes every prompt from that fit. Without calibration
one word is taken as one token (true for these words in the Llama 3, Qwen and Mistral
tokenizers). Every prompt is different (seeded per index), so prefix caching cannot make one
request cheaper than another, and the same seed gives the same prompts.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WORD_TEXT = (
    "time year people way day man thing woman life child world school state family student "
    "group country problem hand part place case week company system program question work "
    "government number night point home water room mother area money story fact month lot "
    "right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city community name president team minute idea "
    "kid body information back parent face others level office door health person art war "
    "history party result change morning reason research girl guy moment air teacher force "
    "education foot boy age policy music market sense nation plan college interest death "
    "experience effect use class control care field development role effort rate heart drug "
    "show leader light voice wife police mind price report decision son view relationship town "
    "road arm difference value building action model season society tax director position "
    "player record paper space ground form event official matter center couple site project "
    "activity star table need court oil situation cost industry figure street image phone data "
    "picture practice piece land product doctor wall patient worker news test movie north love"
)
WORDS = tuple(_WORD_TEXT.split())


class DatasetError(Exception):
    """The dataset file cannot be used (a usage error, exit 2)."""


@dataclass(frozen=True)
class Prompt:
    """One request's input: a user text or full chat messages, and its output budget."""

    text: str | None = None
    messages: tuple[dict[str, Any], ...] | None = None
    output_tokens: int | None = None  # None: use the run's --output-tokens


@dataclass(frozen=True)
class LengthFit:
    """Server prompt tokens as a function of words: overhead + per_word * words."""

    overhead: float = 0.0
    per_word: float = 1.0

    def words_for(self, tokens: int) -> int:
        return max(1, round((tokens - self.overhead) / self.per_word))

    @classmethod
    def from_probes(cls, words_a: int, tokens_a: int, words_b: int, tokens_b: int) -> LengthFit:
        if words_a == words_b or tokens_b <= tokens_a:
            raise ValueError("length probes must differ in words and tokens")
        per_word = (tokens_b - tokens_a) / (words_b - words_a)
        return cls(overhead=tokens_a - per_word * words_a, per_word=per_word)


def synthetic_text(seed: int, index: int, words: int) -> str:
    """`words` random common words, the same for the same (seed, index)."""
    # A per-index generator: prompts can be made lazily (duration mode) and stay reproducible.
    rng = random.Random(seed * 1_000_003 + index)
    return " ".join(rng.choices(WORDS, k=words))


class PromptSource:
    """Prompt `i` of a run: synthetic (seeded, sized by a LengthFit) or cycled from a dataset."""

    def __init__(self, seed: int, input_tokens: int, dataset: list[Prompt] | None = None):
        if dataset is not None and not dataset:
            raise DatasetError("dataset has no prompts")
        self.seed = seed
        self.input_tokens = input_tokens
        self.dataset = dataset
        self.fit = LengthFit()

    @property
    def synthetic(self) -> bool:
        return self.dataset is None

    def get(self, index: int) -> Prompt:
        if self.dataset is not None:
            return self.dataset[index % len(self.dataset)]
        words = self.fit.words_for(self.input_tokens)
        return Prompt(text=synthetic_text(self.seed, index, words))


def load_jsonl(path: str | Path) -> list[Prompt]:
    """Read a JSONL dataset: one object per line with `prompt` (text) or `messages` (chat).

    Optional `output_tokens` (or `max_tokens`) per line overrides --output-tokens. Blank lines
    and lines starting with `#` are skipped. Errors name the file and line.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"--dataset {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DatasetError(f"--dataset {path}: not UTF-8 text") from None
    prompts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        prompts.append(_parse_line(line, f"{path}:{number}"))
    if not prompts:
        raise DatasetError(f"--dataset {path}: no prompts (expected JSON lines)")
    return prompts


def _parse_line(line: str, where: str) -> Prompt:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a JSON object with 'prompt' or 'messages'")
    budget = item.get("output_tokens", item.get("max_tokens"))
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)
                               or budget < 1):
        raise DatasetError(f"{where}: output_tokens must be a positive integer")
    text, messages = item.get("prompt"), item.get("messages")
    if (text is None) == (messages is None):
        raise DatasetError(f"{where}: give exactly one of 'prompt' or 'messages'")
    if text is not None:
        if not isinstance(text, str) or not text:
            raise DatasetError(f"{where}: 'prompt' must be a non-empty string")
        return Prompt(text=text, output_tokens=budget)
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
        for m in messages
    ):
        raise DatasetError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    return Prompt(messages=tuple(messages), output_tokens=budget)


def probe_word_counts(input_tokens: int) -> tuple[int, int]:
    """Two prompt sizes (in words) for calibration, bracketing the target length."""
    high = max(8, input_tokens)
    return max(1, math.ceil(high / 4)), high
