"""The load generator against a scripted streaming server: parsing, errors, load shapes."""

from __future__ import annotations

import asyncio
import math
import socket

import aiohttp
import pytest

from smoke.loadgen import (
    Client,
    LoadSpec,
    RequestInput,
    RequestOutput,
    Target,
    Timeouts,
    _token_text,
    arrival_offsets,
    run_load,
)
from smoke.metrics import summarize
from smoke.prompts import Prompt
from tests.bench.conftest import API_KEY, FakeServer

pytestmark = pytest.mark.timeout(60)


def _send(server_url: str, text: str, tokens: int = 6, key: str | None = API_KEY,
          timeouts: Timeouts | None = None) -> RequestOutput:
    async def go() -> RequestOutput:
        async with aiohttp.ClientSession() as session:
            client = Client(session, Target(server_url, "fake", key), timeouts or Timeouts())
            out = RequestOutput(success=False)
            await client.send(RequestInput(0, Prompt(text=text), tokens), out, 0.0)
            return out
    return asyncio.run(go())


def test_token_text_classification() -> None:
    role_only = {"choices": [{"delta": {"role": "assistant", "content": ""}}]}
    held_back = {"choices": [{"delta": {"content": ""}}]}
    closing = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
    usage_only = {"choices": [], "usage": {"completion_tokens": 3}}
    assert _token_text(role_only) is None
    assert _token_text(held_back) == ""
    assert _token_text(closing) is None
    assert _token_text(usage_only) is None
    assert _token_text({"choices": [{"delta": {"role": "assistant", "content": "Hi"}}]}) == "Hi"
    assert _token_text({"choices": [{"text": "a"}]}) == "a"


def test_stream_role_chunk_not_first_token(fake_server: FakeServer) -> None:
    out = _send(fake_server.base_url, "hello world", tokens=6)
    assert out.success, out.error
    assert out.chunks == 6  # the role-only chunk is not counted
    assert out.output_tokens == 6 and out.prompt_tokens == 7
    assert out.token_times[0] > out.sent
    body = fake_server.state.requests[-1]
    assert body["stream_options"] == {"include_usage": True} and body["ignore_eos"] is True
    assert body["max_tokens"] == 6 and body["model"] == "fake"


def test_split_lines_and_multi_token_chunks(fake_server: FakeServer) -> None:
    out = _send(fake_server.base_url, "split-lines multi-token", tokens=7)
    assert out.success, out.error
    assert out.chunks == 4 and out.output_tokens == 7 and out.output_chars == 7


@pytest.mark.parametrize(("text", "key", "kind"), [
    ("server-error", API_KEY, "http_500"),
    ("fine", "wrong-key", "http_401"),
    ("cut-stream", API_KEY, "incomplete_stream"),
])
def test_errors_by_kind(fake_server: FakeServer, text: str, key: str, kind: str) -> None:
    out = _send(fake_server.base_url, text, key=key)
    assert not out.success and out.error_kind == kind


def test_read_timeout_is_bounded(fake_server: FakeServer) -> None:
    fake_server.state.delay_s = 2.0
    out = _send(fake_server.base_url, "slow", tokens=3,
                timeouts=Timeouts(connect=1, read=0.2, total=5))
    assert not out.success and out.error_kind == "timeout"


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens here
    out = _send(f"http://127.0.0.1:{port}", "x", timeouts=Timeouts(connect=2, read=2, total=5))
    assert not out.success and out.error_kind == "connect"


def _run(server: FakeServer, spec: LoadSpec):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            client = Client(session, Target(server.base_url, "fake", API_KEY), Timeouts())
            return await run_load(
                client, spec, lambda i: RequestInput(i, Prompt(text=f"p {i}"), 5))
    return asyncio.run(go())


def test_closed_loop_respects_concurrency(fake_server: FakeServer) -> None:
    result = _run(fake_server, LoadSpec(concurrency=3, num_requests=12, warmup=2))
    assert [o.index for o in result.outputs] == list(range(12))
    assert all(o.success for o in result.outputs)
    assert fake_server.state.max_in_flight == 3
    assert len(fake_server.state.requests) == 14  # warmup sent, not reported
    assert result.client_cpu_s > 0 and result.duration_s > 0


def test_open_loop_cap_shows_client_queue_time(fake_server: FakeServer) -> None:
    fake_server.state.delay_s = 0.02
    spec = LoadSpec(rate=math.inf, max_concurrency=2, num_requests=6, warmup=0)
    result = _run(fake_server, spec)
    assert fake_server.state.max_in_flight <= 2
    summary = summarize(result.outputs, result.duration_s, None)
    assert summary.success_rate == 1.0
    # All six were due at t=0 but only two could be in flight: the rest waited in the client.
    assert summary.client_queue_ms.max > 100.0


def test_duration_mode_stops_sending(fake_server: FakeServer) -> None:
    result = _run(fake_server, LoadSpec(concurrency=2, num_requests=None, duration=0.3,
                                        warmup=0))
    assert result.outputs and all(o.dispatched < 0.3 for o in result.outputs)


def test_arrivals_are_seeded_and_rescaled() -> None:
    a = list(arrival_offsets(10.0, 1.0, 42, 200))
    assert a == list(arrival_offsets(10.0, 1.0, 42, 200))
    assert a != list(arrival_offsets(10.0, 1.0, 43, 200))
    assert a[-1] == pytest.approx(20.0) and a == sorted(a)
    bursty = list(arrival_offsets(10.0, 0.25, 42, 200))
    # gamma shape k gives gaps with coefficient of variation 1/sqrt(k): 1 (Poisson), 2 (k=0.25)
    assert 0.7 < _cv(_gaps(a)) < 1.3
    assert _cv(_gaps(bursty)) > 1.5
    assert list(arrival_offsets(math.inf, 1.0, 0, 3)) == [0.0, 0.0, 0.0]


def _cv(values: list[float]) -> float:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(var) / mean


def _gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *offsets], offsets, strict=False)]
