"""`python -m smoke check`: does each endpoint in the stack outputs really work?

Per endpoint: health (with a readiness wait), auth (R24), `/v1/models` lists exactly the served
name (R5), a chat completion, a streamed chat completion with TTFT, the engine's queue metrics
(R7), TLS on public endpoints, and where the outputs describe them, the AWS load balancer
(R17) and GPU node pinning (R3). Exit 0 when nothing failed, 1 when a check failed, 2 for a
usage or configuration error.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from smoke.aws_checks import run_aws_checks
from smoke.http import HttpError, Timeouts, describe_exception, json_of, request, wait_ready
from smoke.outputs import EndpointOutput, OutputsError, StackOutputs, load_outputs
from smoke.reach import ReachError, open_endpoint
from smoke.report import CheckResult, Redactor, Status, render_table, to_json, to_junit, write_text
from smoke.sse import DONE, SSEError, SSEParser, content_of

__all__ = ["CheckResult", "CheckSettings", "check_endpoint", "run_checks"]

QUEUE_METRIC = {"vllm": "vllm:num_requests_waiting", "sglang": "sglang:num_queue_reqs"}
PROMPT = "Say hello in one short sentence."
Outcome = tuple[Status, str, dict[str, Any]]


@dataclass(frozen=True)
class CheckSettings:
    timeouts: Timeouts = field(default_factory=Timeouts)
    wait_s: float = 60.0  # readiness deadline per endpoint
    stream_deadline_s: float = 60.0  # whole streamed answer, on top of per-read timeouts
    max_tokens: int = 16
    direct: bool = False
    aws: bool = True


@dataclass
class Target:
    """What every HTTP check needs: the endpoint, the URL it is reached at, one session."""

    endpoint: EndpointOutput
    base_url: str
    session: requests.Session
    settings: CheckSettings

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def send(self, method: str, path: str, key: str | None, **kw: Any) -> requests.Response:
        return request(self.session, method, self.url(path), timeouts=self.settings.timeouts,
                       api_key=key, **kw)

    def chat_body(self, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.endpoint.served_model_name,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": self.settings.max_tokens,
            "temperature": 0,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body


def check_health(t: Target) -> Outcome:
    s = t.settings
    r = wait_ready(t.session, t.url(t.endpoint.health_path), deadline_s=s.wait_s,
                   timeouts=s.timeouts, api_key=t.endpoint.api_key)
    details = {"elapsed_s": round(r.elapsed_s, 3), "attempts": r.attempts}
    if r.ready:
        return "pass", f"{t.endpoint.health_path} 200 after {r.elapsed_s:.1f}s", details
    if r.elapsed_s >= s.wait_s:
        return "fail", f"not ready within {s.wait_s:g}s ({r.attempts} probes): {r.last_error}", \
            details
    return "fail", str(r.last_error), details


def check_auth(t: Target) -> Outcome:
    ep = t.endpoint
    open_status = t.send("GET", "/v1/models", None, expect=None).status_code
    details: dict[str, Any] = {"status_without_key": open_status, "exposure": ep.exposure}
    if not ep.api_key:
        if open_status == 401:
            return "fail", "endpoint demands an API key but the outputs carry none", details
        if ep.exposure == "public":
            return "fail", "open endpoint: public exposure without an API key (R24)", details
        return "pass", f"open endpoint (no API key in outputs; exposure {ep.exposure})", details
    if open_status != 401:
        return "fail", f"answered HTTP {open_status} without an API key (auth is off)", details
    keyed_status = t.send("GET", "/v1/models", ep.api_key, expect=None).status_code
    details["status_with_key"] = keyed_status
    if keyed_status == 401:
        return "fail", "the API key from the outputs was rejected (HTTP 401)", details
    if keyed_status != 200:
        return "fail", f"HTTP {keyed_status} with the API key from the outputs", details
    return "pass", "401 without a key, 200 with the key from the outputs", details


def check_models(t: Target) -> Outcome:
    url = t.url("/v1/models")
    body = json_of(t.send("GET", "/v1/models", t.endpoint.api_key), url)
    ids = [str(m.get("id")) for m in body.get("data", [])] if isinstance(body, dict) else []
    wanted = t.endpoint.served_model_name
    details = {"listed": ids, "served_model_name": wanted}
    if ids != [wanted]:
        return "fail", f"served name mismatch: outputs say {wanted!r}, /v1/models lists " \
            f"{ids} (R5)", details
    return "pass", f"lists exactly {wanted!r}", details


def check_chat(t: Target) -> Outcome:
    url = t.url("/v1/chat/completions")
    start = time.monotonic()
    response = t.send("POST", "/v1/chat/completions", t.endpoint.api_key,
                      json_body=t.chat_body(stream=False))
    body = json_of(response, url)
    latency = time.monotonic() - start
    body = body if isinstance(body, dict) else {}
    choices = body.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    usage = body.get("usage")
    details = {"latency_ms": round(latency * 1000, 1), "usage": usage}
    if not isinstance(text, str) or not text:
        return "fail", "no text in choices[0].message.content", details
    if not isinstance(usage, dict) or not usage.get("completion_tokens"):
        return "fail", "response has no usage.completion_tokens", details
    details["chars"] = len(text)
    return "pass", f"{usage['completion_tokens']} tokens in {latency * 1000:.0f} ms", details


def check_stream(t: Target) -> Outcome:
    url = t.url("/v1/chat/completions")
    start = time.monotonic()
    response = t.send("POST", "/v1/chat/completions", t.endpoint.api_key,
                      json_body=t.chat_body(stream=True), stream=True)
    parser = SSEParser()
    stats: dict[str, Any] = {"content_chunks": 0, "ttft_ms": None, "usage": None, "done": False}
    try:
        for raw in response.iter_content(chunk_size=None):
            for event in parser.feed(raw):
                _count_event(event, stats, start)
            if stats["done"]:
                break
            if time.monotonic() - start > t.settings.stream_deadline_s:
                return "fail", f"stream unfinished after {t.settings.stream_deadline_s:g}s", stats
        for event in parser.close():
            _count_event(event, stats, start)
    except SSEError as exc:
        return "fail", f"stream error: {exc}", stats
    except requests.RequestException as exc:
        raise describe_exception(exc, url, t.settings.timeouts) from None
    finally:
        response.close()
    if stats["content_chunks"] == 0:
        return "fail", "stream carried no content chunks", stats
    if not stats["done"]:
        return "fail", f"stream ended without [DONE] after {stats['content_chunks']} chunks", stats
    return "pass", f"{stats['content_chunks']} content chunks, TTFT {stats['ttft_ms']:.0f} ms", \
        stats


def _count_event(event: dict[str, Any] | str, stats: dict[str, Any], start: float) -> None:
    if event == DONE:
        stats["done"] = True
        return
    if stats["done"] or not isinstance(event, dict):
        return
    if event.get("usage"):
        stats["usage"] = event["usage"]
    # Role-only first chunks carry no text and must not count as the first token.
    if content_of(event):
        stats["content_chunks"] += 1
        if stats["ttft_ms"] is None:
            stats["ttft_ms"] = round((time.monotonic() - start) * 1000, 1)


def check_metrics(t: Target) -> Outcome:
    ep = t.endpoint
    metric = QUEUE_METRIC[ep.engine]
    try:
        text = t.send("GET", ep.metrics_path, ep.api_key).text
    except HttpError as exc:
        raise HttpError(exc.kind, f"{exc} (R7: routers need the metrics)", exc.status) from None
    lines = [ln for ln in text.splitlines() if ln.startswith((metric + "{", metric + " "))]
    if not lines:
        return "fail", f"{ep.metrics_path} does not expose {metric} (R7)", {}
    return "pass", f"{ep.metrics_path} exposes {metric}", {"samples": lines[:4]}


def check_tls(t: Target) -> Outcome:
    ep = t.endpoint
    if ep.exposure != "public":
        return "skip", f"exposure {ep.exposure}: TLS is terminated inside the network", {}
    parsed = urlparse(ep.base_url)
    if parsed.scheme == "https":
        return "pass", "public endpoint uses https", {}
    if parsed.hostname in ("127.0.0.1", "localhost", "::1"):
        return "skip", "loopback address: nothing leaves the machine", {}
    return "fail", "public endpoint served over plain http (R24 needs TLS)", {}


HTTP_CHECKS: list[tuple[str, Callable[[Target], Outcome]]] = [
    ("health", check_health),
    ("auth", check_auth),
    ("models", check_models),
    ("chat", check_chat),
    ("stream", check_stream),
    ("metrics", check_metrics),
    ("tls", check_tls),
]


def _timed(endpoint: str, name: str, fn: Callable[[], Outcome]) -> CheckResult:
    start = time.monotonic()
    try:
        status, reason, details = fn()
    except HttpError as exc:
        status, reason, details = "fail", str(exc), {"error_kind": exc.kind}
    return CheckResult(endpoint, name, status, reason, time.monotonic() - start, details)


def run_http_checks(target: Target) -> list[CheckResult]:
    name = target.endpoint.name
    results = [_timed(name, "health", lambda: check_health(target))]
    for check_name, fn in HTTP_CHECKS[1:]:
        if results[0].status == "fail":
            results.append(CheckResult(name, check_name, "skip", "endpoint not healthy"))
        else:
            results.append(_timed(name, check_name, functools.partial(fn, target)))
    return results


def check_endpoint(
    outputs: StackOutputs, endpoint: EndpointOutput, settings: CheckSettings
) -> list[CheckResult]:
    """All checks of one endpoint; reachability problems become failing rows, not exceptions."""
    try:
        with open_endpoint(outputs, endpoint, settings.direct) as base_url, \
                requests.Session() as session:
            results = run_http_checks(Target(endpoint, base_url, session, settings))
    except ReachError as exc:
        results = [CheckResult(endpoint.name, "reach", "fail", str(exc))]
        results += [CheckResult(endpoint.name, n, "skip", "not reachable") for n, _ in HTTP_CHECKS]
    if settings.aws:
        results += run_aws_checks(outputs, endpoint)
    return results


def run_checks(
    outputs: StackOutputs, names: list[str] | None, settings: CheckSettings
) -> list[CheckResult]:
    endpoints = outputs.select(names)
    if not endpoints:
        raise OutputsError("the outputs list no endpoints")
    results: list[CheckResult] = []
    for endpoint in endpoints:
        print(f"checking {endpoint.name} ({endpoint.exposure}) ...", file=sys.stderr)
        results += check_endpoint(outputs, endpoint, settings)
    return results


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read `pulumi stack output` of this stack")
    source.add_argument("--outputs", metavar="FILE", help="outputs JSON file ('-' for stdin)")
    parser.add_argument("--endpoint", action="append", metavar="NAME",
                        help="check only this endpoint (repeatable; default all)")
    parser.add_argument("--direct", action="store_true",
                        help="reach cluster/internal endpoints at base_url (inside the network)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML for CI")
    parser.add_argument("--connect-timeout", type=_positive, default=10.0, metavar="S",
                        help="TCP connect timeout per request (default 10)")
    parser.add_argument("--read-timeout", type=_positive, default=30.0, metavar="S",
                        help="longest wait for data from the server (default 30)")
    parser.add_argument("--wait", type=_positive, default=60.0, metavar="S",
                        help="readiness deadline per endpoint (default 60)")
    parser.add_argument("--no-aws", action="store_true", help="skip the AWS and node checks")


def run(args: argparse.Namespace) -> int:
    outputs = load_outputs(stack=args.stack, outputs=args.outputs)
    settings = CheckSettings(
        timeouts=Timeouts(args.connect_timeout, args.read_timeout),
        wait_s=args.wait,
        direct=args.direct,
        aws=not args.no_aws,
    )
    results = run_checks(outputs, args.endpoint, settings)
    redactor = Redactor.for_outputs(outputs)
    print(render_table(results, redactor))
    meta = {"source": args.stack or args.outputs, "platform": outputs.platform}
    if args.report:
        write_text(args.report, to_json(results, redactor, meta))
    if args.junit:
        write_text(args.junit, to_junit(results, redactor))
    return 1 if any(r.status == "fail" for r in results) else 0
