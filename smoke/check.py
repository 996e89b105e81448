"""`python -m smoke check`: does each endpoint in the stack outputs really work?

Per endpoint: health (with a readiness wait), auth (R24), `/v1/models` lists exactly the served
name (R5), a chat completion, a streamed chat completion with TTFT, the engine's queue metrics
(R7), a managed router's view of the replicas (it must see every one healthy), TLS on public
endpoints, and where the outputs describe them, the AWS load balancer (R17) and GPU node
pinning (R3). Exit 0 when nothing failed, 1 when a check failed, 2 for a
usage or configuration error (a `base_url` that is not a URL among them).

Whatever a server does, it ends as a failed check, never as an exception (issue 13): every
request has a total deadline and a body cap (`--request-timeout`, `--max-body-bytes`), answers
of an unexpected shape fail the check that read them, and the table, JSON report and JUnit file
are always written, redacted.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from smoke.argtypes import finite_positive, positive_int
from smoke.auth_surface import check_auth_surface
from smoke.aws_checks import run_aws_checks
from smoke.http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TOTAL_TIMEOUT_S,
    HttpError,
    Timeouts,
    json_of,
    wait_ready,
)
from smoke.metrics_live import metrics_live_check
from smoke.outputs import EndpointOutput, OutputsError, StackOutputs, load_outputs
from smoke.reach import ReachError, check_base_url, open_endpoint
from smoke.report import CheckResult, Redactor, render_table, to_json, to_junit, write_text
from smoke.router_workers import check_router_workers
from smoke.sse import DONE, SSEError, SSEParser, content_of, first_choice, usage_count
from smoke.target import PROMPT, CheckSettings, Outcome, Target

__all__ = ["PROMPT", "CheckResult", "CheckSettings", "Target", "check_endpoint", "run_checks"]

QUEUE_METRIC = {"vllm": "vllm:num_requests_waiting", "sglang": "sglang:num_queue_reqs"}


def check_health(t: Target) -> Outcome:
    s = t.settings
    # A load balancer forwards only the OpenAI API (issue 12): readiness is /v1/models there.
    path = "/v1/models" if t.through_load_balancer else t.endpoint.health_path
    r = wait_ready(t.session, t.url(path), deadline_s=s.wait_s,
                   timeouts=s.timeouts, api_key=t.endpoint.api_key)
    details = {"elapsed_s": round(r.elapsed_s, 3), "attempts": r.attempts}
    if r.ready:
        return "pass", f"{path} 200 after {r.elapsed_s:.1f}s", details
    if r.elapsed_s >= s.wait_s:
        return "fail", f"not ready within {s.wait_s:g}s ({r.attempts} probes): {r.last_error}", \
            details
    return "fail", str(r.last_error), details


# The probe for "is the key enforced": an inference route, with a valid one-token request
# (vllm-router validates the body before anything else and answers 422 to an empty one; it
# passes the client's credentials on, so the engine's 401 comes back). Model listing is not the
# probe: smg (the default router) serves GET /v1/models without a key while it guards every
# inference route.
AUTH_PROBE = ("POST", "/v1/chat/completions")


def check_auth(t: Target) -> Outcome:
    ep = t.endpoint
    method, path = AUTH_PROBE
    probe = {"model": ep.served_model_name, "messages": [{"role": "user", "content": "ping"}],
             "max_tokens": 1}
    open_status = t.send(method, path, None, json_body=probe, expect=None).status_code
    details: dict[str, Any] = {"probe": f"{method} {path}", "status_without_key": open_status,
                               "exposure": ep.exposure}
    if not ep.api_key:
        if open_status == 401:
            return "fail", "endpoint demands an API key but the outputs carry none", details
        if ep.exposure == "public":
            return "fail", "open endpoint: public exposure without an API key (R24)", details
        return "pass", f"open endpoint (no API key in outputs; exposure {ep.exposure})", details
    if open_status != 401:
        return "fail", f"{method} {path} answered HTTP {open_status} without an API key " \
            "(auth is off)", details
    keyed_status = t.send("GET", "/v1/models", ep.api_key, expect=None).status_code
    details["status_with_key"] = keyed_status
    if keyed_status == 401:
        return "fail", "the API key from the outputs was rejected (HTTP 401)", details
    if keyed_status != 200:
        return "fail", f"HTTP {keyed_status} with the API key from the outputs", details
    listing = t.send("GET", "/v1/models", None, expect=None).status_code
    details["models_without_key"] = listing
    note = "" if listing == 401 else f"; GET /v1/models lists the model without a key ({listing})"
    return "pass", f"401 without a key on {method} {path}, 200 with the key from the " \
        f"outputs{note}", details


def check_models(t: Target) -> Outcome:
    body = json_of(t.send("GET", "/v1/models", t.endpoint.api_key), t.redactor)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        return "fail", "/v1/models did not answer {\"data\": [{\"id\": ...}]}", \
            {"error_kind": "shape"}
    ids = [str(m.get("id")) for m in data]
    wanted = t.endpoint.served_model_name
    details = {"listed": ids, "served_model_name": wanted}
    if ids != [wanted]:
        return "fail", f"served name mismatch: outputs say {wanted!r}, /v1/models lists " \
            f"{ids} (R5)", details
    return "pass", f"lists exactly {wanted!r}", details


def check_chat(t: Target) -> Outcome:
    start = time.monotonic()
    reply = t.send("POST", "/v1/chat/completions", t.endpoint.api_key,
                   json_body=t.chat_body(stream=False))
    body = json_of(reply, t.redactor)
    latency = time.monotonic() - start
    choice = first_choice(body) if isinstance(body, dict) else None
    message = choice.get("message") if choice else None
    text = message.get("content") if isinstance(message, dict) else None
    usage = body.get("usage") if isinstance(body, dict) else None
    tokens = usage_count(usage, "completion_tokens")
    details = {"latency_ms": round(latency * 1000, 1), "usage": usage}
    if not isinstance(text, str) or not text:
        return "fail", "no text in choices[0].message.content", details
    if not tokens:
        return "fail", "response has no usage.completion_tokens", details
    details["chars"] = len(text)
    return "pass", f"{tokens} tokens in {latency * 1000:.0f} ms", details


def check_stream(t: Target) -> Outcome:
    parser = SSEParser()
    stats: dict[str, Any] = {"content_chunks": 0, "ttft_ms": None, "usage": None, "done": False}
    start = time.monotonic()
    last_event = [start]
    silence_s = t.settings.timeouts.read_s

    def on_chunk(raw: bytes, now: float) -> bool:
        events = list(parser.feed(raw))
        for event in events:
            _count_event(event, stats, start, now)
        if events:
            last_event[0] = now
        elif now - last_event[0] > silence_s:
            # Keep-alive comments reset the socket's read timeout but carry no answer.
            raise HttpError("read-timeout", f"no stream event for {silence_s:g} s (only "
                                            "keep-alive comments)")
        return bool(stats["done"])

    try:
        t.send("POST", "/v1/chat/completions", t.endpoint.api_key,
               json_body=t.chat_body(stream=True), on_chunk=on_chunk)
        if not stats["done"]:
            for event in parser.close():
                _count_event(event, stats, start, time.monotonic())
    except SSEError as exc:
        return "fail", f"stream error: {t.redactor.excerpt(str(exc), 300)}", \
            {**stats, "error_kind": "stream"}
    if stats["content_chunks"] == 0:
        return "fail", "stream carried no content chunks", stats
    if not stats["done"]:
        return "fail", f"stream ended without [DONE] after {stats['content_chunks']} chunks", stats
    return "pass", f"{stats['content_chunks']} content chunks, TTFT {stats['ttft_ms']:.0f} ms", \
        stats


def _count_event(event: dict[str, Any] | str, stats: dict[str, Any], start: float,
                 now: float | None = None) -> None:
    """Count one stream event; `now` is when the bytes that completed it arrived."""
    if event == DONE:
        stats["done"] = True
        return
    if stats["done"] or not isinstance(event, dict):
        return
    if isinstance(event.get("usage"), dict):
        stats["usage"] = event["usage"]
    # Role-only first chunks carry no text and must not count as the first token.
    if content_of(event):
        stats["content_chunks"] += 1
        if stats["ttft_ms"] is None:
            arrived = time.monotonic() if now is None else now
            stats["ttft_ms"] = round((arrived - start) * 1000, 1)


def check_metrics(t: Target) -> Outcome:
    ep = t.endpoint
    if t.through_load_balancer:
        return "skip", (f"{ep.metrics_path} is not forwarded by the load balancer (only /v1); "
                        "run without --direct to check it through a port-forward"), {}
    if t.engine_metrics_hidden:
        return "skip", t.engine_metrics_hidden, {}
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


def check_metrics_live(t: Target) -> Outcome:
    """The engine's counters advance with a request, read directly or through Prometheus."""
    return metrics_live_check(t.settings.prometheus_url, t.settings.scrape_interval_s)(t)


