"""Measure `smoke bench` against `vllm bench serve` on the same local vLLM CPU engine.

Both tools hit /v1/chat/completions with the same input/output lengths, request count, warmup
and concurrency, one after the other (the order alternates per repeat so drift hurts neither),
each in its own process. Per run it records output tokens/s, median and P99 TTFT, median ITL,
and the client's CPU: the whole process (os.wait4 rusage, which includes vLLM importing torch)
and the measured phase only (first measured send to last response, the span both tools time).
Reports the median over repeats as a Markdown table and writes raw results to --out.

    .venv/bin/python benchmarks/vs_vllm_bench.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from smoke.local import LocalEngine  # noqa: E402  (after the path set-up above)

PYTHON = sys.executable


def timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run `cmd`; return its CPU seconds (user + sys, children included) from os.wait4."""
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[1]} failed; see {log}")
    return usage.ru_utime + usage.ru_stime


def run_vllm(args: argparse.Namespace, concurrency: int, out: Path, rep: int) -> dict[str, Any]:
    name = f"vllm_c{concurrency}_r{rep}"
    cpu_json = out / f"{name}.cpu.json"
    cmd = [PYTHON, str(ROOT / "benchmarks" / "vllm_bench_child.py"), str(cpu_json), "--",
           "--backend", "openai-chat", "--base-url", args.base_url,
           "--endpoint", "/v1/chat/completions", "--model", str(args.model_dir),
           "--served-model-name", args.served_name, "--tokenizer", str(args.model_dir),
           "--dataset-name", "random", "--random-input-len", str(args.input_len),
           "--random-output-len", str(args.output_len), "--random-range-ratio", "0",
           "--num-prompts", str(args.num_requests), "--max-concurrency", str(concurrency),
           "--request-rate", "inf", "--num-warmups", str(args.warmup), "--seed", "0",
           "--ignore-eos", "--percentile-metrics", "ttft,tpot,itl,e2el",
           "--metric-percentiles", "50,90,95,99", "--save-result",
           "--result-dir", str(out), "--result-filename", f"{name}.json"]
    env = {**os.environ, "OPENAI_API_KEY": args.api_key}
    process_cpu = timed(cmd, out / f"{name}.log", env)
    data = json.loads((out / f"{name}.json").read_text())
    cpu = json.loads(cpu_json.read_text())
    return {"tool": "vllm bench serve", "concurrency": concurrency, "repeat": rep,
            "output_tok_s": data["output_throughput"], "ttft_p50_ms": data["median_ttft_ms"],
            "ttft_p99_ms": data["p99_ttft_ms"], "itl_p50_ms": data["median_itl_ms"],
            "completed": data["completed"], "failed": data.get("failed", 0),
            "prompt_tokens_mean": data["total_input_tokens"] / max(data["completed"], 1),
            "load_cpu_s": cpu["load_cpu_s"], "process_cpu_s": process_cpu}


def run_smoke(args: argparse.Namespace, concurrency: int, out: Path, rep: int,
              input_tokens: int, outputs: Path) -> dict[str, Any]:
    name = f"smoke_c{concurrency}_r{rep}"
    cmd = [PYTHON, "-m", "smoke", "bench", "--outputs", str(outputs),
           "--concurrency", str(concurrency), "--num-requests", str(args.num_requests),
           "--input-tokens", str(input_tokens), "--output-tokens", str(args.output_len),
           "--warmup", str(args.warmup), "--seed", "0", "--slo", "ttft_p95_ms=none",
           "--report", str(out / f"{name}.json")]
    process_cpu = timed(cmd, out / f"{name}.log")
    point = json.loads((out / f"{name}.json").read_text())["endpoints"][0]["load_points"][0]
    s = point["summary"]
    return {"tool": "smoke bench", "concurrency": concurrency, "repeat": rep,
            "output_tok_s": s["output_token_throughput"], "ttft_p50_ms": s["ttft_ms"]["median"],
            "ttft_p99_ms": s["ttft_ms"]["p99"], "itl_p50_ms": s["itl_ms"]["median"],
            "completed": s["completed"], "failed": s["failed"],
            "prompt_tokens_mean": s["mean_prompt_tokens"],
            "load_cpu_s": point["client"]["cpu_s"], "process_cpu_s": process_cpu}


