"""Benchmark result files (JSON) and the terminal table.

A result file holds one `smoke bench` run: its configuration, the client environment, the metric
definitions (and how they differ from `vllm bench serve`), and per endpoint the summary of every
load point with its SLO checks, the client's own overhead and, optionally, per-request records.
`compare` reads the same files back, so the layout is versioned (`schema`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from smoke.loadgen import LoadResult, LoadSpec, RequestOutput
from smoke.metrics import DIFFERENCES_FROM_VLLM, SloCheck, Stats, Summary

SCHEMA = "smoke-bench-result/1"
# The load generator is a single-threaded event loop: past this share of one core, or with
# loop lag this large, its own delays start to show up in the numbers.
CLIENT_CPU_LIMIT = 0.7
LOOP_LAG_P99_LIMIT_MS = 20.0


class ResultError(Exception):
    """A result file cannot be read (a usage error, exit 2)."""


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def environment() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "aiohttp": version("aiohttp"),
        "inference_stacks": version("inference-stacks"),
    }


def client_overhead(result: LoadResult, summary: Summary) -> dict[str, Any]:
    """The load generator's own cost, and warnings when it, not the server, may be the limit."""
    lag = Stats.of(result.loop_lag_ms)
    utilization = result.client_cpu_s / result.duration_s if result.duration_s > 0 else 0.0
    warnings = []
    if utilization > CLIENT_CPU_LIMIT:
        warnings.append(f"client used {utilization:.0%} of a core: it may be the bottleneck")
    if lag.count and lag.p99 > LOOP_LAG_P99_LIMIT_MS:
        # A lagging loop with a mostly idle client means the OS did not schedule it: the
        # host is oversubscribed (often by the engine itself on a small machine).
        cause = ("client busy" if utilization > CLIENT_CPU_LIMIT
                 else "client starved of CPU: host oversubscribed")
        warnings.append(
            f"client event loop lagged {lag.p99:.0f} ms (P99, {cause}): timings are inflated")
    lateness = summary.send_lateness_ms
    if lateness.count and lateness.p99 > LOOP_LAG_P99_LIMIT_MS:
        warnings.append(f"sends went out {lateness.p99:.0f} ms late (P99) versus schedule")
    return {
        "cpu_s": result.client_cpu_s,
        "cpu_per_request_ms": 1000.0 * result.client_cpu_s / max(summary.requests, 1),
        "cpu_utilization": utilization,
        "loop_lag_ms": dataclasses.asdict(lag),
        "send_lateness_ms": dataclasses.asdict(lateness),
        "saturated": bool(warnings),
        "warnings": warnings,
    }


def request_record(out: RequestOutput, token_times: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": out.index, "success": out.success, "error_kind": out.error_kind or None,
        "error": out.error or None, "http_status": out.http_status,
        "scheduled_s": out.scheduled, "dispatched_s": out.dispatched, "sent_s": out.sent,
        "ttft_s": out.token_times[0] - out.sent if out.token_times else None,
        "e2e_s": out.token_times[-1] - out.sent if out.token_times else None,
        "prompt_tokens": out.prompt_tokens, "output_tokens": out.output_tokens,
        "chunks": out.chunks,
    }
    if token_times:
        record["token_times_s"] = out.token_times
    return record


def load_point(
    spec: LoadSpec, result: LoadResult, summary: Summary, checks: list[SloCheck],
    records: bool, token_times: bool,
) -> dict[str, Any]:
    point: dict[str, Any] = {
        "label": spec.label,
        "mode": "concurrency" if spec.concurrency is not None else "rate",
        "spec": dataclasses.asdict(spec),
        "summary": dataclasses.asdict(summary),
        "slo_checks": [dataclasses.asdict(c) for c in checks],
        "passed": all(c.passed for c in checks),
        "client": client_overhead(result, summary),
    }
    if records:
        point["requests"] = [request_record(o, token_times) for o in result.outputs]
    return point


def build_result(config: dict[str, Any], endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": config,
        "environment": environment(),
        "definitions": {"aligned_with": "vllm bench serve (vllm/benchmarks/serve.py)",
                        "differences": DIFFERENCES_FROM_VLLM},
        "endpoints": endpoints,
        "passed": all(p["passed"] for e in endpoints for p in e["load_points"])
        and all(not e.get("error") for e in endpoints),
    }


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(_clean(result), indent=1) + "\n", encoding="utf-8")


def load_result(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultError(f"{path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: not a JSON result file ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultError(f"{path}: not a smoke bench result (expected schema {SCHEMA})")
    if not isinstance(data.get("endpoints"), list):
        raise ResultError(f"{path}: result has no endpoints list")
    return data


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


TABLE_HEADERS = ["endpoint", "load", "ok%", "req/s", "out tok/s", "TTFT p50", "TTFT p99",
                 "ITL p50", "TPOT p50", "E2E p50", "E2E p99", "goodput", "cli cpu%", "SLO"]


def point_row(name: str, point: dict[str, Any]) -> list[str]:
    s = point["summary"]
    client = point["client"]
    slo = "-" if not point["slo_checks"] else ("pass" if point["passed"] else "FAIL")
    return [
        name, point["label"], fmt(100.0 * s["success_rate"]), fmt(s["request_throughput"], 2),
        fmt(s["output_token_throughput"]), fmt(s["ttft_ms"]["median"]),
        fmt(s["ttft_ms"]["p99"]), fmt(s["itl_ms"]["median"], 2), fmt(s["tpot_ms"]["median"], 2),
        fmt(s["e2e_ms"]["median"]), fmt(s["e2e_ms"]["p99"]), fmt(s["goodput"], 2),
        fmt(100.0 * client["cpu_utilization"], 0), slo,
    ]


def format_table(result: dict[str, Any]) -> str:
    """The terminal table of a result (latencies in ms), then failures and warnings."""
    rows = [point_row(e["name"], p) for e in result["endpoints"] for p in e["load_points"]]
    notes = []
    for endpoint in result["endpoints"]:
        if endpoint.get("error"):
            notes.append(f"{endpoint['name']}: {endpoint['error']}")
        for point in endpoint["load_points"]:
            where = f"{endpoint['name']} {point['label']}"
            notes += [f"{where}: SLO {c['name']} {fmt(c['value'], 3)} vs limit {c['limit']:g}"
                      for c in point["slo_checks"] if not c["passed"]]
            errors = point["summary"]["errors_by_kind"]
            if errors:
                notes.append(f"{where}: errors " + ", ".join(f"{k}={v}" for k, v in errors.items()))
            notes += [f"{where}: warning: {w}" for w in point["client"]["warnings"]]
    return render_table(TABLE_HEADERS, rows) + ("\n" + "\n".join(notes) if notes else "")
