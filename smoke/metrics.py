"""Benchmark metrics from per-request timelines: pure functions, no I/O, no clock.

Definitions follow `vllm bench serve` (vllm/benchmarks/serve.py, `calculate_metrics`) so numbers
can be set beside it; where they differ, `DIFFERENCES_FROM_VLLM` says how, and the result file
carries that text:

- TTFT: send time to the first *token* chunk. A chunk counts as a token chunk when it carries a
  choice that is not role-only; vLLM counts the first chunk with any choice, including the
  role-only `{"role": "assistant", "content": ""}` chunk some servers send before any token.
- ITL: gaps between consecutive token chunks. A chunk may carry several tokens (speculative
  decoding, server-side batching of deltas); ITL is then per chunk, as in vLLM, and
  `tokens_per_chunk` shows it.
- TPOT: (e2e - ttft) / (output_tokens - 1), only for requests with more than one output token.
- E2E: send time to the last token chunk (the trailing usage-only chunk and `[DONE]` excluded).
- Output tokens: the server's `usage.completion_tokens`; counted token chunks when absent.
- Throughput: successful requests (and their output tokens) / wall duration of the load point.
- Goodput: successful requests per second whose own TTFT, TPOT and E2E all meet the SLOs given.
- Percentiles: linear interpolation between closest ranks (numpy's default method).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

DIFFERENCES_FROM_VLLM = [
    "TTFT starts at the first token chunk; a role-only first chunk is not a token "
    "(vLLM's openai-chat backend counts it), so ITL has one fewer gap per request.",
    "Failed requests are excluded from every latency metric and from throughput, as in vLLM; "
    "they are counted in success_rate and errors_by_kind.",
    "Client queue time (delay from scheduled send to actual send under a concurrency cap) and "
    "send lateness are reported separately; latencies start at the actual send, as in vLLM.",
    "Goodput checks TTFT, TPOT and E2E per request (vLLM's set); an ITL SLO gates only the "
    "aggregate P95 ITL.",
    "Synthetic prompts are words sized to the server's prompt token count (usage), not random "
    "token ids as in vLLM's random dataset.",
    "Timestamps are taken once per network read, before parsing (vLLM: one per parsed event).",
]


@dataclass
class Timeline:
    """What one request needs for metrics; times are seconds relative to the load point start."""

    success: bool
    error_kind: str = ""
    scheduled: float = 0.0  # when the request was due (arrival or worker free)
    dispatched: float = 0.0  # when the client got to it (lateness = dispatched - scheduled)
    sent: float = 0.0  # when the HTTP request went out (after any concurrency cap)
    token_times: list[float] = field(default_factory=list)  # arrival of each token chunk
    output_tokens: int | None = None  # server usage, if reported
    prompt_tokens: int | None = None


@dataclass
class Stats:
    count: int
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan)
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            mean=math.fsum(ordered) / len(ordered),
            median=percentile(ordered, 50, presorted=True),
            p90=percentile(ordered, 90, presorted=True),
            p95=percentile(ordered, 95, presorted=True),
            p99=percentile(ordered, 99, presorted=True),
            min=ordered[0],
            max=ordered[-1],
        )


def percentile(values: Sequence[float], p: float, presorted: bool = False) -> float:
    """The p-th percentile (0..100) with linear interpolation, like `numpy.percentile`."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    ordered = values if presorted else sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ttft(t: Timeline) -> float:
    return t.token_times[0] - t.sent


def e2e(t: Timeline) -> float:
    return t.token_times[-1] - t.sent


def itls(t: Timeline) -> list[float]:
    times = t.token_times
    return [b - a for a, b in itertools.pairwise(times)]


def output_tokens(t: Timeline) -> int:
    """Server-reported output tokens, else the number of token chunks (a lower bound)."""
    return t.output_tokens if t.output_tokens is not None else len(t.token_times)


def tpot(t: Timeline) -> float | None:
    n = output_tokens(t)
    if n <= 1:
        return None
    return (e2e(t) - ttft(t)) / (n - 1)


def is_good(t: Timeline, slos_ms: dict[str, float]) -> bool:
    """Whether one successful request meets every per-request SLO given (goodput)."""
    checks = {"ttft": ttft(t), "tpot": tpot(t) or 0.0, "e2e": e2e(t)}
    for name, value in checks.items():
        limit = slos_ms.get(name)
        if limit is not None and value * 1000.0 > limit:
            return False
    return True


