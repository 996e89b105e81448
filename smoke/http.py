"""Small HTTP helpers on `requests`: bounded timeouts, specific errors, and a readiness wait.

R20: a request to a dead endpoint once hung for 120 s. Every call here carries a connect and a
read timeout, and failures say which one happened (timeout, connection refused, other connection
error, HTTP status), because "it failed" does not tell an operator where to look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import requests

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 30.0

ErrorKind = Literal["connect-timeout", "read-timeout", "refused", "connection", "status", "body"]

# While an engine starts, its port refuses connections, or a proxy in front answers 502/503/504.
# Anything else (401, 404, 400...) will not fix itself by waiting, so the wait stops at once.
_STARTING_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_s: float = DEFAULT_READ_TIMEOUT_S

    def as_tuple(self) -> tuple[float, float]:
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


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def describe_exception(exc: requests.RequestException, url: str, timeouts: Timeouts) -> HttpError:
    """Map a `requests` exception to an HttpError whose message names the cause."""
    if isinstance(exc, requests.ConnectTimeout):
        return HttpError(
            "connect-timeout", f"connect timeout after {timeouts.connect_s:g} s to {url}"
        )
    if isinstance(exc, requests.ReadTimeout):
        return HttpError(
            "read-timeout", f"read timeout: no data for {timeouts.read_s:g} s from {url}"
        )
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Read timed out" in text:  # iter_content wraps read timeouts as ConnectionError
            return HttpError(
                "read-timeout", f"read timeout: no data for {timeouts.read_s:g} s from {url}"
            )
        if "refused" in text.lower():
            return HttpError("refused", f"connection refused by {url} (nothing listening)")
        if "Failed to resolve" in text or "Name or service not known" in text:
            return HttpError("connection", f"cannot resolve host of {url} (DNS)")
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return HttpError("connection", f"connection to {url} broke mid-response")
        return HttpError("connection", f"connection to {url} failed: {_last_reason(text)}")
    return HttpError("connection", f"request to {url} failed: {type(exc).__name__}")


def _last_reason(text: str) -> str:
    # urllib3 nests reasons as "...(Caused by NewConnectionError(...: [Errno n] reason'))".
    reason = text.rsplit("]", 1)[-1].strip(" ')\"")
    return reason[:160] or text[:160]


def status_error(response: requests.Response, url: str) -> HttpError:
    """An HttpError for an unexpected status, with a short excerpt of the server's answer."""
    hint = {
        401: " (API key missing or rejected)",
        403: " (forbidden)",
        404: " (path not served)",
    }.get(response.status_code, "")
    body = " ".join(response.text[:200].split())
    detail = f": {body}" if body else ""
    return HttpError(
        "status",
        f"HTTP {response.status_code} from {url}{hint}{detail}",
        status=response.status_code,
    )


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    api_key: str | None = None,
    json_body: dict[str, Any] | None = None,
    stream: bool = False,
    expect: tuple[int, ...] | None = (200,),
) -> requests.Response:
    """Send one request with bounded timeouts; raise HttpError unless the status is in `expect`.

    `expect=None` returns any status (callers that test for 401 themselves).
    """
    try:
        response = session.request(
            method,
            url,
            headers=auth_headers(api_key),
            json=json_body,
            stream=stream,
            timeout=timeouts.as_tuple(),
        )
    except requests.RequestException as exc:
        raise describe_exception(exc, url, timeouts) from None
    if expect is not None and response.status_code not in expect:
        error = status_error(response, url)
        response.close()
        raise error
    return response


def json_of(response: requests.Response, url: str) -> Any:
    """The JSON body, or HttpError(kind="body") naming the URL when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        excerpt = " ".join(response.text[:120].split())
        raise HttpError("body", f"{url} did not answer JSON: {excerpt!r}") from None


@dataclass
class ReadyResult:
    ready: bool
    elapsed_s: float
    attempts: int
    last_error: str | None = None


def wait_ready(
    session: requests.Session,
    url: str,
    *,
    deadline_s: float,
    timeouts: Timeouts,
    api_key: str | None = None,
    interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReadyResult:
    """Probe `url` until it answers 200 or `deadline_s` passes, like vLLM's `wait_for_endpoint`.

    Retries only failures that mean "still starting" (refused, 502/503/504, probe timeout);
    anything else (401, 404, DNS) returns at once with that error, so a misconfigured endpoint
    does not cost the whole deadline. Each probe's timeouts are capped by the time left.
    """
    start = clock()
    attempts = 0
    last_error: str | None = None
    while True:
        left = deadline_s - (clock() - start)
        if left <= 0 and attempts > 0:
            return ReadyResult(False, clock() - start, attempts, last_error)
        probe = Timeouts(
            connect_s=max(0.5, min(timeouts.connect_s, left)),
            read_s=max(0.5, min(timeouts.read_s, left)),
        )
        attempts += 1
        try:
            request(session, "GET", url, timeouts=probe, api_key=api_key).close()
            return ReadyResult(True, clock() - start, attempts)
        except HttpError as exc:
            last_error = str(exc)
            if not (exc.starting or exc.kind in ("connect-timeout", "read-timeout")):
                return ReadyResult(False, clock() - start, attempts, last_error)
        left = deadline_s - (clock() - start)
        if left > 0:
            sleep(min(interval_s, left))
