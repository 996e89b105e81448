"""Validate an OpenAI batch input file and pick this shard's lines (standard library only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ALLOWED_URLS

MAX_REPORTED_PROBLEMS = 20
REQUIRED_KEYS = ("custom_id", "method", "url", "body")


class InvalidInput(Exception):
    """The input file breaks the batch format; `problems` are "line N: what" strings."""

    def __init__(self, problems: list[str], total_problems: int) -> None:
        more = total_problems - len(problems)
        text = "\n  ".join(problems) + (f"\n  ... and {more} more" if more > 0 else "")
        super().__init__(f"{total_problems} problem(s) in the input file:\n  {text}")
        self.problems = problems
        self.total_problems = total_problems


@dataclass(frozen=True)
class BatchRequest:
    line: int
    custom_id: str
    url: str
    body: dict[str, Any]


def _check_line(number: int, text: str, model: str | None) -> tuple[BatchRequest | None, str]:
    """The parsed request, or None and the reason (without the line prefix)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(doc, dict):
        return None, "not a JSON object"
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        return None, f"missing {', '.join(missing)}"
    unknown = sorted(set(doc) - set(REQUIRED_KEYS))
    if unknown:
        return None, f"unknown key(s) {', '.join(unknown)}"
    custom_id, body = doc["custom_id"], doc["body"]
    if not isinstance(custom_id, str) or not custom_id:
        return None, "custom_id must be a non-empty string"
    if doc["method"] != "POST":
        return None, f"method must be POST, not {doc['method']!r}"
    if doc["url"] not in ALLOWED_URLS:
        return None, f"url {doc['url']!r} is not one of {', '.join(ALLOWED_URLS)}"
    if not isinstance(body, dict):
        return None, "body must be a JSON object"
    if body.get("stream"):
        return None, "body.stream must not be true (batch answers are whole responses)"
    if model is not None and body.get("model", model) != model:
        return None, f"body.model {body.get('model')!r} is not the served model {model!r}"
    return BatchRequest(number, custom_id, doc["url"], body), ""


def validate_lines(lines: list[str], model: str | None = None) -> list[BatchRequest]:
    """Every request of the file, or InvalidInput listing the first problems with line numbers.

    Checks the whole file before anything is sent: a typo on line 90 000 must not surface after
    hours of GPU time. `model`, when given, is the served model name bodies must use (or omit).
    """
    problems: list[str] = []
    requests: list[BatchRequest] = []
    first_line_of: dict[str, int] = {}
    urls: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            problems.append(f"line {number}: empty line")
            continue
        request, why = _check_line(number, text, model)
        if request is None:
            problems.append(f"line {number}: {why}")
            continue
        if request.custom_id in first_line_of:
            problems.append(f"line {number}: custom_id {request.custom_id!r} already used on "
                            f"line {first_line_of[request.custom_id]}")
            continue
        first_line_of[request.custom_id] = number
        urls.setdefault(request.url, number)
        requests.append(request)
    if len(urls) > 1:
        seen = ", ".join(f"{url} (first on line {n})" for url, n in urls.items())
        problems.append(f"file: one url per batch file, found {seen}")
    if not requests and not problems:
        problems.append("file: no requests")
    if problems:
        raise InvalidInput(problems[:MAX_REPORTED_PROBLEMS], len(problems))
    return requests


def read_and_validate(path: Path, model: str | None = None) -> list[BatchRequest]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput([f"file: not UTF-8 ({exc.reason} at byte {exc.start})"], 1) from None
    return validate_lines(text.splitlines(), model)


def shard_of(custom_id: str, shard_count: int) -> int:
    """Stable shard of a request: a hash of its custom_id, so adding, removing or reordering
    other lines never moves a request to another shard (and another shard's output)."""
    digest = hashlib.sha256(custom_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


def shard(requests: list[BatchRequest], index: int, count: int) -> list[BatchRequest]:
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index {index} is not in 0..{count - 1}")
    return [r for r in requests if shard_of(r.custom_id, count) == index]
