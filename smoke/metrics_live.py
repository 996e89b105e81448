"""`metrics-live`: are the engine's metrics alive, and does Prometheus see them (issue 15)?

The `metrics` check only sees that `/metrics` names the queue gauge. An exporter can be frozen
(the process hung, a proxy caching the page) or the engine started with `--disable-log-stats`
(vLLM then registers no `vllm:` series at all), and a monitor can be misconfigured so that
Prometheus never scrapes the endpoint. This check:

1. reads the engine's own counters (requests finished, generation tokens), sends one chat
   request, reads them again: both must advance;
2. given a Prometheus URL, asks Prometheus: every replica's target is `up` (at least `replicas`
   targets), the newest sample of each is younger than two scrape intervals, and the sum of the
   engine's request counter in Prometheus catches up with what the engine reports after the
   request within three scrape intervals.

Series are matched by the `inference_endpoint` label that the generated PodMonitor sets
(components.observability_manifests), plus `namespace` when the outputs carry one.

`check_metrics_live(target)` has the shape of `smoke.check.HTTP_CHECKS` entries;
`metrics_live_check(prometheus_url, scrape_interval_s)` returns one that also asks Prometheus,
for the lead to register once the stack outputs carry the Prometheus URL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from smoke.http import HttpError, Timeouts, json_of, request
from smoke.target import Outcome, Target

# Counters that move with every finished request, per engine (the observability table's
# `requests` and `generation_tokens`; tests/observability checks they agree).
LIVE_COUNTERS: dict[str, tuple[str, str]] = {
    "vllm": ("vllm:request_success_total", "vllm:generation_tokens_total"),
    "sglang": ("sglang:num_requests_total", "sglang:generation_tokens_total"),
}
ENDPOINT_LABEL = "inference_endpoint"
STALE_INTERVALS = 2.0  # newest sample older than this many scrape intervals: stale
CATCH_UP_INTERVALS = 3.0  # Prometheus must reflect the request within this many intervals
_POLL_S = 1.0


def parse_counters(text: str, names: tuple[str, ...]) -> dict[str, float | None]:
    """Sum of every series of each metric in a Prometheus text exposition (None: absent)."""
    totals: dict[str, float | None] = dict.fromkeys(names)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        space = line.find(" ")
        name_end = brace if 0 <= brace < space or (brace >= 0 > space) else space
        name = line[:name_end]
        if name not in totals:
            continue
        rest = line[line.rfind("}") + 1:] if brace == name_end else line[name_end:]
        fields = rest.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        totals[name] = (totals[name] or 0.0) + value
    return totals


def read_engine_counters(t: Target) -> dict[str, float | None]:
    ep = t.endpoint
    text = t.send("GET", ep.metrics_path, ep.api_key).text
    return parse_counters(text, LIVE_COUNTERS[ep.engine])


def send_one_chat(t: Target) -> None:
    response = t.send("POST", "/v1/chat/completions", t.endpoint.api_key,
                      json_body=t.chat_body(stream=False))
    json_of(response, t.redactor)


def _engine_part(t: Target, details: dict[str, Any]) -> Outcome | None:
    """Counters read, one request, counters read again; None when both advanced."""
    ep = t.endpoint
    names = LIVE_COUNTERS[ep.engine]
    before = read_engine_counters(t)
    details["engine_before"] = before
    absent = [n for n, v in before.items() if v is None]
    if absent:
        return "fail", (f"{ep.metrics_path} has no {', '.join(absent)}: metrics disabled "
                        "(--disable-log-stats?) or not this engine"), details
    send_one_chat(t)
    after = read_engine_counters(t)
    details["engine_after"] = after
    frozen = [n for n in names if (after[n] or 0.0) <= (before[n] or 0.0)]
    if frozen:
        return "fail", (f"{', '.join(frozen)} did not advance after a chat request "
                        f"(frozen exporter or stats logging disabled)"), details
    return None


def check_metrics_live(t: Target) -> Outcome:
    """The engine's own counters advance with a request (no Prometheus)."""
    ep = t.endpoint
    details: dict[str, Any] = {"replicas": ep.replicas}
    if t.through_load_balancer:
        return "skip", (f"{ep.metrics_path} is not forwarded by the load balancer (only /v1); "
                        "give --prometheus-url, or run without --direct"), details
    if t.engine_metrics_hidden:
        return "skip", f"{t.engine_metrics_hidden}; give --prometheus-url", details
    if ep.replicas > 1:
        return "skip", (f"{ep.replicas} replicas behind one URL: one replica's counters cannot "
                        "be compared across requests; give a Prometheus URL"), details
    failed = _engine_part(t, details)
    if failed:
        return failed
    names = LIVE_COUNTERS[ep.engine]
    return "pass", (f"{names[0]} and {names[1]} advanced after one request"), details


