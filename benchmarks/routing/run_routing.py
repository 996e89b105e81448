"""Local proof of the managed claim: two real vLLM CPU replicas behind a router, per config.

For each case (replicas of equal or unequal capacity, set by `--max-num-seqs`) it starts two
vLLM CPU engines with the tiny model, one core each, then for each seed and each router config
starts the router in front of them and drives it with `python -m smoke bench` (Poisson
arrivals, a mixed workload of short and long outputs from a JSONL dataset). Prefix caching is
off in the engines so runs cannot warm each other's caches.

Router configs are names (`--configs`), each rendered through `components.router_manifests` so
the benchmark runs the flags the stack renders:
    vr-<policy>                    vllm-router 0.1.17, e.g. vr-round_robin (the control)
    smg-<p>[-w<N>][-v<N>][-k<X>]-<I>s
                                   smg 1.13.0: p = rr | p2req | p2lreq | p2ew (power_of_two on
                                   requests | least_requests | expected_wait) | ll (least_load;
                                   w<N> = its waiting cap, benchmark only), v<N> = skip an
                                   engine with >= N waiting requests, k<X> = or KV usage >= X,
                                   I = load-monitor interval (s); e.g. smg-rr-v1-1s

Per point it also records the mechanism, not only the tails: requests each engine completed
(the change in `vllm:request_success_total`) and a sampler of each engine's
`vllm:num_requests_waiting` / `num_requests_running` (queue-seconds per replica).
Writes every bench report and a summary (`summary.json`, rewritten after every point, plus
Markdown tables on stdout).

    .venv/bin/python benchmarks/routing/run_routing.py --out benchmarks/routing/results \
        --seeds 0,1 --configs vr-round_robin,vr-power_of_two,smg-rr-v1-1s
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from components import router_manifests as rm  # noqa: E402  (after the path set-up above)
from components.engines import admission_argv  # noqa: E402
from smoke.local import LocalEngine, free_port  # noqa: E402

CASES = {"equal": (16, 16), "unequal": (16, 4)}
# `<case>-q<N>`: the same replicas with a bounded queue (the stack's `router.engine_queue`): each
# engine refuses (503) past max_num_seqs + N unfinished requests, and smg retries elsewhere.
_CASE_NAME = re.compile(r"^(equal|unequal)(?:-q(\d+))?$")


def parse_case(name: str) -> tuple[str, tuple[int, int], int | None]:
    """`unequal-q0` -> (base case, max_num_seqs per engine, engine queue bound)."""
    match = _CASE_NAME.match(name)
    if not match:
        raise ValueError(f"unknown case {name!r}: equal or unequal, optionally -q<N>")
    base, queue = match.groups()
    return base, CASES[base], int(queue) if queue is not None else None
API_KEY = "routing-bench-key"  # loopback only; one key for both replicas, like one Secret
CONTROL = "vr-round_robin"
SMG_POLICIES = {"rr": ("round_robin", "requests"), "p2req": ("power_of_two", "requests"),
                "p2lreq": ("power_of_two", "least_requests"),
                "p2ew": ("power_of_two", "expected_wait"), "ll": ("least_load", "requests")}
_SMG_NAME = re.compile(
    r"^smg-(rr|p2req|p2lreq|p2ew|ll)(?:-w(\d+))?(?:-v(\d+))?(?:-k([0-9.]+))?-(\d+)s$")


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


def router_spec(name: str) -> rm.RouterSpec:
    """A config name -> the RouterSpec the stack would render (discovery aside)."""
    base = rm.RouterSpec(endpoint="bench", namespace="local", image=rm.DEFAULT_IMAGE,
                         policy=name[3:], port=0, engine_port=0, engine_selector={})
    if name.startswith("vr-"):
        return base
    match = _SMG_NAME.match(name)
    if not match:
        raise ValueError(f"unknown router config {name!r} (see the module docstring)")
    short, cap, veto, kv, interval = match.groups()
    if cap and short != "ll":
        raise ValueError(f"unknown router config {name!r}: -w<N> is least_load's cap (smg-ll-w<N>)")
    policy, metric = SMG_POLICIES[short]
    return dataclasses.replace(base, image=rm.SMG_IMAGE, policy=policy, kind="smg",
                               load_metric=metric, queue_veto=int(veto) if veto else None,
                               kv_veto=float(kv) if kv else None,
                               load_monitor_interval_seconds=int(interval))


def routing_args(name: str, engine_queue: int | None = None) -> list[str]:
    """The stack's routing flags for a config in front of engines with that queue bound, plus
    `-w<N>`: smg's least_load waiting cap, which the stack does not render (measured here: it
    refuses requests with 503 once every engine reaches it, see README)."""
    spec = router_spec(name)
    if spec.kind == "smg":
        spec = dataclasses.replace(spec, engine_queue=engine_queue)
    args = rm.routing_argv(spec)
    match = _SMG_NAME.match(name)
    if match and match.group(2):
        args += ["--least-load-max-waiting-requests", match.group(2)]
    return args


def start_router(binaries: dict[str, str], name: str, workers: list[str], log: Path,
                 engine_queue: int | None = None) -> tuple[
        subprocess.Popen[bytes], str, str]:
    spec = router_spec(name)
    port, metrics_port = free_port(), free_port()  # its own Prometheus port per process
    if spec.kind == "smg":
        # Warnings only: smg logs every request at info level.
        cmd = [binaries["smg"], "launch", "--log-level", "warn", "--host", "127.0.0.1",
               "--prometheus-host", "127.0.0.1"]
    else:
        cmd = [binaries["vllm-router"], "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *routing_args(name, engine_queue), "--worker-urls", *workers,
            "--prometheus-port", str(metrics_port), "--health-check-interval-secs", "5",
            "--api-key", API_KEY]
    with open(log, "wb") as handle:
        handle.write((" ".join(cmd).replace(API_KEY, "***") + "\n").encode())
        handle.flush()
        process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready = requests.get(f"{url}/readiness", timeout=2)
            # Both routers answer {"healthy_workers": n, ...}: wait until they see both engines.
            if ready.status_code == 200 and ready.json().get("healthy_workers") == len(workers):
                # smg: let the load monitor poll the engines at least once more.
                time.sleep(spec.load_monitor_interval_seconds + 0.5 if spec.kind == "smg" else 0)
                return process, url, f"http://127.0.0.1:{metrics_port}"
        except (requests.RequestException, ValueError):
            pass
        if process.poll() is not None:
            raise RuntimeError(f"router exited: see {log}")
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"router not ready in 60 s: see {log}")


def _gauges(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Sum of every sample (label set) of each named metric in a Prometheus text page."""
    sums = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in sums:
            with contextlib.suppress(IndexError, ValueError):
                sums[name] += float(line.rsplit(" ", 1)[1])
    return sums


