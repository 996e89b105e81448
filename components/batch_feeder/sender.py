"""Send the pending requests to the engine with bounded concurrency and record each answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from .requests_file import BatchRequest
from .results import Progress, ResultLog

# Statuses that say "the engine is busy or restarting", not "this request is wrong".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class EngineUnavailable(Exception):
    """The engine did not become healthy in time or stopped answering: retry the pod later
    (the answers written so far are kept and skipped on resume)."""


@dataclass(frozen=True)
class SendOptions:
    engine_url: str
    api_key: str | None = None
    concurrency: int = 8
    request_timeout_s: float = 600.0
    health_timeout_s: float = 1800.0
    health_path: str = "/health"
    retries: int = 3
    retry_base_s: float = 1.0
    # Engine outages survived in place (each waits up to health_timeout_s for /health).
    recoveries: int = 3


def _headers(opts: SendOptions) -> dict[str, str]:
    return {"Authorization": f"Bearer {opts.api_key}"} if opts.api_key else {}


async def wait_healthy(session: aiohttp.ClientSession, opts: SendOptions) -> float:
    """Seconds until `/health` answered 200; EngineUnavailable after the deadline."""
    start = time.monotonic()
    url = opts.engine_url.rstrip("/") + opts.health_path
    last = "no answer yet"
    while time.monotonic() - start < opts.health_timeout_s:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                if response.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = type(exc).__name__
        await asyncio.sleep(1.0)
    raise EngineUnavailable(f"engine not healthy after {opts.health_timeout_s:g}s ({last})")


def answer_record(request: BatchRequest, status: int, request_id: str,
                  body: Any) -> dict[str, Any]:
    """One line of OpenAI's batch output format."""
    return {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": request.custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }


async def _send_one(session: aiohttp.ClientSession, opts: SendOptions,
                    request: BatchRequest) -> dict[str, Any]:
    """The answer record; retries busy/unreachable engines, then EngineUnavailable."""
    url = opts.engine_url.rstrip("/") + request.url
    timeout = aiohttp.ClientTimeout(total=opts.request_timeout_s)
    last = ""
    for attempt in range(opts.retries + 1):
        if attempt:
            await asyncio.sleep(opts.retry_base_s * 2 ** (attempt - 1))
        try:
            async with session.post(url, json=request.body, headers=_headers(opts),
                                    timeout=timeout) as response:
                if response.status in RETRY_STATUSES:
                    last = f"HTTP {response.status}"
                    continue
                try:
                    body: Any = await response.json(content_type=None)
                except ValueError:
                    body = {"text": await response.text()}
                request_id = response.headers.get("x-request-id") or (
                    str(body.get("id", "")) if isinstance(body, dict) else "")
                return answer_record(request, response.status, request_id, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = type(exc).__name__
    raise EngineUnavailable(f"{request.custom_id}: no answer after {opts.retries + 1} "
                            f"attempts ({last})")


class _Recovery:
    """Waits out an engine outage once for all workers.

    The engine is a sidecar the kubelet restarts when it crashes (e.g. out of memory): waiting
    for its /health again costs one model load, where failing the pod would cost the same load
    plus one of the index's few retries. Workers that failed during the same outage share one
    wait, tracked by `generation`.
    """

    def __init__(self, session: aiohttp.ClientSession, opts: SendOptions,
                 progress: Progress) -> None:
        self.session, self.opts, self.progress = session, opts, progress
        self.lock = asyncio.Lock()
        self.generation = 0
        self.left = opts.recoveries

    async def wait(self, seen: int, cause: EngineUnavailable) -> int:
        async with self.lock:
            if self.generation != seen:
                return self.generation  # another worker already waited this outage out
            if self.left <= 0:
                raise cause
            self.left -= 1
            self.progress.update(phase="waiting_for_engine")
            await wait_healthy(self.session, self.opts)
            self.progress.update(phase="sending", last_progress_at=time.time())
            self.generation += 1
            return self.generation


async def _answer(session: aiohttp.ClientSession, opts: SendOptions, request: BatchRequest,
                  recovery: _Recovery) -> dict[str, Any]:
    seen = recovery.generation
    while True:
        try:
            return await _send_one(session, opts, request)
        except EngineUnavailable as exc:
            seen = await recovery.wait(seen, exc)


async def send_all(pending: list[BatchRequest], opts: SendOptions, output: ResultLog,
                   errors: ResultLog, progress: Progress) -> None:
    """Send `pending`; 2xx answers go to `output`, other answers to `errors`.

    A fixed pool of workers bounds the engine's queue (and memory here). An engine that stops
    answering is waited for (`_Recovery`); when that fails too, the first EngineUnavailable
    cancels the rest, and the run is retried from what is on disk.
    """
    if not pending:
        return  # a resumed shard that had finished: no need to wait for the engine
    queue: asyncio.Queue[BatchRequest] = asyncio.Queue()
    for request in pending:
        queue.put_nowait(request)
    in_flight = 0

    async def worker(session: aiohttp.ClientSession, recovery: _Recovery) -> None:
        nonlocal in_flight
        while not queue.empty():
            request = queue.get_nowait()
            in_flight += 1
            progress.update(in_flight=in_flight)
            try:
                record = await _answer(session, opts, request, recovery)
            finally:
                in_flight -= 1
                progress.update(in_flight=in_flight)
            ok = 200 <= record["response"]["status_code"] < 300
            (output if ok else errors).append(record)
            progress.counted(ok)

    connector = aiohttp.TCPConnector(limit=opts.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        progress.update(phase="waiting_for_engine")
        await wait_healthy(session, opts)
        progress.update(phase="sending", last_progress_at=time.time())
        recovery = _Recovery(session, opts, progress)
        tasks = [asyncio.create_task(worker(session, recovery))
                 for _ in range(min(opts.concurrency, len(pending)))]
        try:
            await asyncio.gather(*tasks)  # raises the first worker's error as itself
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
