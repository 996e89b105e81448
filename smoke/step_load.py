"""`smoke bench --step-load RATE:SECONDS,...`: a stepped open-loop load and the replica count.

One continuous open-loop run: each step sends Poisson (or gamma, `--burstiness`) arrivals at its
rate for its seconds, then the next step starts on schedule whatever is still in flight, so a
backlog built in a busy step carries over as it would for real clients. Each request belongs
to the step it was sent in; every step becomes one load point of the result (`step2 rate=12`),
with the usual summary (TTFT P50/P95/P99, throughput, ...) and SLO checks, so `compare` reads
step-load results like any other.

Meanwhile the replica count is sampled every `--sample-interval` seconds from Prometheus
(smoke/replicas.py: kube-state-metrics' ready and desired replicas of the endpoint's
Deployment), from the first step to the last answer. The result adds `step_load` per endpoint:
the steps, the samples, time to scale out and to scale in, and sampling errors by kind.

Replicas come from Prometheus only: the outputs name the stack's Prometheus, which reaches
kube-state-metrics on every platform with bundled or existing observability; `--prometheus-url`
points elsewhere and `--replica-query` replaces the ready query.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from smoke.argtypes import finite_positive
from smoke.loadgen import (
    Client,
    LoadResult,
    LoadSpec,
    RequestInput,
    RequestOutput,
    arrival_offsets,
    loop_lags,
    send_into,
)
from smoke.metrics import check_slos, goodput_slos, summarize
from smoke.replicas import (
    PrometheusReplicas,
    PrometheusTarget,
    Sample,
    StepMark,
    default_queries,
    error_counts,
    open_prometheus,
    scale_events,
    summary_lines,
)
from smoke.results import load_point

__all__ = ["StepSettings", "add_arguments", "measure", "open_prometheus", "parse_steps",
           "settings_from", "summary_lines"]

MAX_STEPS = 50
DEFAULT_SAMPLE_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Step:
    rate: float  # requests per second
    seconds: float
    start_s: float  # from the start of the load

    @property
    def end_s(self) -> float:
        return self.start_s + self.seconds


def parse_steps(text: str) -> list[Step]:
    """`2:60,12:120,2:120`: RATE:SECONDS per step (rate in requests/s, > 0, finite)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(
            f"--step-load {text!r}: give at least two RATE:SECONDS steps, e.g. 2:60,12:120,2:120")
    if len(parts) > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"--step-load: at most {MAX_STEPS} steps")
    steps, start = [], 0.0
    for i, part in enumerate(parts, 1):
        rate_text, sep, seconds_text = part.partition(":")
        try:
            rate, seconds = float(rate_text), float(seconds_text)
        except ValueError:
            rate = seconds = math.nan
        if not sep or not (0 < rate < math.inf) or not (0 < seconds < math.inf):
            raise argparse.ArgumentTypeError(
                f"--step-load step {i} {part!r}: expected RATE:SECONDS with a rate in requests "
                "per second > 0 and seconds > 0 (finite), e.g. 12:120")
        steps.append(Step(rate, seconds, start))
        start += seconds
    if all(s.rate == steps[0].rate for s in steps):
        raise argparse.ArgumentTypeError(
            f"--step-load {text!r}: every step has the same rate; a step load needs a step up")
    return steps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("step load (autoscaling)")
    group.add_argument("--step-load", type=parse_steps, metavar="RATE:S,...",
                       help="stepped open-loop load instead of --rate/--concurrency, e.g. "
                       "2:60,12:120,2:120 (requests/s : seconds); records the replica count")
    group.add_argument("--sample-interval", type=finite_positive, default=DEFAULT_SAMPLE_INTERVAL_S,
                       metavar="S", help="seconds between replica samples (default 5)")
    group.add_argument("--prometheus-url", metavar="URL",
                       help="Prometheus to read replicas from (default: the outputs' "
                       "observability.prometheus, port-forwarded unless --direct)")
    group.add_argument("--replica-query", metavar="PROMQL",
                       help="PromQL for the ready replica count, one series (default: "
                       "kube-state-metrics' available replicas of the endpoint's Deployment)")


@dataclass(frozen=True)
class StepSettings:
    steps: list[Step]
    sample_interval_s: float
    prometheus_url: str | None
    replica_query: str | None
    base: LoadSpec  # warmup, seed, burstiness and concurrency cap shared by every step


def settings_from(args: argparse.Namespace) -> StepSettings | None:
    """The step-load settings, or None without --step-load; ValueError for conflicts."""
    if args.step_load is None:
        if args.replica_query or args.prometheus_url:
            raise ValueError("--prometheus-url and --replica-query go with --step-load")
        return None
    clashing = [flag for flag, value in (("--rate", args.rate), ("--concurrency",
                args.concurrency), ("--duration", args.duration),
                ("--num-requests", args.num_requests)) if value]
    if clashing:
        raise ValueError(f"--step-load sets rates and durations itself; drop "
                         f"{', '.join(clashing)}")
    base = LoadSpec(num_requests=None, warmup=args.warmup, seed=args.seed,
                    burstiness=args.burstiness, max_concurrency=args.max_concurrency)
    return StepSettings(args.step_load, args.sample_interval, args.prometheus_url,
                        args.replica_query, base)


