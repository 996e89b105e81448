"""SSE parser: reads split anywhere, role-only and usage-only chunks, errors mid-stream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smoke.check import _count_event
from smoke.sse import DONE, SSEError, SSEParser, content_of


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], choices: bool = True) -> dict[str, Any]:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta}] if choices else []}


ROLE_ONLY = _chunk({"role": "assistant", "content": ""})
USAGE_ONLY = {**_chunk({}, choices=False), "usage": {"completion_tokens": 2}}
STREAM = (
    _event(ROLE_ONLY)
    + _event(_chunk({"content": "Héllo"}))  # multi-byte UTF-8, split below mid-character
    + b": keep-alive comment\n\n"
    + _event(_chunk({"content": " wörld"}))
    + _event(USAGE_ONLY)
    + b"data: [DONE]\n\n"
)


def _parse(pieces: list[bytes]) -> list[Any]:
    parser = SSEParser()
    events: list[Any] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.close())
    return events


def test_whole_stream_yields_every_event_in_order() -> None:
    events = _parse([STREAM])
    assert events[0] == ROLE_ONLY
    assert [content_of(e) for e in events[1:3]] == ["Héllo", " wörld"]
    assert events[3] == USAGE_ONLY
    assert events[4] == DONE
    assert len(events) == 5


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunks_split_across_reads_give_the_same_events(size: int) -> None:
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert _parse(pieces) == _parse([STREAM])


def test_crlf_line_endings_and_multi_line_data() -> None:
    raw = b'data: {"choices": [{"delta":\r\ndata:  {"content": "x"}}]}\r\n\r\ndata: [DONE]\r\n\r\n'
    events = _parse([raw])
    assert content_of(events[0]) == "x"
    assert events[1] == DONE


def test_unterminated_last_event_is_flushed_by_close() -> None:
    parser = SSEParser()
    assert list(parser.feed(b"data: [DONE]")) == []
    assert list(parser.close()) == [DONE]


def test_role_only_first_chunk_is_not_content_and_not_ttft() -> None:
    stats: dict[str, Any] = {"content_chunks": 0, "ttft_ms": None, "usage": None, "done": False}
    _count_event(ROLE_ONLY, stats, start=0.0)
    assert content_of(ROLE_ONLY) == ""
    assert stats["content_chunks"] == 0
    assert stats["ttft_ms"] is None
    _count_event(_chunk({"content": "a"}), stats, start=0.0)
    assert stats["content_chunks"] == 1
    assert stats["ttft_ms"] is not None


def test_usage_only_last_chunk_records_usage_without_content() -> None:
    stats: dict[str, Any] = {"content_chunks": 0, "ttft_ms": None, "usage": None, "done": False}
    _count_event(USAGE_ONLY, stats, start=0.0)
    assert content_of(USAGE_ONLY) == ""
    assert stats["usage"] == {"completion_tokens": 2}
    assert stats["content_chunks"] == 0
    _count_event(DONE, stats, start=0.0)
    assert stats["done"] is True


def test_error_event_mid_stream_raises_after_earlier_events() -> None:
    parser = SSEParser()
    good = _event(_chunk({"content": "ok"}))
    error = _event({"error": {"message": "engine overloaded", "code": 503}})
    seen: list[Any] = []
    with pytest.raises(SSEError, match="engine overloaded"):
        for event in parser.feed(good + error + b"data: [DONE]\n\n"):
            seen.append(event)
    assert [content_of(e) for e in seen] == ["ok"]


def test_non_json_payload_is_an_error() -> None:
    with pytest.raises(SSEError, match="not JSON"):
        _parse([b"data: <html>502 Bad Gateway</html>\n\n"])
