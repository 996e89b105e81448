"""Synthetic prompt sizing and the JSONL dataset loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from smoke.prompts import DatasetError, LengthFit, PromptSource, load_jsonl, synthetic_text


def test_synthetic_text_is_seeded_per_index() -> None:
    assert synthetic_text(0, 5, 20) == synthetic_text(0, 5, 20)
    assert synthetic_text(0, 5, 20) != synthetic_text(0, 6, 20)
    assert synthetic_text(0, 5, 20) != synthetic_text(1, 5, 20)
    assert len(synthetic_text(3, 1, 37).split()) == 37


def test_length_fit_from_probes() -> None:
    # A tokenizer spending 2 tokens per word plus a 9-token chat template.
    fit = LengthFit.from_probes(10, 29, 40, 89)
    assert (fit.overhead, fit.per_word) == (9.0, 2.0)
    assert fit.words_for(129) == 60
    assert LengthFit().words_for(128) == 128
    with pytest.raises(ValueError, match="differ"):
        LengthFit.from_probes(10, 20, 10, 20)


def test_prompt_source_uses_fit_and_dataset() -> None:
    source = PromptSource(seed=1, input_tokens=50)
    source.fit = LengthFit(overhead=10, per_word=2)
    assert len((source.get(3).text or "").split()) == 20
    data = load_jsonl_text("{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"max_tokens\": 4}\n")
    source = PromptSource(seed=1, input_tokens=50, dataset=data)
    assert [source.get(i).text for i in range(3)] == ["a", "b", "a"]
    assert source.get(1).output_tokens == 4 and not source.synthetic


def load_jsonl_text(text: str, tmp: Path | None = None) -> list:  # type: ignore[type-arg]
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "d.jsonl"
        path.write_text(text)
        return load_jsonl(path)


def test_dataset_messages_and_comments() -> None:
    prompts = load_jsonl_text(
        "# a comment\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
    assert prompts[0].messages == ({"role": "user", "content": "hi"},)


@pytest.mark.parametrize(("text", "message"), [
    ("{\"prompt\": \"ok\"}\nnot json\n", r"d.jsonl:2: not JSON"),
    ("[1, 2]\n", r"d.jsonl:1: expected a JSON object"),
    ("{\"prompt\": \"a\", \"messages\": []}\n", r"exactly one of"),
    ("{\"prompt\": \"\"}\n", r"non-empty string"),
    ("{\"messages\": [{\"content\": \"x\"}]}\n", r"role, content"),
    ("{\"prompt\": \"a\", \"output_tokens\": 0}\n", r"positive integer"),
    ("\n# only comments\n", r"no prompts"),
])
def test_dataset_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_jsonl_text(text)


def test_missing_dataset_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No such file"):
        load_jsonl(tmp_path / "absent.jsonl")
