"""Bench TTFT and ITL against ground truth: a server whose tokens leave at known times.

The scripted server sends headers and a role-only chunk at once, the first token after 300 ms
and the others 150 ms apart. Measured TTFT must be 300 ms (not ~0: the role-only chunk; not
~450: the second token) and ITL 150 ms, within what a busy 2-core host adds. A server that
holds its headers 400 ms shows TTFT >= 400 ms: the send time is taken before the headers.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from smoke.loadgen import Client, LoadResult, LoadSpec, RequestInput, Target, Timeouts, run_load
from smoke.metrics import itls, summarize, ttft
from smoke.prompts import Prompt
from tests.bench.conftest import API_KEY, FakeServer

pytestmark = pytest.mark.timeout(60)
FIRST_S, GAP_S = 0.300, 0.150
# Scheduling noise on a loaded host only ever adds delay; it stays well under one gap.
SLACK_S = 0.100


def run(server: FakeServer, text: str, tokens: int, requests: int = 3) -> LoadResult:
    async def go() -> LoadResult:
        async with aiohttp.ClientSession() as session:
            client = Client(session, Target(server.base_url, "fake", API_KEY), Timeouts())
            spec = LoadSpec(concurrency=1, num_requests=requests, warmup=0)
            return await run_load(client, spec,
                                  lambda i: RequestInput(i, Prompt(text=f"{text} {i}"), tokens))
    return asyncio.run(go())


def test_ttft_and_itl_match_the_servers_timing(fake_server: FakeServer) -> None:
    result = run(fake_server, f"first={FIRST_S * 1000:.0f}ms gap={GAP_S * 1000:.0f}ms", 4)
    assert all(o.success for o in result.outputs)
    for out in result.outputs:
        assert FIRST_S <= ttft(out) < FIRST_S + SLACK_S
        gaps = itls(out)
        assert len(gaps) == 3
        assert all(GAP_S - 0.02 <= g < GAP_S + SLACK_S for g in gaps), gaps
    summary = summarize(result.outputs, result.duration_s, None)
    assert FIRST_S * 1000 <= summary.ttft_ms.mean < (FIRST_S + SLACK_S) * 1000
    assert abs(summary.itl_ms.median - GAP_S * 1000) < SLACK_S * 1000
    # TPOT over three gaps is the gap too; E2E is the first token plus the three gaps.
    assert abs(summary.tpot_ms.mean - GAP_S * 1000) < SLACK_S * 1000
    assert summary.e2e_ms.min >= (FIRST_S + 3 * GAP_S - 0.02) * 1000


def test_ttft_counts_the_wait_for_headers(fake_server: FakeServer) -> None:
    result = run(fake_server, "headers=400ms first=0ms gap=10ms", 2, requests=2)
    assert all(o.success for o in result.outputs)
    assert all(ttft(o) >= 0.4 for o in result.outputs)
    assert all(ttft(o) < 0.4 + SLACK_S for o in result.outputs)