@dataclass
class StepRun:
    """What one step-load run produced: requests per step, replica samples, client cost."""

    outputs: list[list[RequestOutput]]
    step_cpu_s: list[float]
    lags: list[tuple[float, float]] = field(default_factory=list)  # (t, lag ms)
    samples: list[Sample] = field(default_factory=list)
    started_at: float = 0.0  # wall clock (time.time()) of t = 0
    duration_s: float = 0.0


async def _sampler(source: PrometheusReplicas | None, interval_s: float, t0: float,
                   stop: asyncio.Event, sink: list[Sample]) -> None:
    if source is None:
        return
    while True:
        sink.append(await asyncio.to_thread(source.sample, t0))
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
            return
        except TimeoutError:
            continue


async def _lag_monitor(t0: float, stop: asyncio.Event, sink: list[tuple[float, float]]) -> None:
    async for began, lag in loop_lags(stop):
        sink.append((began - t0, lag))


async def run_steps(client: Client, steps: list[Step], make: Callable[[int], RequestInput],
                    source: PrometheusReplicas | None, *, interval_s: float,
                    burstiness: float = 1.0, seed: int = 0, warmup: int = 0,
                    max_concurrency: int | None = None) -> StepRun:
    """Warm up (not counted), then send every step on one clock while sampling replicas."""
    if warmup:
        await asyncio.gather(*(client.send(make(-1 - i), RequestOutput(success=False),
                                           time.perf_counter()) for i in range(warmup)))
    run = StepRun(outputs=[[] for _ in steps], step_cpu_s=[])
    semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    stop = asyncio.Event()
    t0 = time.perf_counter()
    run.started_at = time.time()
    background = [asyncio.create_task(_sampler(source, interval_s, t0, stop, run.samples)),
                  asyncio.create_task(_lag_monitor(t0, stop, run.lags))]

    tasks, index, cpu = [], 0, time.process_time()
    for i, step in enumerate(steps):
        for offset in arrival_offsets(step.rate, burstiness, seed + i, None):
            if offset >= step.seconds:
                break
            due = step.start_s + offset
            delay = due - (time.perf_counter() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            out = RequestOutput(success=False, index=index, scheduled=due,
                                dispatched=time.perf_counter() - t0)
            tasks.append(asyncio.create_task(
                send_into(client, make(index), out, t0, run.outputs[i], semaphore)))
            index += 1
        delay = step.end_s - (time.perf_counter() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        run.step_cpu_s.append(time.process_time() - cpu)
        cpu = time.process_time()
    await asyncio.gather(*tasks)
    run.duration_s = time.perf_counter() - t0
    stop.set()
    await asyncio.gather(*background)
    for sink in run.outputs:
        sink.sort(key=lambda o: o.index)
    return run


def step_load_spec(step: Step, settings: LoadSpec) -> LoadSpec:
    """The load point spec a step is recorded as (open loop at the step's rate)."""
    return replace(settings, concurrency=None, rate=step.rate, num_requests=None,
                   duration=step.seconds)


def step_result(run: StepRun, i: int, step: Step) -> LoadResult:
    lags = [lag for t, lag in run.lags if step.start_s <= t < step.end_s]
    return LoadResult(outputs=run.outputs[i], duration_s=step.seconds,
                      client_cpu_s=run.step_cpu_s[i], loop_lag_ms=lags)


def step_label(i: int, step: Step) -> str:
    return f"step{i + 1} rate={step.rate:g}"


async def measure(client: Client, make: Callable[[int], RequestInput], settings: StepSettings,
                  prometheus: PrometheusTarget, endpoint: tuple[str | None, str],
                  slos: dict[str, float], records: bool,
                  token_times: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the steps against one endpoint (`endpoint`: its namespace and Deployment name):
    one load point per step, and the `step_load` block."""
    queries = ({"ready": settings.replica_query} if settings.replica_query
               else default_queries(*endpoint))
    source = PrometheusReplicas(prometheus.url, queries) if prometheus.url else None
    base = settings.base
    run = await run_steps(client, settings.steps, make, source,
                          interval_s=settings.sample_interval_s, burstiness=base.burstiness,
                          seed=base.seed, warmup=base.warmup,
                          max_concurrency=base.max_concurrency)
    points = []
    for i, step in enumerate(settings.steps):
        result = step_result(run, i, step)
        summary = summarize(result.outputs, result.duration_s, goodput_slos(slos))
        point = load_point(step_load_spec(step, base), result, summary,
                           check_slos(summary, slos), records, token_times)
        points.append({**point, "label": step_label(i, step), "mode": "step"})
    return points, report(run, settings.steps, source, prometheus)


def report(run: StepRun, steps: list[Step], source: PrometheusReplicas | None,
           prometheus: PrometheusTarget) -> dict[str, Any]:
    """The `step_load` block of an endpoint's result."""
    marks = [StepMark(s.start_s, s.end_s, s.rate) for s in steps]
    errors = error_counts(run.samples)
    if source is None:
        errors = {prometheus.error_kind or "no_replica_source": 1}
    return {
        "steps": [{"label": step_label(i, s), "rate": s.rate, "seconds": s.seconds,
                   "start_s": s.start_s} for i, s in enumerate(steps)],
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "replica_source": None if source is None else {
            "kind": "prometheus", "url": source.url, "queries": dict(source.queries)},
        "replica_source_error": prometheus.error,
        "replicas": [s.as_dict() for s in run.samples],
        "events": scale_events(run.samples, marks),
        "sample_errors": errors,
        "last_errors": {} if source is None else dict(source.last_error),
    }