FIELDS = ("output_tok_s", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "load_cpu_s",
          "process_cpu_s", "prompt_tokens_mean")


def median_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in sorted({r["concurrency"] for r in runs}):
        for tool in ("vllm bench serve", "smoke bench"):
            mine = [r for r in runs if r["concurrency"] == c and r["tool"] == tool]
            row = {"tool": tool, "concurrency": c, "repeats": len(mine)}
            row |= {f: statistics.median(r[f] for r in mine) for f in FIELDS}
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], num_requests: int) -> str:
    lines = ["| conc. | tool | out tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | "
             f"load CPU s ({num_requests} req) | process CPU s | prompt tok |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['concurrency']} | {r['tool']} | {r['output_tok_s']:.0f} | "
            f"{r['ttft_p50_ms']:.2f} | {r['ttft_p99_ms']:.2f} | {r['itl_p50_ms']:.3f} | "
            f"{r['load_cpu_s']:.2f} | {r['process_cpu_s']:.2f} | {r['prompt_tokens_mean']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="model to serve (default: tiny model)")
    parser.add_argument("--port", type=int, default=18123)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--num-requests", type=int, default=200)
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let engine and clients share every core (default: engine on core "
                             "0, load generators on the others)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vs-vllm-"))
    model_dir = args.model_dir or work / "tiny"  # LocalEngine generates the tiny model there
    cores = sorted(os.sched_getaffinity(0))
    split = not args.shared_cores and len(cores) >= 2
    if split:
        # vLLM's CPU engine binds OpenMP threads to every core and spins on them; a client
        # sharing those cores is starved for seconds and measures the scheduler, not the server.
        # The engine (API server and engine core) gets core 0, the load generators the rest.
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = str(cores[0])
        os.sched_setaffinity(0, {cores[0]})
    engine = LocalEngine(model_dir, work / "outputs.json", port=args.port,
                         log_path=work / "engine.log").start()
    if split:
        os.sched_setaffinity(0, set(cores[1:]))  # inherited by both tools' client processes
    args.cpu_split = f"engine {cores[0]}, clients {cores[1:]}" if split else "shared"
    args.model_dir, args.base_url = model_dir, engine.base_url
    args.api_key, args.served_name = engine.api_key, engine.served_model_name
    outputs = engine.outputs_path
    runs: list[dict[str, Any]] = []
    levels = [int(x) for x in args.concurrency.split(",")]
    try:
        # Untimed pass first: the CPU engine builds kernels per batch shape on first use, and
        # whichever tool saw a shape first would otherwise pay for it.
        warm = argparse.Namespace(**{**vars(args), "num_requests": 2 * max(levels)})
        for c in levels:
            run_smoke(warm, c, work, -1, args.input_len, outputs)
        for rep in range(args.repeats):
            for i, c in enumerate(levels):
                # vLLM goes first in the very first pair: its prompt length sets the target.
                vllm_first = (rep + i) % 2 == 0
                order = ["vllm", "smoke"] if vllm_first else ["smoke", "vllm"]
                for tool in order:
                    # Same server-side prompt length: vLLM's random tokens plus chat template.
                    target = round(statistics.median(
                        r["prompt_tokens_mean"] for r in runs if r["tool"] == "vllm bench serve"
                    )) if runs else 0
                    if tool == "vllm":
                        runs.append(run_vllm(args, c, args.out, rep))
                    else:
                        runs.append(run_smoke(args, c, args.out, rep, target, outputs))
                    print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    finally:
        engine.stop()
    rows = median_rows(runs)
    config = {k: str(v) for k, v in vars(args).items() if k != "api_key"}
    summary = {"config": config,
               "machine": {"cpu_count": os.cpu_count(), "cpu_split": args.cpu_split},
               "runs": runs, "medians": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(markdown(rows, args.num_requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