@dataclass
class Summary:
    """Aggregates of one load point; latencies in milliseconds."""

    requests: int
    completed: int
    failed: int
    success_rate: float
    errors_by_kind: dict[str, int]
    duration_s: float
    request_throughput: float
    output_token_throughput: float
    total_token_throughput: float
    goodput: float | None
    total_output_tokens: int
    total_prompt_tokens: int
    mean_prompt_tokens: float
    mean_output_tokens: float
    tokens_from_usage: bool
    tokens_per_chunk: float
    ttft_ms: Stats
    itl_ms: Stats
    tpot_ms: Stats
    e2e_ms: Stats
    client_queue_ms: Stats
    send_lateness_ms: Stats


def _ms(values: list[float]) -> Stats:
    return Stats.of([v * 1000.0 for v in values])


def summarize(
    timelines: Sequence[Timeline], duration_s: float, goodput_slos_ms: dict[str, float] | None
) -> Summary:
    """Aggregate the measured (non-warmup) requests of one load point."""
    ok = [t for t in timelines if t.success and t.token_times]
    failed = len(timelines) - len(ok)
    errors = Counter(
        t.error_kind or "no_tokens" for t in timelines if not (t.success and t.token_times)
    )
    out_tokens = [output_tokens(t) for t in ok]
    prompt = [t.prompt_tokens for t in ok if t.prompt_tokens is not None]
    chunks = sum(len(t.token_times) for t in ok)
    duration = max(duration_s, 1e-9)
    goodput = None
    if goodput_slos_ms:
        goodput = sum(1 for t in ok if is_good(t, goodput_slos_ms)) / duration
    all_itl = [gap for t in ok for gap in itls(t)]
    return Summary(
        requests=len(timelines),
        completed=len(ok),
        failed=failed,
        success_rate=len(ok) / len(timelines) if timelines else 0.0,
        errors_by_kind=dict(sorted(errors.items())),
        duration_s=duration_s,
        request_throughput=len(ok) / duration,
        output_token_throughput=sum(out_tokens) / duration,
        total_token_throughput=(sum(out_tokens) + sum(prompt)) / duration,
        goodput=goodput,
        total_output_tokens=sum(out_tokens),
        total_prompt_tokens=sum(prompt),
        mean_prompt_tokens=sum(prompt) / len(prompt) if prompt else math.nan,
        mean_output_tokens=sum(out_tokens) / len(ok) if ok else math.nan,
        tokens_from_usage=all(t.output_tokens is not None for t in ok),
        tokens_per_chunk=sum(out_tokens) / chunks if chunks else math.nan,
        ttft_ms=_ms([ttft(t) for t in ok]),
        itl_ms=_ms(all_itl),
        tpot_ms=_ms([v for t in ok if (v := tpot(t)) is not None]),
        e2e_ms=_ms([e2e(t) for t in ok]),
        # Queue time and lateness concern every request sent, failed or not.
        client_queue_ms=_ms([t.sent - t.dispatched for t in timelines]),
        send_lateness_ms=_ms([t.dispatched - t.scheduled for t in timelines]),
    )


# SLO key in stack outputs -> (summary field, statistic)
SLO_METRICS: dict[str, tuple[str, str]] = {
    "ttft_p95_ms": ("ttft_ms", "p95"),
    "tpot_p95_ms": ("tpot_ms", "p95"),
    "itl_p95_ms": ("itl_ms", "p95"),
    "e2e_p95_ms": ("e2e_ms", "p95"),
}


@dataclass
class SloCheck:
    name: str
    limit: float
    value: float
    passed: bool


def check_slos(summary: Summary, slos: dict[str, float]) -> list[SloCheck]:
    """Compare a load point against SLOs (`*_p95_ms` upper bounds, `success_rate_min`)."""
    checks = []
    for name, limit in sorted(slos.items()):
        if name == "success_rate_min":
            value = summary.success_rate
            passed = value >= limit
        else:
            field_name, stat = SLO_METRICS[name]
            value = getattr(getattr(summary, field_name), stat)
            # NaN (no successful request) fails the gate rather than passing silently.
            passed = not math.isnan(value) and value <= limit
        checks.append(SloCheck(name=name, limit=limit, value=value, passed=passed))
    return checks


def goodput_slos(slos: dict[str, float]) -> dict[str, float]:
    """Per-request SLOs used for goodput, from the gate SLOs (vLLM's ttft/tpot/e2e set)."""
    mapping = {"ttft_p95_ms": "ttft", "tpot_p95_ms": "tpot", "e2e_p95_ms": "e2e"}
    return {mapping[k]: v for k, v in slos.items() if k in mapping}