# --- through Prometheus ----------------------------------------------------------------------


class PrometheusError(Exception):
    """Prometheus could not answer a query."""


@dataclass
class PrometheusClient:
    """Instant queries against Prometheus's HTTP API, with bounded timeouts."""

    url: str
    session: requests.Session
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(5.0, 10.0))

    def query(self, expr: str) -> list[dict[str, Any]]:
        endpoint = self.url.rstrip("/") + "/api/v1/query"
        try:
            response = request(self.session, "GET", f"{endpoint}?{urlencode({'query': expr})}",
                               timeouts=self.timeouts)
        except HttpError as exc:
            raise PrometheusError(f"Prometheus at {self.url}: {exc}") from None
        body = json_of(response)
        if not isinstance(body, dict) or body.get("status") != "success":
            raise PrometheusError(f"Prometheus query {expr!r} failed: {body}")
        result = body["data"]["result"]
        return result if isinstance(result, list) else []

    def scalar_sum(self, expr: str) -> float | None:
        result = self.query(f"sum({expr})")
        return float(result[0]["value"][1]) if result else None


def prometheus_selector(t: Target) -> str:
    ep = t.endpoint
    parts = [f'{ENDPOINT_LABEL}="{ep.name}"']
    if ep.namespace:
        parts.append(f'namespace="{ep.namespace}"')
    return ", ".join(parts)


def _target_name(metric: Mapping[str, str]) -> str:
    return metric.get("pod") or metric.get("instance") or str(dict(metric))


