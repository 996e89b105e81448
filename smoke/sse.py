"""Incremental parser for OpenAI-style server-sent events (streamed chat completions).

Network reads split lines anywhere, so bytes are buffered until a full line arrives; an event
ends at a blank line. The parser yields decoded JSON payloads and a final `DONE` marker; an
`error` payload mid-stream is surfaced as `SSEError` rather than being mistaken for content.
Anything a server can send that is not a well-formed stream (invalid UTF-8, a line longer than
`MAX_LINE_BYTES`, a payload that is not a JSON object) is an `SSEError` too, never another
exception, so callers have one thing to catch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"
# A chunk of a chat stream is a few hundred bytes; a line this long is not a stream.
MAX_LINE_BYTES = 1024 * 1024
_EXCERPT = 1000


class SSEError(Exception):
    """The stream carried an error event or a payload that is not JSON."""


@dataclass
class SSEParser:
    """Feed raw bytes with `feed`; iterate the events it completes."""

    _buffer: bytearray = field(default_factory=bytearray)
    _data_lines: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any] | str]:
        """Yield each complete event in `chunk`: a JSON dict, or the string `DONE`."""
        self._buffer.extend(chunk)
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise SSEError(f"stream line longer than {MAX_LINE_BYTES} bytes")
                return
            raw = bytes(self._buffer[:newline]).rstrip(b"\r")
            del self._buffer[: newline + 1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SSEError(f"stream line is not UTF-8 ({exc.reason} at byte {exc.start})") \
                    from None
            event = self._line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[dict[str, Any] | str]:
        """Flush an event left unterminated when the stream ended."""
        if self._buffer:
            yield from self.feed(b"\n")
        event = self._line("")
        if event is not None:
            yield event

    def _line(self, line: str) -> dict[str, Any] | str | None:
        if line == "":
            if not self._data_lines:
                return None
            payload = "\n".join(self._data_lines)
            self._data_lines = []
            return _decode(payload)
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data_lines.append(value[1:] if value.startswith(" ") else value)
        return None


def _decode(payload: str) -> dict[str, Any] | str:
    if payload.strip() == DONE:
        return DONE
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        # The excerpt ends the message, so a key cut in half by it is still at an edge where
        # the caller's redaction finds it; callers redact, then shorten.
        raise SSEError(f"stream event is not JSON: {payload[:_EXCERPT]}") from None
    if not isinstance(data, dict):
        raise SSEError(f"stream event is not a JSON object but {type(data).__name__}")
    if "error" in data and "choices" not in data:
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise SSEError(f"error event mid-stream: {message}")
    return data


def first_choice(event: dict[str, Any]) -> dict[str, Any] | None:
    """`choices[0]` when the event has a list of object choices, else None (no token)."""
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    return choices[0]


def usage_count(usage: Any, key: str) -> int | None:
    """`usage[key]` when it is a plain non-negative integer, else None (ignored)."""
    value = usage.get(key) if isinstance(usage, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def content_of(event: dict[str, Any]) -> str:
    """Text carried by a chat or completion chunk ('' for role-only or usage-only chunks)."""
    choice = first_choice(event)
    if choice is None:
        return ""
    delta = choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    text = delta.get("content") or delta.get("reasoning_content") or choice.get("text") or ""
    return text if isinstance(text, str) else ""
