"""Async load generator for OpenAI-compatible streaming endpoints.

One aiohttp session (one connection pool) serves a whole run. A load point is either closed
loop (N workers, each sends its next request as soon as the previous one finished) or open loop
(arrivals from a seeded Poisson or gamma process, optionally under a concurrency cap). Every
request records when it was due, when the client got to it and when it was sent, so client
queueing and lateness are reported instead of hidden inside latency. Timestamps are taken once
per network read with `time.perf_counter`, before parsing, so parsing cost never shows up as
server latency. The client also samples its own event-loop lag and CPU time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from smoke.metrics import Timeline
from smoke.prompts import Prompt
from smoke.redact import Redactor
from smoke.sse import DONE, SSEError, SSEParser, first_choice, usage_count

Api = Literal["chat", "completions"]


@dataclass(frozen=True)
class Target:
    """Where and how to send: base URL without /v1, served model name, key, request shape."""

    base_url: str
    model: str
    api_key: str | None = None
    api: Api = "chat"
    ignore_eos: bool = True

    @property
    def url(self) -> str:
        path = "/v1/chat/completions" if self.api == "chat" else "/v1/completions"
        return self.base_url.rstrip("/") + path


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0  # TCP/TLS connect
    # Longest silence within one stream (R20); keep-alive comments do not count as an answer.
    read: float = 30.0
    total: float = 600.0  # one whole request
    max_body_bytes: int = 16 * 1024 * 1024  # one whole answer: an endless stream is an error


@dataclass
class RequestInput:
    """One request to send (cf. vLLM's RequestFuncInput)."""

    index: int
    prompt: Prompt
    output_tokens: int


@dataclass
class RequestOutput(Timeline):
    """What happened to one request (cf. vLLM's RequestFuncOutput); times relative to t0."""

    index: int = 0
    error: str = ""
    http_status: int | None = None
    chunks: int = 0
    output_chars: int = 0


@dataclass(frozen=True)
class LoadSpec:
    """A load point: closed loop at `concurrency`, or open loop at `rate` requests/s."""

    concurrency: int | None = None
    rate: float | None = None
    burstiness: float = 1.0  # gamma shape; 1 = Poisson
    max_concurrency: int | None = None  # cap for open loop
    num_requests: int | None = 100
    duration: float | None = None  # seconds; replaces num_requests
    warmup: int = 4
    seed: int = 0

    @property
    def label(self) -> str:
        if self.concurrency is not None:
            return f"c={self.concurrency}"
        rate = "inf" if self.rate is None or math.isinf(self.rate) else f"{self.rate:g}"
        cap = f",cap={self.max_concurrency}" if self.max_concurrency else ""
        return f"rate={rate}{cap}"


@dataclass
class LoadResult:
    outputs: list[RequestOutput]
    duration_s: float
    client_cpu_s: float
    loop_lag_ms: list[float] = field(default_factory=list)


def build_payload(target: Target, request: RequestInput) -> bytes:
    body: dict[str, Any] = {
        "model": target.model,
        "max_tokens": request.output_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    prompt = request.prompt
    if target.api == "chat":
        body["messages"] = (list(prompt.messages) if prompt.messages is not None
                            else [{"role": "user", "content": prompt.text}])
    else:
        if prompt.text is None:
            raise ValueError("the completions API needs text prompts, not chat messages")
        body["prompt"] = prompt.text
    if target.ignore_eos:
        body["ignore_eos"] = True  # vLLM and SGLang: generate exactly max_tokens
    return json.dumps(body).encode()


def _token_text(event: dict[str, Any]) -> str | None:
    """Text of a token chunk ('' when a token's text is held back), None when not a token."""
    choice = first_choice(event)
    if choice is None:
        return None  # usage-only chunk, or choices of a shape that carries no token
    delta = choice.get("delta")
    if delta is None:
        text = choice.get("text")  # completions API
        return text if isinstance(text, str) else None
    if not isinstance(delta, dict):
        return None
    content = delta.get("content") or delta.get("reasoning_content") or ""
    if not isinstance(content, str):
        return None
    if content or delta.get("tool_calls"):
        return str(content)
    if "role" in delta or "content" not in delta:
        return None  # role-only first chunk, or an empty closing delta
    return ""  # a token whose bytes do not yet form text (incremental detokenizing)


class StreamAbort(Exception):
    """The answer broke a limit of the client (size, silence); `kind` names which."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Client:
    """Sends streaming requests over one shared session and fills RequestOutputs.

    Every request ends with success or an `error_kind`, whatever the server does: each
    exception a server can cause is mapped to a kind, and error texts are redacted before they
    are cut to length (a cut could otherwise keep half of an echoed key).
    """

    def __init__(self, session: aiohttp.ClientSession, target: Target, timeouts: Timeouts):
        self.session = session
        self.target = target
        self.limits = timeouts
        self.timeout = aiohttp.ClientTimeout(
            total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read
        )
        # identity: the client never inflates a body, so a compressed bomb cannot grow here.
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if target.api_key:
            self.headers["Authorization"] = f"Bearer {target.api_key}"
        self.redactor = Redactor.of([target.api_key])

    async def send(self, request: RequestInput, out: RequestOutput, t0: float) -> None:
        data = build_payload(self.target, request)
        # Taken before the request goes out: TTFT includes connecting and waiting for headers.
        out.sent = time.perf_counter() - t0
        try:
            done = await self._exchange(data, out, t0)
        except TimeoutError:
            return self._fail(out, "timeout", "no complete answer within the configured timeouts")
        except StreamAbort as exc:
            return self._fail(out, exc.kind, str(exc))
        except aiohttp.ClientConnectorError as exc:
            return self._fail(out, "connect", str(exc))
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            return self._fail(out, "disconnected", str(exc) or type(exc).__name__)
        except aiohttp.ClientError as exc:
            return self._fail(out, "client_error", f"{type(exc).__name__}: {exc}")
        except SSEError as exc:
            return self._fail(out, "stream_error", str(exc))
        except Exception as exc:
            # Last resort: one request's surprise must not end the run without a result.
            return self._fail(out, "unexpected", f"{type(exc).__name__}: {exc}")
        if done is None:
            return  # a non-200 answer, already recorded
        if not out.token_times:
            self._fail(out, "no_tokens", "stream ended without a token chunk")
        elif not done:
            self._fail(out, "incomplete_stream", "stream ended without [DONE]")
        else:
            out.success = True

    async def _exchange(self, data: bytes, out: RequestOutput, t0: float) -> bool | None:
        """Send and read one answer; True when it ended with [DONE], None for a non-200."""
        clock = time.perf_counter
        async with self.session.post(
            self.target.url, data=data, headers=self.headers, timeout=self.timeout,
            auto_decompress=False,
        ) as response:
            out.http_status = response.status
            if response.status != 200:
                detail = (await response.content.read(4096)).decode("utf-8", "replace")
                self._fail(out, f"http_{response.status}", detail.strip())
                return None
            parser = SSEParser()
            done = False
            size = 0
            last_event = clock()
            async for chunk in response.content.iter_any():
                now = clock()
                size += len(chunk)
                if size > self.limits.max_body_bytes:
                    raise StreamAbort("too_large", f"answer larger than "
                                                   f"{self.limits.max_body_bytes} bytes")
                events = list(parser.feed(chunk))
                for event in events:
                    # Anything after [DONE] is not part of the answer; it is read (the
                    # connection stays reusable) but not counted.
                    done = done or self._event(event, now - t0, out)
                if events or done:
                    last_event = now
                elif now - last_event > self.limits.read:
                    raise StreamAbort("stalled", f"no stream event for {self.limits.read:g} s "
                                                 "(only keep-alive comments)")
            if not done:
                for event in parser.close():
                    done = done or self._event(event, clock() - t0, out)
        return done

    @staticmethod
    def _event(event: dict[str, Any] | str, now: float, out: RequestOutput) -> bool:
        if event == DONE:
            return True
        if not isinstance(event, dict):
            return False
        text = _token_text(event)
        if text is not None:
            out.token_times.append(now)
            out.chunks += 1
            out.output_chars += len(text)
        usage = event.get("usage")
        completion = usage_count(usage, "completion_tokens")
        prompt = usage_count(usage, "prompt_tokens")
        out.output_tokens = out.output_tokens if completion is None else completion
        out.prompt_tokens = out.prompt_tokens if prompt is None else prompt
        return False

    def _fail(self, out: RequestOutput, kind: str, detail: str) -> None:
        out.success = False
        out.error_kind = kind
        out.error = self.redactor.excerpt(detail, 300)


def arrival_offsets(
    rate: float, burstiness: float, seed: int, count: int | None
) -> Iterator[float]:
    """Seconds from start for each arrival: gamma(shape=burstiness, mean=1/rate) gaps.

    With a request count, offsets are rescaled so the last one lands at count/rate, as vLLM
    does, so throughput does not drift with the seed. Without one (duration mode) they are
    yielded unscaled, forever.
    """
    if burstiness <= 0:
        raise ValueError("burstiness must be > 0")
    if math.isinf(rate):
        yield from (itertools.repeat(0.0) if count is None else itertools.repeat(0.0, count))
        return
    rng = random.Random(seed)
    scale = 1.0 / (rate * burstiness)
    if count is None:
        at = 0.0
        while True:
            at += rng.gammavariate(burstiness, scale)
            yield at
    offsets, at = [], 0.0
    for _ in range(count):
        at += rng.gammavariate(burstiness, scale)
        offsets.append(at)
    factor = (count / rate) / offsets[-1] if offsets and offsets[-1] > 0 else 1.0
    yield from (o * factor for o in offsets)


Progress = Callable[[int, int, int, bool], None]  # (done, failed, total or 0, final)


async def run_load(
    client: Client, spec: LoadSpec, make: Callable[[int], RequestInput],
    progress: Progress | None = None,
) -> LoadResult:
    """Warm up (not counted), then run one load point and time it."""
    if spec.warmup:
        # Warmup indexes are negative, so they never reuse a measured request's prompt.
        workers = min(spec.warmup, spec.concurrency or spec.max_concurrency or 8)
        await _closed(client, lambda i: make(-1 - i), spec.warmup, workers, None,
                      time.perf_counter(), [])
    outputs: list[RequestOutput] = []
    lags: list[float] = []
    stop = asyncio.Event()
    total = (spec.num_requests or 0) if spec.duration is None else 0
    monitor = asyncio.create_task(_monitor(stop, lags, outputs, total, progress))
    cpu0, t0 = time.process_time(), time.perf_counter()
    count = None if spec.duration is not None else spec.num_requests
    if spec.concurrency is not None:
        await _closed(client, make, count, spec.concurrency, spec.duration, t0, outputs)
    else:
        await _open(client, spec, make, count, t0, outputs)
    duration = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stop.set()
    await monitor
    outputs.sort(key=lambda o: o.index)
    return LoadResult(outputs=outputs, duration_s=duration, client_cpu_s=cpu, loop_lag_ms=lags)


async def _closed(
    client: Client, make: Callable[[int], RequestInput], count: int | None, workers: int,
    duration: float | None, t0: float, sink: list[RequestOutput],
) -> None:
    indexes = iter(range(count)) if count is not None else itertools.count()

    async def worker() -> None:
        free_at = time.perf_counter() - t0
        for index in indexes:  # shared iterator: each index goes to exactly one worker
            now = time.perf_counter() - t0
            if duration is not None and now >= duration:
                return
            out = RequestOutput(success=False, index=index, scheduled=free_at, dispatched=now)
            await client.send(make(index), out, t0)
            sink.append(out)
            free_at = time.perf_counter() - t0

    await asyncio.gather(*(worker() for _ in range(workers)))


async def send_into(client: Client, request: RequestInput, out: RequestOutput, t0: float,
                    sink: list[RequestOutput], semaphore: asyncio.Semaphore | None) -> None:
    """Send one open-loop request, within `semaphore` when given (--max-concurrency), and keep
    its result in `sink`."""
    if semaphore is None:
        await client.send(request, out, t0)
    else:
        async with semaphore:
            await client.send(request, out, t0)
    sink.append(out)


async def _open(
    client: Client, spec: LoadSpec, make: Callable[[int], RequestInput], count: int | None,
    t0: float, sink: list[RequestOutput],
) -> None:
    semaphore = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None

    tasks = []
    rate = math.inf if spec.rate is None else spec.rate
    for index, due in enumerate(arrival_offsets(rate, spec.burstiness, spec.seed, count)):
        if spec.duration is not None and due >= spec.duration:
            break
        delay = due - (time.perf_counter() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        out = RequestOutput(success=False, index=index, scheduled=due,
                            dispatched=time.perf_counter() - t0)
        tasks.append(asyncio.create_task(send_into(client, make(index), out, t0, sink, semaphore)))
    await asyncio.gather(*tasks)


LAG_TICK_S = 0.1


async def loop_lags(stop: asyncio.Event) -> AsyncIterator[tuple[float, float]]:
    """Every 100 ms until `stop`: (perf_counter when the tick began, how late it ended in ms).
    A saturated client shows it here first: its timestamps, not the server, are then late."""
    while not stop.is_set():
        before = time.perf_counter()
        try:
            await asyncio.wait_for(stop.wait(), LAG_TICK_S)
        except TimeoutError:
            yield before, max(0.0, (time.perf_counter() - before - LAG_TICK_S) * 1000.0)


async def _monitor(
    stop: asyncio.Event, lags: list[float], outputs: list[RequestOutput], total: int,
    progress: Progress | None,
) -> None:
    """Sample event-loop lag (`loop_lags`); report progress every half second."""
    ticks = 0
    async for _, lag in loop_lags(stop):
        lags.append(lag)
        ticks += 1
        if progress is not None and ticks % 5 == 0:
            progress(len(outputs), sum(1 for o in outputs if not o.success), total, False)
    if progress is not None:
        progress(len(outputs), sum(1 for o in outputs if not o.success), total, True)


def stderr_progress(label: str) -> Progress:
    """A progress line on stderr: redrawn in place on a terminal, every 10 s in a log."""
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(done: int, failed: int, total: int, final: bool) -> None:
        now = time.monotonic()
        if not tty and not final and now - last[0] < 10.0:
            return
        last[0] = now
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"  {label:>14} [{bar}] {done}/{total} failed={failed}"
        else:
            text = f"  {label:>14} {done} done, failed={failed}"
        end = "\n" if final or not tty else ""
        print(("\r" + text) if tty else text, end=end, file=sys.stderr, flush=True)

    return show