def check_metrics_live_prometheus(
    t: Target,
    prometheus_url: str,
    *,
    scrape_interval_s: float = 30.0,
    selector: str | None = None,
    client: PrometheusClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Engine counters advance AND Prometheus scrapes every replica, fresh, and catches up."""
    ep = t.endpoint
    requests_counter = LIVE_COUNTERS[ep.engine][0]
    sel = selector if selector is not None else prometheus_selector(t)
    prom = client or PrometheusClient(prometheus_url, t.session)
    details: dict[str, Any] = {"prometheus": prometheus_url, "selector": sel,
                               "scrape_interval_s": scrape_interval_s, "replicas": ep.replicas}
    try:
        # 1. every replica is a target and up
        up = prom.query(f"up{{{sel}}}")
        details["targets"] = {_target_name(r["metric"]): float(r["value"][1]) for r in up}
        if not up:
            return "fail", (f"Prometheus has no target with {{{sel}}}: the monitor is not "
                            "selected, or the series went stale"), details
        down = [name for name, v in details["targets"].items() if v != 1.0]
        if down:
            return "fail", f"target(s) down in Prometheus: {', '.join(sorted(down))}", details
        if len(up) < ep.replicas:
            return "fail", (f"{len(up)} target(s) up for {ep.replicas} replicas: not every "
                            "replica is scraped"), details
        # 2. the newest sample of each target is fresh
        ages = prom.query(f"time() - max by (instance) (timestamp({requests_counter}{{{sel}}}))")
        details["sample_age_s"] = {r["metric"].get("instance", "?"): round(float(r["value"][1]), 1)
                                   for r in ages}
        if not ages:
            return "fail", (f"Prometheus has no {requests_counter} for {{{sel}}} although the "
                            "targets are up: metrics disabled or renamed"), details
        limit = STALE_INTERVALS * scrape_interval_s
        stale = {k: v for k, v in details["sample_age_s"].items() if v > limit}
        if stale:
            return "fail", (f"stale data: newest sample {max(stale.values()):.0f}s old "
                            f"(limit {limit:g}s = {STALE_INTERVALS:g} scrape intervals) for "
                            f"{', '.join(sorted(stale))}"), details
        prom_before = prom.scalar_sum(f"{requests_counter}{{{sel}}}")
        details["prometheus_before"] = prom_before
    except PrometheusError as exc:
        return "fail", str(exc), details

    # 3. the engine's own counters advance with one request (single replica), or just send it
    if ep.replicas == 1:
        failed = _engine_part(t, details)
        if failed:
            return failed
        wanted = float(details["engine_after"][requests_counter] or 0.0)
    else:
        send_one_chat(t)
        wanted = (prom_before or 0.0) + 1.0
    details["wanted"] = wanted

    # 4. Prometheus catches up within CATCH_UP_INTERVALS scrape intervals
    deadline_s = CATCH_UP_INTERVALS * scrape_interval_s
    start = clock()
    seen: float | None = None
    try:
        while True:
            seen = prom.scalar_sum(f"{requests_counter}{{{sel}}}")
            waited = clock() - start
            if seen is None or waited >= deadline_s:
                lost = _lost_targets(prom, sel, ep.replicas, requests_counter, limit)
                if lost:
                    details["prometheus_after"] = seen
                    return "fail", f"during the check: {lost}", details
            if seen is not None and seen >= wanted:
                details.update(prometheus_after=seen, catch_up_s=round(waited, 1))
                return "pass", (f"counters advanced; {len(up)} target(s) up, newest sample "
                                f"{max(details['sample_age_s'].values()):.0f}s old, Prometheus "
                                f"caught up in {waited:.1f}s"), details
            if waited >= deadline_s:
                break
            sleep(min(_POLL_S, max(0.0, deadline_s - waited)))
    except PrometheusError as exc:
        return "fail", str(exc), details
    details["prometheus_after"] = seen
    shown = "nothing" if seen is None or math.isnan(seen) else f"{seen:g}"
    return "fail", (f"Prometheus did not catch up within {deadline_s:g}s "
                    f"({CATCH_UP_INTERVALS:g} scrape intervals): {requests_counter} is {shown}, "
                    f"the engine says {wanted:g} (scrapes frozen or lagging)"), details


def _lost_targets(prom: PrometheusClient, sel: str, replicas: int, counter: str,
                  stale_after_s: float) -> str:
    """Why the targets no longer answer (down, gone, too few, stale), or "" when all is well."""
    up = prom.query(f"up{{{sel}}}")
    if not up:
        return f"Prometheus lost every target with {{{sel}}} (series stale)"
    down = sorted(_target_name(r["metric"]) for r in up if float(r["value"][1]) != 1.0)
    if down:
        return f"target(s) down in Prometheus: {', '.join(down)}"
    if len(up) < replicas:
        return f"{len(up)} target(s) up for {replicas} replicas"
    ages = prom.query(f"time() - max by (instance) (timestamp({counter}{{{sel}}}))")
    stale = sorted(float(r["value"][1]) for r in ages if float(r["value"][1]) > stale_after_s)
    if stale:
        return (f"stale data: newest sample {stale[-1]:.0f}s old (limit {stale_after_s:g}s): "
                "Prometheus stopped scraping the target")
    return ""


def metrics_live_check(prometheus_url: str | None,
                       scrape_interval_s: float = 30.0) -> Callable[[Target], Outcome]:
    """A `(Target) -> Outcome` check: through Prometheus when a URL is given, else direct."""
    if not prometheus_url:
        return check_metrics_live

    def check(t: Target) -> Outcome:
        return check_metrics_live_prometheus(t, prometheus_url,
                                             scrape_interval_s=scrape_interval_s)

    return check
