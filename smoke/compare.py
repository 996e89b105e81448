"""`python -m smoke compare RESULT...`: benchmark runs side by side (table, PNG charts, HTML).

Each endpoint of each result file is one series, named by the run's `--label` (or the file name)
and, when a run holds several endpoints, the endpoint name: the `baseline` and `managed`
endpoints of one stack, or two stacks, line up per load point. Charts are drawn with matplotlib's
`Agg` backend (no display needed); the HTML report embeds them as base64 so it is one file.
Result files are redacted as they are read (bearer tokens, `api_key=` values): `compare` does
not know the keys, and a file written by an older `bench` may hold an echoed one.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smoke.redact import Redactor
from smoke.results import ResultError, fmt, load_result, render_table

TABLE_HEADERS = ["load", "series", "ok%", "req/s", "out tok/s", "TTFT p50", "TTFT p95",
                 "TTFT p99", "ITL p50", "TPOT p50", "E2E p50", "E2E p99", "goodput", "SLO"]
CHARTS = ("latency_percentiles.png", "throughput.png", "ttft_distribution.png")


@dataclass
class Series:
    label: str
    source: str
    points: dict[str, dict[str, Any]]  # load label -> load point


def collect_series(paths: list[str], labels: list[str] | None) -> list[Series]:
    if labels and len(labels) != len(paths):
        raise ResultError(f"{len(labels)} --label values for {len(paths)} result files")
    series: list[Series] = []
    for i, path in enumerate(paths):
        result = Redactor().data(load_result(path))
        run = (labels[i] if labels else None) or result["config"].get("label") or Path(path).stem
        endpoints = [e for e in result["endpoints"] if e.get("load_points")]
        for endpoint in endpoints:
            label = run if len(endpoints) == 1 else f"{run}/{endpoint['name']}"
            taken = {s.label for s in series}
            unique, n = label, 2
            while unique in taken:
                unique, n = f"{label}#{n}", n + 1
            points = {p["label"]: p for p in endpoint["load_points"]}
            series.append(Series(unique, str(path), points))
    if not series:
        raise ResultError("no load points in the result files given")
    return series


def load_order(series: list[Series]) -> list[str]:
    """Load point labels in first-seen order (closed-loop levels before rates, as bench runs)."""
    seen: dict[str, None] = {}
    for s in series:
        seen.update(dict.fromkeys(s.points))
    return list(seen)


def table_rows(series: list[Series]) -> list[list[str]]:
    rows = []
    for load in load_order(series):
        for s in series:
            point = s.points.get(load)
            if point is None:
                continue
            m = point["summary"]
            slo = "-" if not point["slo_checks"] else ("pass" if point["passed"] else "FAIL")
            rows.append([
                load, s.label, fmt(100.0 * m["success_rate"]), fmt(m["request_throughput"], 2),
                fmt(m["output_token_throughput"]), fmt(m["ttft_ms"]["median"]),
                fmt(m["ttft_ms"]["p95"]), fmt(m["ttft_ms"]["p99"]), fmt(m["itl_ms"]["median"], 2),
                fmt(m["tpot_ms"]["median"], 2), fmt(m["e2e_ms"]["median"]),
                fmt(m["e2e_ms"]["p99"]), fmt(m["goodput"], 2), slo,
            ])
    return rows


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def chart_latency(series: list[Series]) -> bytes:
    from matplotlib.figure import Figure  # Figure objects need no pyplot/display backend

    loads = load_order(series)
    figure = Figure(figsize=(13, 4))
    metrics = [("ttft_ms", "TTFT (ms)"), ("itl_ms", "ITL (ms)"), ("e2e_ms", "E2E latency (ms)")]
    for column, (key, title) in enumerate(metrics):
        ax = figure.add_subplot(1, 3, column + 1)
        for i, s in enumerate(series):
            color = f"C{i % 10}"
            for stat, style in (("median", "-"), ("p95", "--"), ("p99", ":")):
                xs = [j for j, load in enumerate(loads) if load in s.points]
                ys = [s.points[loads[j]]["summary"][key][stat] for j in xs]
                ys = [float("nan") if y is None else y for y in ys]
                ax.plot(xs, ys, style, marker="o", color=color, label=f"{s.label} {stat}")
        ax.set_xticks(range(len(loads)), loads, rotation=30)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    figure.axes[0].legend(fontsize="x-small")
    return _png(figure)


def chart_throughput(series: list[Series]) -> bytes:
    from matplotlib.figure import Figure  # lazily: only charts need matplotlib

    figure = Figure(figsize=(10, 4))
    for column, (mode, key, xlabel) in enumerate(
        (("concurrency", "concurrency", "concurrency"), ("rate", "rate", "offered rate (req/s)"))
    ):
        ax = figure.add_subplot(1, 2, column + 1)
        for i, s in enumerate(series):
            points = [p for p in s.points.values() if p["mode"] == mode and p["spec"][key]]
            points.sort(key=lambda p: p["spec"][key])
            xs = [p["spec"][key] for p in points]
            ys = [p["summary"]["output_token_throughput"] for p in points]
            if xs:
                ax.plot(xs, ys, "-o", color=f"C{i % 10}", label=s.label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("output tokens/s")
        ax.set_title(f"throughput vs {xlabel}")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    return _png(figure)


def chart_ttft(series: list[Series]) -> bytes:
    """TTFT CDF at each series' heaviest load point: from records, else from percentiles."""
    from matplotlib.figure import Figure  # lazily: only charts need matplotlib

    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot(1, 1, 1)
    for i, s in enumerate(series):
        load, point = list(s.points.items())[-1]
        ttfts = sorted(1000.0 * r["ttft_s"] for r in point.get("requests", [])
                       if r["success"] and r["ttft_s"] is not None)
        if ttfts:
            ys = [(k + 1) / len(ttfts) for k in range(len(ttfts))]
            ax.step(ttfts, ys, where="post", color=f"C{i % 10}", label=f"{s.label} {load}")
        else:
            stats = point["summary"]["ttft_ms"]
            qs = [(stats[k], q) for k, q in (("min", 0.0), ("median", 0.5), ("p90", 0.9),
                                            ("p95", 0.95), ("p99", 0.99), ("max", 1.0))]
            ax.plot([x for x, _ in qs], [q for _, q in qs], "--o", color=f"C{i % 10}",
                    label=f"{s.label} {load} (percentiles only)")
    ax.set_xlabel("TTFT (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("TTFT distribution (highest load point)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _png(figure)


def render_html(series: list[Series], rows: list[list[str]], images: dict[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in TABLE_HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    figures = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in images.items())
    sources = "".join(f"<li>{html.escape(s.label)}: {html.escape(s.source)}</li>" for s in series)
    warnings = "".join(
        f"<li>{html.escape(s.label)} {html.escape(load)}: {html.escape(w)}</li>"
        for s in series for load, p in s.points.items() for w in p["client"]["warnings"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Benchmark comparison</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
        "</style></head><body><h1>Benchmark comparison</h1>"
        f"<p>Latencies in ms. Series:</p><ul>{sources}</ul>"
        f"<table><tr>{head}</tr>{body}</table>"
        + (f"<h2>Client warnings</h2><ul>{warnings}</ul>" if warnings else "")
        + f"{figures}</body></html>\n"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT", help="smoke bench JSON results")
    parser.add_argument("--label", action="append", help="name per result file, in order")
    parser.add_argument("--out", default="bench-compare", metavar="DIR",
                        help="directory for the PNG charts and report.html (default bench-compare)")
    parser.add_argument("--no-charts", action="store_true", help="print the table only")


def run(args: argparse.Namespace) -> int:
    try:
        series = collect_series(args.results, args.label)
    except ResultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = table_rows(series)
    print(render_table(TABLE_HEADERS, rows))
    if args.no_charts:
        return 0
    images = dict(zip(CHARTS, (chart_latency(series), chart_throughput(series),
                               chart_ttft(series)), strict=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / name).write_bytes(data)
    (out / "report.html").write_text(render_html(series, rows, images), encoding="utf-8")
    print(f"charts and report.html written to {out}", file=sys.stderr)
    return 0
