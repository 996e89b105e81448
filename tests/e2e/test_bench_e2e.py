"""`smoke bench` and `smoke compare` against the real local vLLM CPU engine.

No timing assertions (those belong in benchmarks/): the numbers must be internally consistent,
every request must succeed with exactly the requested tokens, and an impossible SLO must fail
the command.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from smoke.__main__ import main

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

OUTPUT_TOKENS = 16
REQUESTS = 12


def bench(local_engine: Any, report: Path, *extra: str) -> int:
    return main(["bench", "--outputs", str(local_engine.outputs_path), "--no-progress",
                 "--num-requests", str(REQUESTS), "--output-tokens", str(OUTPUT_TOKENS),
                 "--input-tokens", "64", "--warmup", "2", "--report", str(report), *extra])


def ordered(stats: dict[str, float]) -> bool:
    keys = ("min", "median", "p90", "p95", "p99", "max")
    return all(stats[a] <= stats[b] + 1e-9 for a, b in itertools.pairwise(keys))


def test_sweep_is_internally_consistent(local_engine: Any, tmp_path: Path) -> None:
    report = tmp_path / "sweep.json"
    assert bench(local_engine, report, "--concurrency", "1,4", "--rate", "10",
                 "--token-times") == 0
    result = json.loads(report.read_text())
    assert local_engine.api_key not in report.read_text()
    (endpoint,) = result["endpoints"]
    assert endpoint["prompt_length"]["method"] == "server usage.prompt_tokens"
    assert [p["label"] for p in endpoint["load_points"]] == ["c=1", "c=4", "rate=10"]
    for point in endpoint["load_points"]:
        s = point["summary"]
        assert s["success_rate"] == 1.0 and s["completed"] == REQUESTS and s["failed"] == 0
        assert s["tokens_from_usage"] and s["mean_output_tokens"] == OUTPUT_TOKENS  # ignore_eos
        assert s["output_token_throughput"] * s["duration_s"] == pytest.approx(
            REQUESTS * OUTPUT_TOKENS)
        assert s["request_throughput"] * s["duration_s"] == pytest.approx(REQUESTS)
        assert 64 * 0.8 <= s["mean_prompt_tokens"] <= 64 * 1.2  # calibrated on the server
        for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
            assert ordered(s[name]), name
        assert s["ttft_ms"]["max"] <= s["e2e_ms"]["max"]
        records = point["requests"]
        assert len(records) == REQUESTS
        for r in records:
            assert r["sent_s"] >= r["dispatched_s"] >= 0
            assert 0 < r["ttft_s"] <= r["e2e_s"] <= s["duration_s"]
            times = r["token_times_s"]
            assert times == sorted(times) and len(times) == r["chunks"] >= 1
        assert point["client"]["cpu_s"] > 0


def test_impossible_slo_fails_and_compare_renders(local_engine: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    gated = tmp_path / "gated.json"
    assert bench(local_engine, gated, "--concurrency", "2", "--slo", "ttft_p95_ms=0.001") == 1
    assert "SLO ttft_p95_ms" in capsys.readouterr().out
    result = json.loads(gated.read_text())
    assert result["passed"] is False
    assert result["endpoints"][0]["load_points"][0]["summary"]["success_rate"] == 1.0
    plain = tmp_path / "plain.json"
    assert bench(local_engine, plain, "--concurrency", "2", "--no-records") == 0
    out = tmp_path / "cmp"
    assert main(["compare", str(gated), str(plain), "--out", str(out)]) == 0
    assert "gated" in capsys.readouterr().out
    assert all((out / n).stat().st_size > 0 for n in
               ("latency_percentiles.png", "throughput.png", "ttft_distribution.png",
                "report.html"))


def engine_ttft(local_engine: Any) -> tuple[float, int]:
    """(sum, count) of vLLM's own `vllm:time_to_first_token_seconds` histogram, all labels."""
    reply = requests.get(f"{local_engine.base_url}/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {local_engine.api_key}"})
    reply.raise_for_status()
    totals = {"_sum": 0.0, "_count": 0.0}
    for line in reply.text.splitlines():
        for suffix in totals:
            if line.startswith(f"vllm:time_to_first_token_seconds{suffix}"):
                totals[suffix] += float(line.rsplit(" ", 1)[1])
    return totals["_sum"], int(totals["_count"])


def test_bench_ttft_agrees_with_the_engines_own_histogram(local_engine: Any,
                                                          tmp_path: Path) -> None:
    """TTFT measured by the client against the engine's measurement of the same requests.

    The engine counts from the request's arrival, the client from its send, so the client's
    mean may only be larger, by HTTP and streaming overhead (a few ms on loopback). Concurrency
    1 keeps queueing out of both. The engine's delta also holds the one preflight request.
    """
    report = tmp_path / "ttft.json"
    sum_before, count_before = engine_ttft(local_engine)
    assert bench(local_engine, report, "--concurrency", "1", "--warmup", "0",
                 "--no-calibrate") == 0
    sum_after, count_after = engine_ttft(local_engine)
    assert count_after - count_before == REQUESTS + 1
    engine_mean_ms = 1000.0 * (sum_after - sum_before) / (count_after - count_before)
    (point,) = json.loads(report.read_text())["endpoints"][0]["load_points"]
    bench_mean_ms = point["summary"]["ttft_ms"]["mean"]
    print(f"\nTTFT mean: bench {bench_mean_ms:.1f} ms, engine {engine_mean_ms:.1f} ms")
    assert engine_mean_ms * 0.8 <= bench_mean_ms <= engine_mean_ms * 1.5 + 30.0
