"""HTTP helpers: specific errors for timeout / refused / status, and the readiness wait."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from smoke.http import HttpError, Timeouts, describe_exception, request, wait_ready
from smoke.local import free_port
from tests.smoke.conftest import StubRequest, StubServer, slow

FAST = Timeouts(connect_s=1.0, read_s=0.5)


@pytest.fixture
def session() -> requests.Session:
    return requests.Session()


def test_status_error_names_status_url_and_hint(stub_server: StubServer,
                                                session: requests.Session) -> None:
    stub_server.routes["/v1/models"] = lambda _: (401, {"error": "Unauthorized"})
    with pytest.raises(HttpError) as info:
        request(session, "GET", stub_server.url + "/v1/models", timeouts=FAST, api_key="k")
    assert info.value.kind == "status"
    assert info.value.status == 401
    assert "HTTP 401 from" in str(info.value)
    assert "API key missing or rejected" in str(info.value)
    assert stub_server.seen[0].headers["Authorization"] == "Bearer k"


def test_expect_none_returns_any_status(stub_server: StubServer,
                                        session: requests.Session) -> None:
    stub_server.routes["/x"] = lambda _: (418, {})
    assert request(session, "GET", stub_server.url + "/x", timeouts=FAST,
                   expect=None).status_code == 418


@pytest.mark.timeout(10)
def test_connection_refused(session: requests.Session) -> None:
    with pytest.raises(HttpError, match="connection refused") as info:
        request(session, "GET", f"http://127.0.0.1:{free_port()}/health", timeouts=FAST)
    assert info.value.kind == "refused"
    assert info.value.starting


@pytest.mark.timeout(10)
def test_read_timeout_is_bounded(stub_server: StubServer, session: requests.Session) -> None:
    stub_server.routes["/slow"] = slow(2.0)
    start = time.monotonic()
    with pytest.raises(HttpError, match=r"read timeout: no data for 0.5 s") as info:
        request(session, "GET", stub_server.url + "/slow", timeouts=FAST)
    assert info.value.kind == "read-timeout"
    assert time.monotonic() - start < 1.5


def test_describe_connect_timeout_and_dns() -> None:
    url = "http://10.0.0.1:8000/health"
    exc = describe_exception(requests.ConnectTimeout("x"), url, FAST)
    assert (exc.kind, str(exc)) == ("connect-timeout", f"connect timeout after 1 s to {url}")
    dns = requests.ConnectionError("NameResolutionError: Failed to resolve 'nope.invalid'")
    assert "cannot resolve host" in str(describe_exception(dns, url, FAST))


def _flaky(failures: int, status: int) -> Any:
    calls = {"n": 0}

    def route(_: StubRequest) -> tuple[int, Any]:
        calls["n"] += 1
        return (status, {}) if calls["n"] <= failures else (200, {})

    return route


@pytest.mark.timeout(10)
def test_wait_ready_retries_while_starting(stub_server: StubServer,
                                           session: requests.Session) -> None:
    stub_server.routes["/health"] = _flaky(2, 503)
    result = wait_ready(session, stub_server.url + "/health", deadline_s=5, timeouts=FAST,
                        interval_s=0.05)
    assert result.ready
    assert result.attempts == 3


@pytest.mark.timeout(10)
@pytest.mark.parametrize("status", [401, 404])
def test_wait_ready_fails_fast_on_config_errors(stub_server: StubServer,
                                                session: requests.Session, status: int) -> None:
    stub_server.routes["/health"] = _flaky(100, status)
    result = wait_ready(session, stub_server.url + "/health", deadline_s=30, timeouts=FAST,
                        interval_s=0.05)
    assert not result.ready
    assert result.attempts == 1
    assert f"HTTP {status}" in (result.last_error or "")
    assert result.elapsed_s < 2


@pytest.mark.timeout(10)
def test_wait_ready_stops_at_deadline_and_keeps_last_error(session: requests.Session) -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    start = time.monotonic()
    result = wait_ready(session, url, deadline_s=1.0, timeouts=FAST, interval_s=0.1)
    assert not result.ready
    assert result.attempts > 2
    assert "connection refused" in (result.last_error or "")
    assert 0.9 < time.monotonic() - start < 3


@pytest.mark.timeout(10)
def test_wait_ready_gives_up_at_once_when_told_and_keeps_the_last_error(
        session: requests.Session) -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    asked: list[int] = []

    def give_up() -> str | None:
        asked.append(1)
        return "exited" if len(asked) > 2 else None

    result = wait_ready(session, url, deadline_s=30, timeouts=FAST, interval_s=0.05,
                        give_up=give_up)
    assert not result.ready and result.gave_up == "exited"
    assert result.attempts == 2 and result.elapsed_s < 5
    assert "connection refused" in (result.last_error or "")