# The router's own account of the veto (smg 1.13.0 names; absent on vllm-router).
ROUTER_METRICS = ("smg_worker_overload_fallback_total", "smg_worker_overload_shed_total",
                  "smg_workers_overloaded", "smg_worker_liveness_fallback_total")


def router_counters(metrics_url: str) -> dict[str, float]:
    try:
        page = requests.get(f"{metrics_url}/metrics", timeout=5)
    except requests.RequestException:
        return {}
    return _gauges(page.text, ROUTER_METRICS) if page.ok else {}


ENGINE_METRICS = ("vllm:num_requests_waiting", "vllm:num_requests_running",
                  "vllm:request_success_total", "vllm:admission_rejections_total")


class EngineSampler(threading.Thread):
    """Polls each engine's /metrics: queue depth over time and completed requests per engine.

    queue-seconds = the integral of `vllm:num_requests_waiting` over the point (sampled every
    `period_s`): how long requests sat queued in that replica, summed over requests.
    """

    def __init__(self, engines: list[str], period_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.engines, self.period_s = engines, period_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"
        self.halt = threading.Event()
        self.samples: list[list[tuple[float, dict[str, float]]]] = [[] for _ in engines]
        self.start_totals = [self.scrape(url) for url in engines]

    def scrape(self, url: str) -> dict[str, float]:
        page = self.session.get(f"{url}/metrics", timeout=5)
        page.raise_for_status()
        return _gauges(page.text, ENGINE_METRICS)

    def run(self) -> None:
        while not self.halt.is_set():
            for i, url in enumerate(self.engines):
                with contextlib.suppress(requests.RequestException):
                    self.samples[i].append((time.monotonic(), self.scrape(url)))
            self.halt.wait(self.period_s)

    def finish(self) -> list[dict[str, Any]]:
        self.halt.set()
        self.join(timeout=10)
        out = []
        for i, url in enumerate(self.engines):
            series = self.samples[i]
            queue_s = sum(prev[1]["vllm:num_requests_waiting"] * (cur[0] - prev[0])
                          for prev, cur in itertools.pairwise(series))
            waiting = [s["vllm:num_requests_waiting"] for _, s in series] or [0.0]
            running = [s["vllm:num_requests_running"] for _, s in series] or [0.0]
            end = self.scrape(url)
            done, refused = (end[name] - self.start_totals[i][name] for name in (
                "vllm:request_success_total", "vllm:admission_rejections_total"))
            out.append({"engine": i, "requests": int(done), "refused": int(refused),
                        "queue_seconds": round(queue_s, 2),
                        "max_waiting": max(waiting),
                        "share_of_samples_with_queue": round(
                            sum(w > 0 for w in waiting) / len(waiting), 3),
                        "mean_running": round(sum(running) / len(running), 2),
                        "samples": len(series)})
        total = sum(e["requests"] for e in out) or 1
        for engine in out:
            engine["share"] = round(engine["requests"] / total, 3)
        return out


def router_outputs(engine: LocalEngine, url: str, name: str) -> dict[str, Any]:
    """Contract v1 outputs for the router, built from the engine's (same key and model)."""
    document = engine.outputs_document()
    endpoint = next(iter(document["endpoints"].values()))
    endpoint.update({"base_url": url, "port": int(url.rsplit(":", 1)[1]), "replicas": 2})
    return {**document, "endpoints": {name: endpoint}}


def run_bench(outputs: Path, report: Path, label: str, args: argparse.Namespace,
              dataset: Path, seed: int) -> int:
    cmd = [sys.executable, "-m", "smoke", "bench", "--outputs", str(outputs),
           "--rate", str(args.rate), "--num-requests", str(args.num_requests),
           "--warmup", "4", "--dataset", str(dataset), "--seed", str(seed),
           "--report", str(report), "--label", label, "--no-progress", "--no-records"]
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def load_point(report: Path) -> dict[str, Any]:
    document = json.loads(report.read_text(encoding="utf-8"))
    point = document["endpoints"][0]["load_points"][0]
    return {**point["summary"], "client": point["client"]}


def run_case(case: str, args: argparse.Namespace, datasets: dict[int, Path],
             rows: list[dict[str, Any]]) -> None:
    base, seqs, engine_queue = parse_case(case)
    out: Path = args.out
    scratch = ROOT / "out" / "routing"  # logs and outputs files (with the key) stay out of git
    scratch.mkdir(parents=True, exist_ok=True)
    model_dir = ROOT / "out" / "local" / "tiny-model"
    cores = [0, 1] if (os.cpu_count() or 1) >= 2 else [None, None]
    engines = [
        PinnedEngine(cores[i], model_dir, scratch / f"{case}-engine{i}.outputs.json",
                     api_key=API_KEY, log_path=scratch / f"{case}-engine{i}.log",
                     extra_args=("--max-num-seqs", str(n), "--no-enable-prefix-caching",
                                 *admission_argv("vllm", n, engine_queue)))
        for i, n in enumerate(seqs)
    ]
    binaries = {"vllm-router": args.vllm_router_bin, "smg": args.smg_bin}
    try:
        for engine in engines:
            engine.start()
        workers = [e.base_url for e in engines]
        for seed in args.seeds:
            (out / f"seed{seed}").mkdir(parents=True, exist_ok=True)
            for position, config in enumerate(args.configs):
                label = f"{case}-{config}"
                repeat = args.configs[:position].count(config)  # a config may run twice
                report = out / f"seed{seed}" / f"{label}{f'-r{repeat + 1}' if repeat else ''}.json"
                router, url, metrics_url = start_router(
                    binaries, config, workers, scratch / f"{label}.seed{seed}.router.log",
                    engine_queue)
                outputs = scratch / f"{label}.outputs.json"
                try:
                    outputs.write_text(json.dumps(router_outputs(engines[0], url, label)))
                    sampler = EngineSampler(workers)
                    sampler.start()
                    started = time.monotonic()
                    code = run_bench(outputs, report, label, args, datasets[seed], seed)
                    engines_seen = sampler.finish()
                    counters = router_counters(metrics_url)
                finally:
                    router.terminate()
                    try:
                        router.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        router.kill()
                        router.wait(timeout=5)
                    outputs.unlink(missing_ok=True)  # holds the API key
                if code not in (0, 1):  # 1 = an SLO gate missed, still a measurement
                    raise RuntimeError(f"smoke bench failed for {label} (exit {code})")
                spec = router_spec(config)
                rows.append({"case": case, "base_case": base, "engine_queue": engine_queue,
                             "max_num_seqs": list(seqs), "seed": seed,
                             "config": config, "router": spec.kind, "policy": spec.policy,
                             "routing_args": routing_args(config, engine_queue),
                             "wall_s": round(time.monotonic() - started, 1),
                             "load_average": os.getloadavg(),
                             "summary": load_point(report), "engines": engines_seen,
                             "router_counters": counters})
                write_summary(args, rows)
                print(f"{label} seed {seed}: TTFT P99 {rows[-1]['summary']['ttft_ms']['p99']:.0f}"
                      f" ms, shares {[e['share'] for e in engines_seen]}, queue-s "
                      f"{[e['queue_seconds'] for e in engines_seen]}", flush=True)
    finally:
        for engine in engines:
            engine.stop()


def _control_p99(rows: list[dict[str, Any]], row: dict[str, Any]) -> float | None:
    """The control's TTFT P99 on the same replicas and seed, with unbounded engine queues (the
    base case: a bounded queue is part of what is measured), the mean when it ran more than
    once (a run can place it first and last, to bracket drift in the machine's other load)."""
    base = row.get("base_case", row["case"])
    p99s = [r["summary"]["ttft_ms"]["p99"] for r in rows if r["config"] == CONTROL
            and r["case"] == base and r["seed"] == row["seed"]]
    return sum(p99s) / len(p99s) if p99s else None


def table(rows: list[dict[str, Any]]) -> str:
    """Tails, throughput, and the mechanism (share and queue-seconds per engine)."""
    lines = ["| case | seed | config | TTFT P50 ms | P95 | P99 | P99 vs RR | E2E P99 ms | req/s | "
             "out tok/s | ok | share e0/e1 | queue-s e0/e1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        s = row["summary"]
        ttft, e2e = s["ttft_ms"], s["e2e_ms"]
        control = _control_p99(rows, row)
        ratio = f"{100 * (ttft['p99'] / control - 1):+.0f}%" if control else "n/a"
        engines = row.get("engines", [])
        share = "/".join(f"{e['share']:.2f}" for e in engines)
        queue = "/".join(f"{e['queue_seconds']:.1f}" for e in engines)
        lines.append(
            f"| {row['case']} {row['max_num_seqs']} | {row['seed']} | {row['config']} | "
            f"{ttft['median']:.0f} | {ttft['p95']:.0f} | {ttft['p99']:.0f} | {ratio} | "
            f"{e2e['p99']:.0f} | {s['request_throughput']:.1f} | "
            f"{s['output_token_throughput']:.0f} | {s['completed']}/{s['requests']} | "
            f"{share} | {queue} |")
    return "\n".join(lines)


def mechanism_table(rows: list[dict[str, Any]]) -> str:
    """Per engine: requests completed, refused (503, retried by the router), share,
    queue-seconds, peak queue, mean running."""
    lines = ["| case | seed | config | engine | requests | refused | share | queue-s | "
             "max waiting | time with a queue | mean running |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for e in row.get("engines", []):
            lines.append(
                f"| {row['case']} {row['max_num_seqs']} | {row['seed']} | {row['config']} | "
                f"{e['engine']} ({row['max_num_seqs'][e['engine']]} seqs) | {e['requests']} | "
                f"{e.get('refused', 0)} | "
                f"{e['share']:.2f} | {e['queue_seconds']:.1f} | {e['max_waiting']:.0f} | "
                f"{100 * e['share_of_samples_with_queue']:.0f}% | {e['mean_running']:.1f} |")
    return "\n".join(lines)


def ratio_table(rows: list[dict[str, Any]]) -> str:
    """TTFT P99 of each config against the control's (the mean of its runs), per case and seed
    (negative = better)."""
    keys = sorted({(r["case"], r["seed"]) for r in rows})
    configs = list(dict.fromkeys(r["config"] for r in rows))
    lines = ["| config | " + " | ".join(f"{c} seed {s}" for c, s in keys) + " |",
             "|---|" + "---|" * len(keys)]
    for config in configs:
        cells = []
        for case, seed in keys:
            runs = [r for r in rows if (r["case"], r["seed"], r["config"]) == (case, seed, config)]
            base = _control_p99(rows, runs[0]) if runs else None
            if not runs or base is None:
                cells.append("not run")
                continue
            cells.append(", ".join(f"{r['summary']['ttft_ms']['p99']:.0f} ms "
                                   f"({100 * (r['summary']['ttft_ms']['p99'] / base - 1):+.0f}%)"
                                   for r in runs))
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(paths: list[Path]) -> int:
    """Print the tables of one or more finished (or interrupted) runs' summary.json."""
    for path in paths:
        summary = json.loads(path.read_text(encoding="utf-8"))
        rows = summary["rows"]
        print(f"## {path} (load average at the end {summary.get('load_average')})\n")
        print(table(rows), "\n")
        print(ratio_table(rows), "\n")
        print(mechanism_table(rows), "\n")
    return 0


def write_summary(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    summary = {"rate": args.rate, "num_requests": args.num_requests, "mix": args.mix,
               "short_tokens": args.short_tokens, "long_tokens": args.long_tokens,
               "seeds": args.seeds, "configs": args.configs, "control": CONTROL,
               "routers": {"vllm-router": args.vllm_router_bin, "smg": args.smg_bin},
               "load_average": os.getloadavg(), "rows": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    venv_bin = Path(sys.executable).parent
    parser.add_argument("--vllm-router-bin", "--router-bin",
                        default=shutil.which("vllm-router", path=str(venv_bin))
                        or shutil.which("vllm-router") or "vllm-router")
    parser.add_argument("--smg-bin", default=shutil.which("smg", path=str(venv_bin))
                        or shutil.which("smg") or "smg")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "routing" / "results")
    parser.add_argument("--cases", default="equal,unequal")
    parser.add_argument("--configs", default=f"{CONTROL},vr-power_of_two,smg-rr-v1-1s",
                        help="router configs (see the module docstring); the control first")
    parser.add_argument("--rate", type=float, default=30.0, help="requests/s (Poisson)")
    parser.add_argument("--num-requests", type=int, default=300)
    parser.add_argument("--long-fraction", type=float, default=0.3)
    parser.add_argument("--short-tokens", type=int, default=32)
    parser.add_argument("--long-tokens", type=int, default=384)
    parser.add_argument("--seeds", default="0", help="comma-separated; engines stay up")
    parser.add_argument("--report", type=Path, nargs="+",
                        help="only print the tables of these summary.json files")
    args = parser.parse_args()
    if args.report:
        return report(args.report)
    args.configs = args.configs.split(",")
    args.cases = args.cases.split(",")
    for case in args.cases:
        parse_case(case)  # fail on a bad name before starting engines
    for config in args.configs:
        router_spec(config)  # fail on a bad name before starting engines
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    datasets, args.mix = {}, {}
    for seed in args.seeds:
        datasets[seed] = args.out / f"mixed-seed{seed}.jsonl"
        args.mix[seed] = write_dataset(datasets[seed], args.num_requests + 8, args.long_fraction,
                                       args.short_tokens, args.long_tokens, seed)
    rows: list[dict[str, Any]] = []
    for case in args.cases:
        run_case(case, args, datasets, rows)
    write_summary(args, rows)
    print(table(rows), "\n")
    print(ratio_table(rows), "\n")
    print(mechanism_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
