"""Incremental parser for OpenAI-style server-sent events (streamed chat completions).

Network reads split lines anywhere, so bytes are buffered until a full line arrives; an event
ends at a blank line. The parser yields decoded JSON payloads and a final `DONE` marker; an
`error` payload mid-stream is surfaced as `SSEError` rather than being mistaken for content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


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
                return
            raw = bytes(self._buffer[:newline]).rstrip(b"\r")
            del self._buffer[: newline + 1]
            event = self._line(raw.decode("utf-8"))
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
    except json.JSONDecodeError as exc:
        raise SSEError(f"stream event is not JSON: {payload[:80]!r}") from exc
    if not isinstance(data, dict):
        raise SSEError(f"stream event is not a JSON object: {payload[:80]!r}")
    if "error" in data and "choices" not in data:
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise SSEError(f"error event mid-stream: {message}")
    return data


def content_of(event: dict[str, Any]) -> str:
    """Text carried by a chat or completion chunk ('' for role-only or usage-only chunks)."""
    choices = event.get("choices") or []
    if not choices:
        return ""
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content") or delta.get("reasoning_content") or choice.get("text") or ""
    return str(text)
