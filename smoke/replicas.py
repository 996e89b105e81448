"""Replica count over time, from Prometheus, and when it rose and fell (`bench --step-load`).

Source: kube-state-metrics, which kube-prometheus-stack installs and scrapes with
`honorLabels: true`, so its series carry the Deployment's own `namespace` and a `deployment`
label. An endpoint's engine Deployment is named after the endpoint (components/manifests.py):

- ready:   `kube_deployment_status_replicas_available` (pods that passed readiness: serving)
- desired: `kube_deployment_spec_replicas` (what KEDA's HPA asked for; rises first, the gap to
  `ready` is the cold start: node, image pull, weights, model load)

Each sample is one instant query per series; a query must return exactly one series. Every
failure is a named kind in the sample (`prometheus_unreachable`, `prometheus_error`,
`no_sample`, `several_series`, `not_a_number`), never an exception: the load goes on.
The analysis (`scale_events`) is pure.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from smoke.http import HttpError, Timeouts, json_of, request
from smoke.outputs import OutputsError, StackOutputs
from smoke.reach import ReachError, open_service

READY_METRIC = "kube_deployment_status_replicas_available"
DESIRED_METRIC = "kube_deployment_spec_replicas"
SERIES = ("ready", "desired")


def default_queries(namespace: str | None, deployment: str) -> dict[str, str]:
    """The kube-state-metrics queries for one Deployment (no namespace: any namespace)."""
    matchers = ([f'namespace="{namespace}"'] if namespace else []) + [
        f'deployment="{deployment}"']
    selector = "{" + ", ".join(matchers) + "}"
    return {"ready": READY_METRIC + selector, "desired": DESIRED_METRIC + selector}


@dataclass
class Sample:
    """Replica counts at `t_s` seconds after the load started (None: no value, see errors);
    the queries went out at `from_s` (Prometheus evaluated them in between)."""

    t_s: float
    values: dict[str, int | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # series -> error kind
    from_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        sent = {} if self.from_s is None else {"from_s": round(self.from_s, 2)}
        return {"t_s": round(self.t_s, 2), **sent, **self.values,
                **({"errors": dict(self.errors)} if self.errors else {})}


class QueryError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class PrometheusReplicas:
    """Instant queries against one Prometheus; `sample()` never raises."""

    url: str
    queries: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(3.0, 5.0, 8.0))
    last_error: dict[str, str] = field(default_factory=dict)  # kind -> latest message

    def one(self, expr: str) -> int:
        url = f"{self.url.rstrip('/')}/api/v1/query?{urlencode({'query': expr})}"
        try:
            body = json_of(request(self.session, "GET", url, timeouts=self.timeouts))
        except HttpError as exc:
            kind = "prometheus_error" if exc.kind in ("status", "body") else \
                "prometheus_unreachable"
            raise QueryError(kind, str(exc)) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise QueryError("prometheus_error", f"query {expr!r} failed: {body!r:.200}")
        result = body.get("data", {}).get("result", [])
        if not result:
            raise QueryError("no_sample", f"{expr} returned no series")
        if len(result) > 1:
            raise QueryError("several_series", f"{expr} returned {len(result)} series")
        try:
            value = float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise QueryError("not_a_number", f"{expr}: unreadable value") from None
        if math.isnan(value) or math.isinf(value):
            raise QueryError("not_a_number", f"{expr} returned {value}")
        return round(value)

    def sample(self, t0: float) -> Sample:
        """One value per query, stamped (seconds since `t0`, perf_counter) when the last answer
        is back, here and not by the caller: a sample never claims a change before it could
        have been seen, and a busy event loop does not make it look later than it was."""
        out = Sample(0.0, from_s=time.perf_counter() - t0)
        for name, expr in self.queries.items():
            try:
                out.values[name] = self.one(expr)
            except QueryError as exc:
                out.values[name] = None
                out.errors[name] = exc.kind
                self.last_error[exc.kind] = str(exc)
        out.t_s = time.perf_counter() - t0
        return out


@dataclass(frozen=True)
class StepMark:
    """A step of the load, as the analysis needs it: when it started and its rate."""

    start_s: float
    end_s: float
    rate: float


def _series(samples: Sequence[Sample], name: str) -> list[tuple[float, int]]:
    return [(s.t_s, v) for s in samples if (v := s.values.get(name)) is not None]


def _changes(steps: Sequence[StepMark], up: bool) -> list[int]:
    """Indexes of the steps whose rate is above (`up`) or below the step before."""
    return [i for i in range(1, len(steps))
            if (steps[i].rate > steps[i - 1].rate if up else steps[i].rate < steps[i - 1].rate)]


def scale_out(points: Sequence[tuple[float, int]], steps: Sequence[StepMark]) -> dict[str, Any]:
    """From the first step up: when the count first exceeded the count before it."""
    ups = _changes(steps, up=True)
    up = steps[ups[0]] if ups else None
    if up is None:
        return {"seconds": None, "reason": "no step up in the load"}
    before = [v for t, v in points if t <= up.start_s]
    if not before:
        return {"seconds": None, "reason": "no replica sample before the step up"}
    start = before[-1]
    for t, v in points:
        if t >= up.start_s and v > start:
            return {"seconds": round(t - up.start_s, 2), "step_start_s": up.start_s,
                    "from": start, "to": v, "within_step": t < up.end_s}
    return {"seconds": None, "step_start_s": up.start_s, "from": start,
            "reason": f"did not scale out within the run ({start} replicas throughout)"}


def scale_in(points: Sequence[tuple[float, int]], steps: Sequence[StepMark]) -> dict[str, Any]:
    """From the first step down after the step up: when the count first fell below its peak."""
    ups = _changes(steps, up=True)
    downs = [i for i in _changes(steps, up=False) if ups and i > ups[0]]
    down = steps[downs[0]] if downs else None
    if down is None:
        return {"seconds": None, "reason": "no step down after a step up"}
    peak = max((v for t, v in points if steps[ups[0]].start_s <= t <= down.start_s), default=None)
    if peak is None:
        return {"seconds": None, "reason": "no replica sample during the step up"}
    for t, v in points:
        if t < down.start_s:
            continue
        if v < peak:
            return {"seconds": round(t - down.start_s, 2), "step_start_s": down.start_s,
                    "from": peak, "to": v, "within_step": t < down.end_s}
        peak = max(peak, v)
    return {"seconds": None, "step_start_s": down.start_s, "from": peak,
            "reason": "did not scale in within the run (the scale-down window may be longer "
                      "than the last steps)"}


def scale_events(samples: Sequence[Sample], steps: Sequence[StepMark]) -> dict[str, Any]:
    """Per series with any value: its time to scale out and to scale in."""
    events: dict[str, Any] = {}
    for name in SERIES:
        points = _series(samples, name)
        if points:
            events[name] = {"scale_out": scale_out(points, steps),
                            "scale_in": scale_in(points, steps)}
    return events


def error_counts(samples: Sequence[Sample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sample in samples:
        for kind in sample.errors.values():
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class PrometheusTarget:
    """Where replicas are read: a URL, or why there is none (an error kind and its text)."""

    url: str | None
    error_kind: str | None = None
    error: str | None = None


@contextlib.contextmanager
def open_prometheus(outputs: StackOutputs, prometheus_url: str | None,
                    direct: bool) -> Iterator[PrometheusTarget]:
    """--prometheus-url, else the outputs' Prometheus (port-forwarded unless `direct`).
    Never raises for a missing or unreachable Prometheus: the load runs without replicas."""
    if prometheus_url:
        yield PrometheusTarget(prometheus_url)
        return
    prom = outputs.observability.prometheus if outputs.observability else None
    if prom is None:
        yield PrometheusTarget(None, "no_replica_source", "the outputs name no Prometheus "
                               "(observability none?); give --prometheus-url")
        return
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(open_service(outputs, prom.url, prom.namespace, prom.service,
                                               prom.port, direct))
    except (ReachError, OutputsError) as exc:
        yield PrometheusTarget(None, "prometheus_unreachable", str(exc))
        return
    with stack:
        yield PrometheusTarget(url)


def summary_lines(name: str, block: dict[str, Any]) -> list[str]:
    """Text lines for the terminal: scale out/in per series, the replica timeline, errors."""
    lines = []
    if block.get("autoscaling") is None:
        lines.append(f"{name}: the outputs show no autoscaling for this endpoint: its replica "
                     "count is not expected to change")
    for series, events in block["events"].items():
        for what in ("scale_out", "scale_in"):
            event = events[what]
            verb = what.replace("_", " ")
            if event["seconds"] is None:
                lines.append(f"{name}: {series} replicas: {verb}: {event['reason']}")
            else:
                lines.append(f"{name}: {series} replicas: {verb} {event['from']} -> "
                             f"{event['to']} {event['seconds']:.1f} s after the step at "
                             f"{event['step_start_s']:g} s")
    timeline = [f"{s['t_s']:.0f}s={s.get('ready', '?')}" for s in block["replicas"]]
    if timeline:
        lines.append(f"{name}: ready replicas over time: {' '.join(timeline)}")
    if block["sample_errors"]:
        kinds = ", ".join(f"{k}={v}" for k, v in block["sample_errors"].items())
        detail = block.get("replica_source_error") or "; ".join(block["last_errors"].values())
        lines.append(f"{name}: replica sampling errors: {kinds}" + (f" ({detail})" if detail
                                                                     else ""))
    return lines
