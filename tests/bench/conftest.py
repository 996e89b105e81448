"""A scripted OpenAI-style streaming server (aiohttp, in-process, on loopback) for bench tests.

Behaviour per request is chosen by the prompt text, so one server covers the happy path,
role-only first chunks, multi-token chunks, split SSE lines, HTTP errors, streams cut before
[DONE], and slow streams; it also records the highest number of requests in flight. Timing is
set the same way, for ground-truth TTFT and ITL: `headers=400ms` delays the response headers,
`first=300ms` the first token (the role-only chunk goes out at once), `gap=100ms` the others.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

API_KEY = "test-key-not-secret"


@dataclass
class ServerState:
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay_s: float = 0.002  # between chunks


STATE = web.AppKey("state", ServerState)


def _millis(text: str, name: str) -> float | None:
    found = re.search(rf"\b{name}=(\d+)ms\b", text)
    return None if found is None else int(found.group(1)) / 1000.0


def _chunk(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.headers.get("Authorization") != f"Bearer {API_KEY}":
        return web.json_response({"error": {"message": "bad key"}}, status=401)
    body = await request.json()
    state.requests.append(body)
    state.headers.append(dict(request.headers))
    text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    if "server-error" in text:
        return web.json_response({"error": {"message": "boom"}}, status=500)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await asyncio.sleep(_millis(text, "headers") or 0.0)
    await response.prepare(request)
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        await _stream(response, body, text, state)
    finally:
        state.in_flight -= 1
    return response


async def _stream(response: web.StreamResponse, body: dict[str, Any], text: str,
                  state: ServerState) -> None:
    n = int(body["max_tokens"])
    prompt_tokens = len(text.split()) + 5  # 1 token per word + a 5-token template
    await response.write(_chunk(_delta({"role": "assistant", "content": ""})))
    per_chunk = 2 if "multi-token" in text else 1
    sent = 0
    first, gap = _millis(text, "first"), _millis(text, "gap")
    while sent < n:
        delay = first if sent == 0 and first is not None else gap
        await asyncio.sleep(state.delay_s if delay is None else delay)
        k = min(per_chunk, n - sent)
        data = _chunk(_delta({"content": "x" * k}, "length" if sent + k >= n else None))
        if "split-lines" in text:  # SSE line cut across writes
            await response.write(data[:7])
            await asyncio.sleep(0)
            await response.write(data[7:])
        else:
            await response.write(data)
        sent += k
    if "cut-stream" in text:
        return
    if "no-usage" not in text:
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n,
                 "total_tokens": prompt_tokens + n}
        await response.write(_chunk({"object": "chat.completion.chunk", "choices": [],
                                     "usage": usage}))
    await response.write(b"data: [DONE]\n\n")


@dataclass
class FakeServer:
    base_url: str
    state: ServerState
    port: int

    def outputs_file(self, directory: Path, slos: dict[str, Any] | None = None) -> Path:
        endpoint = {"engine": "vllm", "model": "fake/model", "served_model_name": "fake",
                    "base_url": self.base_url, "exposure": "public", "port": self.port,
                    "api_key": API_KEY, "slos": slos or {}}
        path = directory / "outputs.json"
        path.write_text(json.dumps({"schema_version": 1, "platform": "local",
                                    "endpoints": {"fake": endpoint}}))
        return path


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    state = ServerState()
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/completions", _chat)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield FakeServer(f"http://127.0.0.1:{port}", state, port)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