HTTP_CHECKS: list[tuple[str, Callable[[Target], Outcome]]] = [
    ("health", check_health),
    ("auth", check_auth),
    ("models", check_models),
    ("chat", check_chat),
    ("stream", check_stream),
    ("metrics", check_metrics),
    ("router_workers", check_router_workers),
    ("tls", check_tls),
    ("auth_surface", check_auth_surface),
    ("metrics_live", check_metrics_live),
]


def _timed(endpoint: str, name: str, fn: Callable[[], Outcome],
           redactor: Redactor) -> CheckResult:
    start = time.monotonic()
    try:
        status, reason, details = fn()
    except HttpError as exc:
        status, reason, details = "fail", str(exc), {"error_kind": exc.kind}
    except Exception as exc:
        # Last resort: whatever a server sent, one check's surprise must not cost the report
        # or the other endpoints. The kind says it was not a recognised failure.
        status = "fail"
        reason = f"unexpected {type(exc).__name__}: {redactor.excerpt(str(exc), 300)}"
        details = {"error_kind": "unexpected"}
    return CheckResult(endpoint, name, status, reason, time.monotonic() - start, details)


def run_http_checks(target: Target) -> list[CheckResult]:
    name = target.endpoint.name
    results = [_timed(name, "health", lambda: check_health(target), target.redactor)]
    for check_name, fn in HTTP_CHECKS[1:]:
        if results[0].status == "fail":
            results.append(CheckResult(name, check_name, "skip", "endpoint not healthy"))
        else:
            results.append(_timed(name, check_name, functools.partial(fn, target),
                                  target.redactor))
    return results


