"""Small HTTP helpers on `requests`: bounded requests, specific errors, and a readiness wait.

R20: a request to a dead endpoint once hung for 120 s. Every call here carries a connect and a
read timeout, and failures say which one happened (timeout, connection refused, other connection
error, HTTP status), because "it failed" does not tell an operator where to look.

Issue 13: per-read timeouts do not bound a server that drips a byte every few seconds, and an
endless body ends in MemoryError. So each request also has a total deadline and a body cap:
the exchange runs in a worker thread that the caller waits for at most `total_s` (no blocking
read can outlive that wait), and the body is read in bounded pieces up to `max_body_bytes`.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
import urllib3

from smoke.redact import Redactor

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_TOTAL_TIMEOUT_S = 60.0
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024

ErrorKind = Literal[
    "connect-timeout", "read-timeout", "deadline", "too-large", "refused", "connection",
    "status", "body",
]

# While an engine starts, its port refuses connections, or a proxy in front answers 502/503/504.
# Anything else (401, 404, 400...) will not fix itself by waiting, so the wait stops at once.
_STARTING_STATUSES = frozenset({502, 503, 504})
# Called with each piece of the body as it arrives and its arrival time (time.monotonic());
# returns True to stop reading (a streamed answer that is complete).
OnChunk = Callable[[bytes, float], bool]


@dataclass(frozen=True)
class Timeouts:
    """Bounds of one request: connect, silence between reads, whole request, body size."""

    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_s: float = DEFAULT_READ_TIMEOUT_S
    total_s: float = DEFAULT_TOTAL_TIMEOUT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def as_tuple(self) -> tuple[float, float]:
        # Not capped by total_s: the caller's wait enforces the deadline, and an uncapped read
        # timeout keeps the two failures apart (silence for read_s vs. no answer in total_s).
        return (self.connect_s, self.read_s)


class HttpError(Exception):
    """A request failed; `kind` says how, `status` is the HTTP status when there was one."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def starting(self) -> bool:
        """True when the failure looks like a server that is still starting up."""
        return self.kind == "refused" or self.status in _STARTING_STATUSES


@dataclass
class Reply:
    """A complete answer (status, headers, body as read), detached from the connection."""

    url: str
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def describe_exception(exc: Exception, url: str, timeouts: Timeouts) -> HttpError:
    """Map a `requests`/`urllib3` exception to an HttpError whose message names the cause."""
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return HttpError(
            "connect-timeout", f"connect timeout after {timeouts.connect_s:g} s to {url}"
        )
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError) \
            or "Read timed out" in text:  # iter_content wraps read timeouts as ConnectionError
        return HttpError(
            "read-timeout", f"read timeout: no data for {timeouts.read_s:g} s from {url}"
        )
    if isinstance(exc, requests.exceptions.ContentDecodingError | urllib3.exceptions.DecodeError):
        return HttpError("body", f"{url} sent a body that does not decode: {_last_reason(text)}")
    if isinstance(exc, requests.TooManyRedirects):
        return HttpError("status", f"{url} redirects in a loop: {_last_reason(text)}")
    if "refused" in text.lower():
        return HttpError("refused", f"connection refused by {url} (nothing listening)")
    if "Failed to resolve" in text or "Name or service not known" in text:
        return HttpError("connection", f"cannot resolve host of {url} (DNS)")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError
                  | urllib3.exceptions.ProtocolError | http.client.IncompleteRead):
        return HttpError("connection", f"connection to {url} broke mid-response")
    if isinstance(exc, requests.ConnectionError | OSError | urllib3.exceptions.HTTPError
                  | http.client.HTTPException):
        return HttpError("connection", f"connection to {url} failed: {_last_reason(text)}")
    return HttpError("connection", f"request to {url} failed: {type(exc).__name__}")


def _last_reason(text: str) -> str:
    # urllib3 nests reasons as "...(Caused by NewConnectionError(...: [Errno n] reason'))".
    reason = text.rsplit("]", 1)[-1].strip(" ')\"")
    return reason[:160] or text[:160]


