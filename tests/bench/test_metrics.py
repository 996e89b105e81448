"""Metric computations on synthetic timelines whose answers are known by hand."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from smoke.metrics import (
    Stats,
    Timeline,
    check_slos,
    e2e,
    goodput_slos,
    itls,
    percentile,
    summarize,
    tpot,
    ttft,
)


def ok(sent: float, times: list[float], tokens: int | None, prompt: int = 10) -> Timeline:
    return Timeline(success=True, scheduled=sent, dispatched=sent, sent=sent,
                    token_times=times, output_tokens=tokens, prompt_tokens=prompt)


def test_single_request_definitions() -> None:
    t = ok(1.0, [1.1, 1.2, 1.3, 1.4], 4)
    assert ttft(t) == pytest.approx(0.1)
    assert e2e(t) == pytest.approx(0.4)
    assert itls(t) == pytest.approx([0.1, 0.1, 0.1])
    assert tpot(t) == pytest.approx(0.1)  # (0.4 - 0.1) / (4 - 1)


def test_multi_token_chunks_use_server_token_count() -> None:
    # Two chunks carrying 5 tokens: TPOT divides by tokens, ITL stays per chunk.
    t = ok(0.0, [0.1, 0.3], 5)
    assert tpot(t) == pytest.approx(0.05)
    assert itls(t) == pytest.approx([0.2])
    s = summarize([t], duration_s=1.0, goodput_slos_ms=None)
    assert s.tokens_per_chunk == pytest.approx(2.5)
    assert s.total_output_tokens == 5
    assert s.tokens_from_usage


def test_without_usage_counts_chunks() -> None:
    t = ok(0.0, [0.1, 0.2, 0.3], None)
    s = summarize([t], 1.0, None)
    assert s.total_output_tokens == 3
    assert not s.tokens_from_usage


def test_single_token_has_no_tpot() -> None:
    assert tpot(ok(0.0, [0.1], 1)) is None
    s = summarize([ok(0.0, [0.1], 1)], 1.0, None)
    assert s.tpot_ms.count == 0 and math.isnan(s.tpot_ms.median)


def test_failed_requests_are_excluded_from_latency_and_throughput() -> None:
    good = [ok(0.0, [0.1, 0.2], 2), ok(0.0, [0.3, 0.5], 2)]
    bad = [Timeline(success=False, error_kind="timeout", sent=0.0),
           Timeline(success=False, error_kind="http_500", sent=0.0),
           Timeline(success=False, error_kind="timeout", sent=0.0)]
    s = summarize(good + bad, duration_s=2.0, goodput_slos_ms=None)
    assert (s.requests, s.completed, s.failed) == (5, 2, 3)
    assert s.success_rate == pytest.approx(0.4)
    assert s.errors_by_kind == {"http_500": 1, "timeout": 2}
    assert s.request_throughput == pytest.approx(1.0)
    assert s.output_token_throughput == pytest.approx(2.0)
    assert s.ttft_ms.mean == pytest.approx(200.0)  # (100 + 300) / 2
    assert s.e2e_ms.max == pytest.approx(500.0)


def test_throughput_times_duration_is_tokens() -> None:
    runs = [ok(i * 0.1, [i * 0.1 + 0.05 * k for k in range(1, 9)], 8) for i in range(10)]
    s = summarize(runs, duration_s=1.3, goodput_slos_ms=None)
    assert s.output_token_throughput * s.duration_s == pytest.approx(80)
    assert s.total_token_throughput * s.duration_s == pytest.approx(180)
    assert s.itl_ms.count == 70


@pytest.mark.parametrize("p", [0, 1, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy(p: float) -> None:
    values = [random.Random(i).expovariate(1.0) for i in range(37)]
    assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))


def test_stats_of_known_values() -> None:
    s = Stats.of([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.mean, s.median, s.min, s.max) == (3.0, 3.0, 1.0, 5.0)
    assert s.p90 == pytest.approx(4.6)
    assert s.p99 == pytest.approx(4.96)
    assert Stats.of([]).count == 0


def test_goodput_counts_requests_meeting_every_slo() -> None:
    timelines = [
        ok(0.0, [0.1, 0.2, 0.3], 3),  # ttft 100, tpot 100, e2e 300: good
        ok(0.0, [0.4, 0.5, 0.6], 3),  # ttft 400: misses ttft
        ok(0.0, [0.1, 0.6, 1.1], 3),  # tpot 500: misses tpot
        Timeline(success=False, error_kind="timeout"),  # never good
    ]
    slos = goodput_slos({"ttft_p95_ms": 200, "tpot_p95_ms": 200, "success_rate_min": 0.5})
    assert slos == {"ttft": 200, "tpot": 200}
    s = summarize(timelines, duration_s=2.0, goodput_slos_ms=slos)
    assert s.goodput == pytest.approx(0.5)  # 1 good request / 2 s


def test_slo_checks_pass_fail_and_nan() -> None:
    s = summarize([ok(0.0, [0.1, 0.2], 2)], 1.0, None)
    checks = {c.name: c for c in check_slos(
        s, {"ttft_p95_ms": 150, "e2e_p95_ms": 150, "success_rate_min": 1.0})}
    assert checks["ttft_p95_ms"].passed and checks["success_rate_min"].passed
    assert not checks["e2e_p95_ms"].passed and checks["e2e_p95_ms"].value == pytest.approx(200)
    empty = summarize([Timeline(success=False, error_kind="connect")], 1.0, None)
    assert not check_slos(empty, {"ttft_p95_ms": 1e9})[0].passed  # NaN never passes


def test_client_queue_time_and_lateness() -> None:
    t = Timeline(success=True, scheduled=1.0, dispatched=1.002, sent=1.5,
                 token_times=[1.6], output_tokens=1)
    s = summarize([t], 1.0, None)
    assert s.send_lateness_ms.median == pytest.approx(2.0)
    assert s.client_queue_ms.median == pytest.approx(498.0)
    assert s.ttft_ms.median == pytest.approx(100.0)  # latency starts at the actual send
