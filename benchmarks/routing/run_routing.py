"""Local proof of the managed claim: two real vLLM CPU replicas behind `vllm-router`, per policy.

For each case (replicas of equal or unequal capacity, set by `--max-num-seqs`) it starts two
vLLM CPU engines with the tiny model, one core each, then for each routing policy starts the
same `vllm-router` binary in front of them and drives it with `python -m smoke bench` (Poisson
arrivals, a mixed workload of short and long outputs from a JSONL dataset). Prefix caching is
off in the engines so runs cannot warm each other's caches. Writes every bench report and a
summary (`summary.json`, plus a Markdown table on stdout).

    .venv/bin/python benchmarks/routing/run_routing.py \
        --router-bin /tmp/vr-venv/bin/vllm-router --out benchmarks/routing/results
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from smoke.local import LocalEngine, free_port  # noqa: E402  (after the path set-up above)

CASES = {"equal": (16, 16), "unequal": (16, 4)}
API_KEY = "routing-bench-key"  # loopback only; one key for both replicas, like one Secret


class PinnedEngine(LocalEngine):
    """A LocalEngine on one CPU core (`taskset`), so the two replicas do not share a core."""

    def __init__(self, core: int | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.core = core

    def command(self) -> list[str]:
        prefix = ["taskset", "-c", str(self.core)] if self.core is not None else []
        return prefix + super().command()


def write_dataset(path: Path, count: int, long_fraction: float, short_tokens: int,
                  long_tokens: int, seed: int) -> dict[str, int]:
    """A mixed workload: each line is a distinct prompt with a short or a long output budget."""
    rng = random.Random(seed)
    words = ["time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child",
             "world", "school", "state"]
    lines, longs = [], 0
    for index in range(count):
        is_long = rng.random() < long_fraction
        longs += is_long
        prompt = f"Request {index}: " + " ".join(rng.choice(words) for _ in range(48))
        lines.append(json.dumps({"prompt": prompt,
                                 "output_tokens": long_tokens if is_long else short_tokens}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"requests": count, "long": longs, "short": count - longs}


def start_router(binary: str, policy: str, workers: list[str], log: Path) -> tuple[
        subprocess.Popen[bytes], str]:
    port, metrics_port = free_port(), free_port()  # its own Prometheus port per process
    cmd = [binary, "--host", "127.0.0.1", "--port", str(port), "--policy", policy,
           "--worker-urls", *workers, "--prometheus-port", str(metrics_port),
           "--health-check-interval-secs", "5", "--api-key", API_KEY]
    with open(log, "wb") as handle:
        process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readiness", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"router exited: see {log}")
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"router not ready in 60 s: see {log}")


def router_outputs(engine: LocalEngine, url: str, name: str) -> dict[str, Any]:
    """Contract v1 outputs for the router, built from the engine's (same key and model)."""
    document = engine.outputs_document()
    endpoint = next(iter(document["endpoints"].values()))
    endpoint.update({"base_url": url, "port": int(url.rsplit(":", 1)[1]), "replicas": 2})
    return {**document, "endpoints": {name: endpoint}}


def run_bench(outputs: Path, report: Path, label: str, args: argparse.Namespace,
              dataset: Path) -> int:
    # `smoke bench` as a command, except that with --rate alone its build_settings iterates
    # `args.concurrency` (None) (smoke/bench.py, reported): no closed-loop levels = [].
    shim = ("import sys, smoke.bench as b; f = b.build_settings\n"
            "def fixed(a):\n    a.concurrency = a.concurrency or []\n    return f(a)\n"
            "b.build_settings = fixed\nfrom smoke.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", shim, "bench", "--outputs", str(outputs),
           "--rate", str(args.rate), "--num-requests", str(args.num_requests),
           "--warmup", "4", "--dataset", str(dataset), "--seed", str(args.seed),
           "--report", str(report), "--label", label, "--no-progress", "--no-records"]
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def load_point(report: Path) -> dict[str, Any]:
    document = json.loads(report.read_text(encoding="utf-8"))
    point = document["endpoints"][0]["load_points"][0]
    return {**point["summary"], "client": point["client"]}


def run_case(case: str, seqs: tuple[int, int], args: argparse.Namespace,
             dataset: Path) -> list[dict[str, Any]]:
    out: Path = args.out
    scratch = ROOT / "out" / "routing"  # logs and outputs files (with the key) stay out of git
    scratch.mkdir(parents=True, exist_ok=True)
    model_dir = ROOT / "out" / "local" / "tiny-model"
    cores = [0, 1] if (os.cpu_count() or 1) >= 2 else [None, None]
    engines = [
        PinnedEngine(cores[i], model_dir, scratch / f"{case}-engine{i}.outputs.json",
                     api_key=API_KEY, log_path=scratch / f"{case}-engine{i}.log",
                     extra_args=("--max-num-seqs", str(n), "--no-enable-prefix-caching"))
        for i, n in enumerate(seqs)
    ]
    rows = []
    try:
        for engine in engines:
            engine.start()
        workers = [e.base_url for e in engines]
        for policy in args.policies:
            label = f"{case}-{policy}"
            router, url = start_router(args.router_bin, policy, workers,
                                       scratch / f"{label}.router.log")
            try:
                outputs = scratch / f"{label}.outputs.json"
                outputs.write_text(json.dumps(router_outputs(engines[0], url, label)))
                code = run_bench(outputs, out / f"{label}.json", label, args, dataset)
            finally:
                router.terminate()
                router.wait(timeout=10)
                outputs.unlink(missing_ok=True)  # holds the API key
            if code not in (0, 1):  # 1 = an SLO gate missed, still a measurement
                raise RuntimeError(f"smoke bench failed for {label} (exit {code})")
            rows.append({"case": case, "max_num_seqs": list(seqs), "policy": policy,
                         "summary": load_point(out / f"{label}.json")})
    finally:
        for engine in engines:
            engine.stop()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | policy | TTFT P50 ms | P95 | P99 | E2E P99 ms | req/s | out tok/s | ok |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        s = row["summary"]
        ttft, e2e = s["ttft_ms"], s["e2e_ms"]
        lines.append(
            f"| {row['case']} {row['max_num_seqs']} | {row['policy']} | {ttft['median']:.0f} | "
            f"{ttft['p95']:.0f} | {ttft['p99']:.0f} | {e2e['p99']:.0f} | "
            f"{s['request_throughput']:.1f} | {s['output_token_throughput']:.0f} | "
            f"{s['completed']}/{s['requests']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router-bin", default=shutil.which("vllm-router") or "vllm-router")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "routing" / "results")
    parser.add_argument("--cases", default="equal,unequal")
    parser.add_argument("--policies", default="round_robin,power_of_two,cache_aware")
    parser.add_argument("--rate", type=float, default=30.0, help="requests/s (Poisson)")
    parser.add_argument("--num-requests", type=int, default=300)
    parser.add_argument("--long-fraction", type=float, default=0.3)
    parser.add_argument("--short-tokens", type=int, default=32)
    parser.add_argument("--long-tokens", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.policies = args.policies.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = args.out / "mixed.jsonl"
    mix = write_dataset(dataset, args.num_requests + 8, args.long_fraction, args.short_tokens,
                        args.long_tokens, args.seed)
    rows = []
    for case in args.cases.split(","):
        rows += run_case(case, CASES[case], args, dataset)
    summary = {"rate": args.rate, "num_requests": args.num_requests, "mix": mix,
               "short_tokens": args.short_tokens, "long_tokens": args.long_tokens,
               "router": args.router_bin, "load_average": os.getloadavg(), "rows": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