def status_error(reply: Reply, redactor: Redactor) -> HttpError:
    """An HttpError for an unexpected status, with a short (redacted) excerpt of the answer."""
    hint = {
        401: " (API key missing or rejected)",
        403: " (forbidden)",
        404: " (path not served)",
    }.get(reply.status_code, "")
    body = redactor.excerpt(reply.text, 200)
    detail = f": {body}" if body else ""
    return HttpError(
        "status",
        f"HTTP {reply.status_code} from {reply.url}{hint}{detail}",
        status=reply.status_code,
    )


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    api_key: str | None = None,
    json_body: dict[str, Any] | None = None,
    expect: tuple[int, ...] | None = (200,),
    on_chunk: OnChunk | None = None,
    redactor: Redactor | None = None,
) -> Reply:
    """Send one request within `timeouts`; raise HttpError unless the status is in `expect`.

    `expect=None` returns any status (callers that test for 401 themselves). With `on_chunk`
    the body is handed over piece by piece as it arrives (and not kept in the Reply).
    """
    box: dict[str, Any] = {}
    cancel = threading.Event()

    def work() -> None:
        try:
            box["reply"] = _exchange(session, method, url, timeouts, api_key, json_body,
                                     on_chunk, cancel)
        except BaseException as exc:  # handed over to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=work, name="smoke-http", daemon=True)
    worker.start()
    worker.join(min(timeouts.total_s, threading.TIMEOUT_MAX))
    if worker.is_alive():
        # The worker stops at its next read (at most read_s away) and closes the connection;
        # nothing waits for it.
        cancel.set()
        raise HttpError("deadline", f"no complete answer within {timeouts.total_s:g} s "
                                    f"from {url} (request deadline)")
    if "error" in box:
        error = box["error"]
        if isinstance(error, HttpError):
            raise error
        if isinstance(error, Exception) and _is_transport_error(error):
            raise describe_exception(error, url, timeouts) from None
        raise error
    reply: Reply = box["reply"]
    if expect is not None and reply.status_code not in expect:
        raise status_error(reply, redactor or Redactor())
    return reply


def _is_transport_error(exc: Exception) -> bool:
    return isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError | OSError
                      | http.client.HTTPException)


def _exchange(
    session: requests.Session, method: str, url: str, timeouts: Timeouts, api_key: str | None,
    json_body: dict[str, Any] | None, on_chunk: OnChunk | None, cancel: threading.Event,
) -> Reply:
    response = session.request(method, url, headers=auth_headers(api_key), json=json_body,
                               stream=True, timeout=timeouts.as_tuple())
    with response:
        reply = Reply(url, response.status_code, dict(response.headers))
        body = bytearray()
        size = 0
        while not cancel.is_set():
            # read1 returns what one socket read brought (decompressed at most _READ_SIZE at
            # a time), so a stream is seen as it arrives and a compressed bomb stays small.
            piece = response.raw.read1(_READ_SIZE, decode_content=True)
            if not piece:
                break
            size += len(piece)
            if size > timeouts.max_body_bytes:
                raise HttpError("too-large", f"{url} sent more than {timeouts.max_body_bytes} "
                                             "bytes (body size cap)", reply.status_code)
            if on_chunk is None:
                body += piece
            elif on_chunk(piece, time.monotonic()):
                break
        reply.body = bytes(body)
    return reply


def json_of(reply: Reply, redactor: Redactor | None = None) -> Any:
    """The JSON body, or HttpError(kind="body") naming the URL when it is not JSON."""
    try:
        return json.loads(reply.body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        excerpt = (redactor or Redactor()).excerpt(reply.text, 120)
        raise HttpError("body", f"{reply.url} did not answer JSON: {excerpt!r}") from None


@dataclass
class ReadyResult:
    ready: bool
    elapsed_s: float
    attempts: int
    last_error: str | None = None
    gave_up: str | None = None  # why `give_up` stopped the wait (the process exited, ...)


def wait_ready(
    session: requests.Session,
    url: str,
    *,
    deadline_s: float,
    timeouts: Timeouts,
    api_key: str | None = None,
    interval_s: float = 1.0,
    give_up: Callable[[], str | None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReadyResult:
    """Probe `url` until it answers 200 or `deadline_s` passes, like vLLM's `wait_for_endpoint`.

    Retries only failures that mean "still starting" (refused, 502/503/504, probe timeout);
    anything else (401, 404, DNS) returns at once with that error, so a misconfigured endpoint
    does not cost the whole deadline. Each probe's timeouts are capped by the time left.
    `give_up` is asked before every probe (a local server whose process exited will never
    answer): a reason it returns ends the wait at once, in `gave_up`, with the last error kept.
    The one wait of `smoke check`, the local engine and the local Prometheus.
    """
    start = clock()
    attempts = 0
    last_error: str | None = None
    while True:
        reason = give_up() if give_up is not None else None
        if reason is not None:
            return ReadyResult(False, clock() - start, attempts, last_error, gave_up=reason)
        left = deadline_s - (clock() - start)
        if left <= 0 and attempts > 0:
            return ReadyResult(False, clock() - start, attempts, last_error)
        probe = Timeouts(
            connect_s=max(0.5, min(timeouts.connect_s, left)),
            read_s=max(0.5, min(timeouts.read_s, left)),
            total_s=max(0.5, min(timeouts.total_s, left)),
            max_body_bytes=timeouts.max_body_bytes,
        )
        attempts += 1
        try:
            request(session, "GET", url, timeouts=probe, api_key=api_key)
            return ReadyResult(True, clock() - start, attempts)
        except HttpError as exc:
            last_error = str(exc)
            if not (exc.starting or exc.kind in ("connect-timeout", "read-timeout", "deadline")):
                return ReadyResult(False, clock() - start, attempts, last_error)
        left = deadline_s - (clock() - start)
        if left > 0:
            sleep(min(interval_s, left))
