"""Each check of `HTTP_CHECKS` against a stub server, no engine: the rule it enforces, both ways.

Every rule is shown to pass on a server that keeps it and to fail on one that breaks it, so a
check weakened to "always pass" (or to one that never sends the key, or times the wrong chunk)
fails here. TTFT is checked against a server whose first token comes at a known time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from smoke.check import (
    HTTP_CHECKS,
    PROMPT,
    CheckSettings,
    Target,
    check_auth,
    check_chat,
    check_health,
    check_metrics,
    check_models,
    check_stream,
)
from smoke.http import HttpError, Timeouts
from smoke.outputs import parse_outputs
from smoke.redact import Redactor
from tests.smoke.conftest import Stream, StubRequest, StubServer

pytestmark = pytest.mark.timeout(30)
KEY = "k-stub-0123456789"
NAME = "served-name"
SETTINGS = CheckSettings(timeouts=Timeouts(1.0, 2.0, 5.0), wait_s=1.0)


def target(server: StubServer, engine: str = "vllm", key: str | None = KEY,
           **endpoint: Any) -> Target:
    ep = {"engine": engine, "model": "org/m", "served_model_name": NAME, "port": 1,
          "base_url": server.url, "exposure": "internal", "api_key": key, **endpoint}
    outputs = parse_outputs(json.dumps({"schema_version": 1, "platform": "local",
                                        "endpoints": {"e": ep}}), "t")
    return Target(outputs.endpoints["e"], server.url, requests.Session(), SETTINGS,
                  Redactor.for_outputs(outputs))


def keyed(answer: tuple[int, Any], key: str = KEY) -> Any:
    """A route that answers `answer` to the right bearer key and 401 to anything else."""
    def route(req: StubRequest) -> tuple[int, Any]:
        if req.headers.get("Authorization") != f"Bearer {key}":
            return 401, {"error": "Unauthorized"}
        return answer
    return route


def test_every_http_check_is_covered_here() -> None:
    tested = {"health", "auth", "models", "chat", "stream", "metrics", "tls"}
    # tls: tests/smoke/test_check_logic.py; auth_surface: tests/security/test_auth_surface.py;
    # metrics_live: tests/observability/test_metrics_live.py; router_workers:
    # tests/smoke/test_router_workers.py
    assert {name for name, _ in HTTP_CHECKS} == tested | {"auth_surface", "metrics_live",
                                                          "router_workers"}


# health ----------------------------------------------------------------------------------

def test_health_probes_the_outputs_health_path(stub_server: StubServer) -> None:
    stub_server.routes["/ready"] = lambda _: (200, {})
    status, _, details = check_health(target(stub_server, health_path="/ready"))
    assert status == "pass" and details["attempts"] == 1
    assert [r.path for r in stub_server.seen] == ["/ready"]


def test_health_fails_when_never_ready(stub_server: StubServer) -> None:
    stub_server.routes["/health"] = lambda _: (503, {})
    start = time.monotonic()
    status, reason, _ = check_health(target(stub_server))
    assert status == "fail" and reason.startswith("not ready within 1s")
    assert "HTTP 503" in reason and time.monotonic() - start < 4


# auth ------------------------------------------------------------------------------------

def test_auth_probes_inference_without_a_key_and_lists_models_with_it(
        stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((400, {"error": "bad body"}))
    stub_server.routes["/v1/models"] = keyed((200, {"data": [{"id": NAME}]}))
    status, reason, details = check_auth(target(stub_server))
    assert (status, reason) == (
        "pass", "401 without a key on POST /v1/chat/completions, 200 with the key from the outputs")
    assert details == {"probe": "POST /v1/chat/completions", "status_without_key": 401,
                       "exposure": "internal", "status_with_key": 200, "models_without_key": 401}
    seen = [(r.method, r.path, r.headers.get("Authorization")) for r in stub_server.seen]
    assert seen == [("POST", "/v1/chat/completions", None), ("GET", "/v1/models", f"Bearer {KEY}"),
                    ("GET", "/v1/models", None)]


def test_auth_fails_when_inference_runs_without_a_key(stub_server: StubServer) -> None:
    # A server that guards only the model list (the old probe) is caught on the inference route.
    stub_server.routes["/v1/chat/completions"] = lambda _: (400, {"error": "messages missing"})
    stub_server.routes["/v1/models"] = keyed((200, {"data": [{"id": NAME}]}))
    status, reason, _ = check_auth(target(stub_server))
    assert (status, reason) == ("fail", "POST /v1/chat/completions answered HTTP 400 without an "
                                "API key (auth is off)")


def test_auth_passes_a_router_that_lists_models_openly_and_says_so(
        stub_server: StubServer) -> None:
    # smg 1.13.0: 401 on every inference route without a key, GET /v1/models open.
    stub_server.routes["/v1/chat/completions"] = keyed((400, {"error": "bad body"}))
    stub_server.routes["/v1/models"] = lambda _: (200, {"data": [{"id": NAME}]})
    status, reason, _ = check_auth(target(stub_server))
    assert status == "pass"
    assert reason.endswith("GET /v1/models lists the model without a key (200)")


def test_auth_fails_when_the_key_is_rejected(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((400, {}), key="another-key-999")
    stub_server.routes["/v1/models"] = keyed((200, {"data": []}), key="another-key-999")
    status, reason, _ = check_auth(target(stub_server))
    assert (status, reason) == ("fail", "the API key from the outputs was rejected (HTTP 401)")


def test_auth_fails_on_an_error_with_the_key(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((400, {}))
    stub_server.routes["/v1/models"] = keyed((500, {"error": "boom"}))
    status, reason, _ = check_auth(target(stub_server))
    assert (status, reason) == ("fail", "HTTP 500 with the API key from the outputs")


# models ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("listed", "status"), [
    ([NAME], "pass"),
    (["other-name"], "fail"),  # a list that is not empty is not enough (R5)
    ([NAME, "other-name"], "fail"),
    ([], "fail"),
])
def test_models_lists_exactly_the_served_name(stub_server: StubServer, listed: list[str],
                                              status: str) -> None:
    stub_server.routes["/v1/models"] = keyed((200, {"data": [{"id": i} for i in listed]}))
    result, reason, details = check_models(target(stub_server))
    assert result == status, reason
    assert details["listed"] == listed


@pytest.mark.parametrize("body", [{"data": ["x"]}, {"data": "x"}, ["x"], {}])
def test_models_of_another_shape_fail(stub_server: StubServer, body: Any) -> None:
    stub_server.routes["/v1/models"] = keyed((200, body))
    assert check_models(target(stub_server))[0] == "fail"


# chat ------------------------------------------------------------------------------------

def _answer(content: Any = "Hello there.", usage: Any = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3} if usage is None else usage}


def test_chat_asks_the_served_name_with_the_key(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((200, _answer()))
    status, reason, details = check_chat(target(stub_server))
    assert status == "pass" and reason.startswith("3 tokens in ")
    assert details["chars"] == len("Hello there.")
    body = json.loads(stub_server.seen[0].body)
    assert (body["model"], body["stream"], body["max_tokens"]) == (NAME, False, 16)


@pytest.mark.parametrize(("body", "reason"), [
    (_answer(content=""), "no text in choices[0].message.content"),
    (_answer(content=None), "no text in choices[0].message.content"),
    (_answer(usage={}), "response has no usage.completion_tokens"),
    (_answer(usage={"completion_tokens": 0}), "response has no usage.completion_tokens"),
    (_answer(usage="lots"), "response has no usage.completion_tokens"),
    ({"choices": ["x"]}, "no text in choices[0].message.content"),
    ({"choices": []}, "no text in choices[0].message.content"),
    (["x"], "no text in choices[0].message.content"),
])
def test_chat_without_text_or_usage_fails(stub_server: StubServer, body: Any,
                                          reason: str) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((200, body))
    assert check_chat(target(stub_server))[:2] == ("fail", reason)


# stream ----------------------------------------------------------------------------------

def _event(payload: Any) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) \
        + b"\n\n"


def _delta(delta: dict[str, Any]) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


ROLE = _event(_delta({"role": "assistant", "content": ""}))
USAGE = _event({"choices": [], "usage": {"completion_tokens": 3}})
DONE = _event(b"[DONE]")


def timed_stream(first_s: float, gap_s: float, tokens: int = 3, done: bool = True,
                 headers_delay_s: float = 0.0) -> Stream:
    """Role-only chunk at once, the first token after `first_s`, the others `gap_s` apart."""
    pieces = [(0.0, ROLE), (first_s, _event(_delta({"content": "t0"})))]
    pieces += [(gap_s, _event(_delta({"content": f"t{i}"}))) for i in range(1, tokens)]
    pieces += [(0.0, USAGE)] + ([(0.0, DONE)] if done else [])
    return Stream(pieces, headers_delay_s)


def test_stream_ttft_is_the_first_content_chunk(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((200, timed_stream(0.3, 0.2)))
    status, reason, stats = check_stream(target(stub_server))
    assert status == "pass", reason
    # Not the role-only chunk (~0 ms), not the second token (~500 ms).
    assert 300 <= stats["ttft_ms"] < 450
    assert stats["content_chunks"] == 3 and stats["done"] is True
    assert stats["usage"] == {"completion_tokens": 3}
    body = json.loads(stub_server.seen[0].body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == NAME


def test_stream_ttft_includes_waiting_for_headers(stub_server: StubServer) -> None:
    stream = timed_stream(0.0, 0.0, headers_delay_s=0.4)
    stub_server.routes["/v1/chat/completions"] = keyed((200, stream))
    status, _, stats = check_stream(target(stub_server))
    assert status == "pass" and stats["ttft_ms"] >= 400


@pytest.mark.parametrize(("stream", "reason"), [
    (timed_stream(0, 0, done=False), "stream ended without [DONE] after 3 chunks"),
    (Stream([(0, ROLE), (0, USAGE), (0, DONE)]), "stream carried no content chunks"),
    (Stream([(0, ROLE), (0, _event({"error": {"message": "overloaded"}}))]),
     "stream error: error event mid-stream: overloaded"),
    (Stream([(0, _event(b'{"choices": [{"delta": {"content": "\xff"}}]}'))]),
     "stream error: stream line is not UTF-8 (invalid start byte at byte 42)"),
])
def test_broken_streams_fail(stub_server: StubServer, stream: Stream, reason: str) -> None:
    stub_server.routes["/v1/chat/completions"] = keyed((200, stream))
    assert check_stream(target(stub_server))[:2] == ("fail", reason)


def test_stream_of_keep_alive_comments_fails_after_the_read_timeout(
        stub_server: StubServer) -> None:
    pieces = [(0.0, ROLE)] + [(0.1, b": keep-alive\n\n")] * 40
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream(pieces)))
    start = time.monotonic()
    with pytest.raises(HttpError, match=r"no stream event for 2 s \(only keep-alive") as info:
        check_stream(target(stub_server))
    assert info.value.kind == "read-timeout"
    assert 2.0 <= time.monotonic() - start < 3.5


# metrics ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("engine", "text", "status"), [
    ("vllm", 'vllm:num_requests_waiting{model_name="m"} 0.0\n', "pass"),
    ("vllm", "vllm:num_requests_waiting 2\n", "pass"),
    ("vllm", "vllm:num_requests_waiting_total 2\nvllm:num_requests_running 1\n", "fail"),
    ("vllm", "sglang:num_queue_reqs 0\n", "fail"),
    ("sglang", "sglang:num_queue_reqs 0\n", "pass"),
    ("sglang", "vllm:num_requests_waiting 0\n", "fail"),
])
def test_metrics_expose_the_engines_queue_metric(stub_server: StubServer, engine: str,
                                                 text: str, status: str) -> None:
    stub_server.routes["/metrics"] = keyed((200, text.encode()))
    assert check_metrics(target(stub_server, engine=engine))[0] == status


def test_metrics_path_comes_from_the_outputs(stub_server: StubServer) -> None:
    stub_server.routes["/prom"] = keyed((200, b"vllm:num_requests_waiting 0\n"))
    assert check_metrics(target(stub_server, metrics_path="/prom"))[0] == "pass"
    stub_server.routes.pop("/prom")
    with pytest.raises(HttpError, match=r"HTTP 404 from .*/prom .*\(R7"):
        check_metrics(target(stub_server, metrics_path="/prom"))


def test_stream_error_texts_are_redacted_then_shortened(stub_server: StubServer) -> None:
    # The key starts 9 characters before the 300-character cut: cut first, half of it stays.
    page = b"<html>502 Bad Gateway " + b"." * 243 + f"{KEY}</html>".encode()
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream([(0, _event(page))])))
    status, reason, _ = check_stream(target(stub_server))
    assert status == "fail" and reason.startswith("stream error: stream event is not JSON: "
                                                  "<html>502 Bad Gateway")
    assert reason.endswith("...***</html") and KEY[:6] not in reason


# details and edges -----------------------------------------------------------------------

def test_health_sends_the_key(stub_server: StubServer) -> None:
    stub_server.routes["/health"] = keyed((200, {}))  # a health path behind the key's proxy
    assert check_health(target(stub_server))[0] == "pass"


@pytest.mark.parametrize("stream", [False, True])
def test_chat_body_is_the_openai_request(stub_server: StubServer, stream: bool) -> None:
    body = target(stub_server).chat_body(stream=stream)
    expected = {"model": NAME, "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": 16, "temperature": 0, "stream": stream}
    if stream:
        expected["stream_options"] = {"include_usage": True}
    assert body == expected


def test_details_of_passing_checks(stub_server: StubServer) -> None:
    stub_server.routes["/v1/models"] = keyed((200, {"data": [{"id": NAME}]}))
    stub_server.routes["/v1/chat/completions"] = keyed((200, _answer()))
    stub_server.routes["/metrics"] = keyed((200, b"vllm:num_requests_waiting 1\n"))
    t = target(stub_server)
    assert check_models(t)[2] == {"listed": [NAME], "served_model_name": NAME}
    chat = check_chat(t)[2]
    assert 0 <= chat["latency_ms"] < 5000 and chat["usage"]["completion_tokens"] == 3
    assert check_metrics(t)[2] == {"samples": ["vllm:num_requests_waiting 1"]}
    assert check_health(t)[2]["attempts"] == 1


def test_details_of_failing_checks(stub_server: StubServer) -> None:
    stub_server.routes["/v1/models"] = keyed((200, {"data": "x"}))
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream([(0, b"data: {x\n\n")])))
    t = target(stub_server)
    assert check_models(t)[2] == {"error_kind": "shape"}
    assert check_stream(t)[2]["error_kind"] == "stream"
    stub_server.routes["/metrics"] = lambda _: (404, {})
    with pytest.raises(HttpError) as info:
        check_metrics(t)
    assert (info.value.kind, info.value.status) == ("status", 404)


@pytest.mark.parametrize(("path", "check"), [("/v1/models", check_models),
                                             ("/v1/chat/completions", check_chat)])
def test_answers_that_are_not_json_are_shown_redacted(stub_server: StubServer, path: str,
                                                      check: Any) -> None:
    stub_server.routes[path] = keyed((200, f"<html>bad gateway for {KEY}</html>".encode()))
    with pytest.raises(HttpError, match="did not answer JSON") as info:
        check(target(stub_server))
    assert KEY not in str(info.value) and "bad gateway for ***" in str(info.value)


def test_a_slow_steady_stream_is_not_a_stall(stub_server: StubServer) -> None:
    # 3 s of tokens 0.5 s apart, with reads allowed 1 s of silence: never silent that long.
    stub_server.routes["/v1/chat/completions"] = keyed((200, timed_stream(0.5, 0.5, tokens=6)))
    settings = CheckSettings(timeouts=Timeouts(1.0, 1.0, 10.0), wait_s=1.0)
    t = target(stub_server)
    status, reason, stats = check_stream(Target(t.endpoint, t.base_url, t.session, settings))
    assert status == "pass", reason
    assert stats["content_chunks"] == 6


def test_reading_stops_at_done(stub_server: StubServer) -> None:
    after = [(0.1, b": still here\n\n")] * 30  # the connection stays open 3 s after [DONE]
    stream = timed_stream(0.0, 0.0)
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream(stream.pieces + after)))
    start = time.monotonic()
    assert check_stream(target(stub_server))[0] == "pass"
    assert time.monotonic() - start < 1.5


def test_done_without_a_final_blank_line_still_counts(stub_server: StubServer) -> None:
    pieces = [*timed_stream(0.0, 0.0, done=False).pieces, (0.0, b"data: [DONE]")]
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream(pieces)))
    status, reason, stats = check_stream(target(stub_server))
    assert status == "pass", reason
    assert stats["done"] is True


def test_events_after_done_are_not_counted(stub_server: StubServer) -> None:
    # [DONE] and a late token in one read: the read is parsed whole, the token must not count.
    late = DONE + _event(_delta({"content": "late"}))
    pieces = [*timed_stream(0.0, 0.0, done=False).pieces, (0.0, late)]
    stub_server.routes["/v1/chat/completions"] = keyed((200, Stream(pieces)))
    assert check_stream(target(stub_server))[2]["content_chunks"] == 3


def test_chat_latency_is_the_time_to_the_whole_answer(stub_server: StubServer) -> None:
    def late(req: StubRequest) -> tuple[int, Any]:
        time.sleep(0.3)
        return keyed((200, _answer()))(req)

    stub_server.routes["/v1/chat/completions"] = late
    latency_ms = check_chat(target(stub_server))[2]["latency_ms"]
    assert 300 <= latency_ms < 1000