def check_endpoint(
    outputs: StackOutputs, endpoint: EndpointOutput, settings: CheckSettings
) -> list[CheckResult]:
    """All checks of one endpoint; reachability problems become failing rows, not exceptions."""
    redactor = Redactor.for_outputs(outputs)
    try:
        with open_endpoint(outputs, endpoint, settings.direct) as base_url, \
                requests.Session() as session:
            results = run_http_checks(Target(endpoint, base_url, session, settings, redactor))
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
    for endpoint in endpoints:
        check_base_url(endpoint)
    results: list[CheckResult] = []
    for endpoint in endpoints:
        print(f"checking {endpoint.name} ({endpoint.exposure}) ...", file=sys.stderr)
        results += check_endpoint(outputs, endpoint, settings)
    return results


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
    parser.add_argument("--connect-timeout", type=finite_positive, default=10.0, metavar="S",
                        help="TCP connect timeout per request (default 10)")
    parser.add_argument("--read-timeout", type=finite_positive, default=30.0, metavar="S",
                        help="longest wait for data from the server (default 30)")
    parser.add_argument("--request-timeout", type=finite_positive, default=DEFAULT_TOTAL_TIMEOUT_S,
                        metavar="S", help="whole request, streamed answer included "
                        f"(default {DEFAULT_TOTAL_TIMEOUT_S:g})")
    parser.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES,
                        metavar="N", help=f"largest answer read (default {DEFAULT_MAX_BODY_BYTES})")
    parser.add_argument("--wait", type=finite_positive, default=60.0, metavar="S",
                        help="readiness deadline per endpoint (default 60)")
    parser.add_argument("--no-aws", action="store_true", help="skip the AWS and node checks")
    parser.add_argument("--prometheus-url", metavar="URL",
                        help="check metrics-live through this Prometheus (e.g. a port-forward "
                        "of the outputs' observability.prometheus); default the engine's own "
                        "counters")
    parser.add_argument("--scrape-interval", type=finite_positive, default=30.0, metavar="S",
                        help="that Prometheus' scrape interval (default 30)")


def run(args: argparse.Namespace) -> int:
    outputs = load_outputs(stack=args.stack, outputs=args.outputs)
    settings = CheckSettings(
        timeouts=Timeouts(args.connect_timeout, args.read_timeout, args.request_timeout,
                          args.max_body_bytes),
        wait_s=args.wait,
        direct=args.direct,
        aws=not args.no_aws,
        prometheus_url=args.prometheus_url,
        scrape_interval_s=args.scrape_interval,
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
