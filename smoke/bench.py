"""`python -m smoke bench`: load sweeps against the endpoints in stack outputs, with SLO gates.

For each endpoint (one after another, so they never compete for the client), the command reaches
it like `smoke check` (directly or through a port-forward), sends one preflight request (which
also calibrates synthetic prompt lengths against the server's token count), then runs every load
point: closed-loop concurrency levels first, then open-loop rates. Each load point is gated on the
endpoint's SLOs from the outputs, overridden by `--slo`. Exit 0 when every gate passed, 1 when an
SLO was missed or an endpoint could not be benchmarked, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

import aiohttp

from smoke import step_load
from smoke.argtypes import finite_positive, positive_float, positive_int
from smoke.loadgen import (
    Api,
    Client,
    LoadSpec,
    RequestInput,
    RequestOutput,
    Target,
    Timeouts,
    run_load,
    stderr_progress,
)
from smoke.metrics import SLO_METRICS, check_slos, goodput_slos, summarize
from smoke.outputs import EndpointOutput, OutputsError, StackOutputs, load_outputs
from smoke.prompts import (
    DatasetError,
    LengthFit,
    Prompt,
    PromptSource,
    load_jsonl,
    probe_word_counts,
    synthetic_text,
)
from smoke.reach import ReachError, check_base_url, open_endpoint
from smoke.redact import Redactor
from smoke.results import build_result, format_table, load_point, write_result

SLO_KEYS = (*SLO_METRICS, "success_rate_min")


class UsageError(Exception):
    """Arguments that cannot run (exit 2)."""


@dataclass(frozen=True)
class Settings:
    specs: list[LoadSpec]
    api: Api
    input_tokens: int
    output_tokens: int
    ignore_eos: bool
    calibrate: bool
    seed: int
    dataset: list[Prompt] | None
    slo_overrides: dict[str, float | None]
    timeouts: Timeouts
    direct: bool
    records: bool
    token_times: bool
    progress: bool
    step: step_load.StepSettings | None = None


def _int_list(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",") if part.strip()]


def _rate_list(text: str) -> list[float]:
    return [positive_float(part) for part in text.split(",") if part.strip()]


def parse_slo(text: str) -> tuple[str, float | None]:
    """`ttft_p95_ms=500` (a limit) or `ttft_p95_ms=none` (drop the stack's gate)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or key not in SLO_KEYS:
        raise argparse.ArgumentTypeError(
            f"--slo {text!r}: expected KEY=VALUE with KEY one of {', '.join(SLO_KEYS)}")
    if value.strip().lower() == "none":
        return key, None
    try:
        limit = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slo {text!r}: {value!r} is not a number") from None
    if limit < 0 or math.isnan(limit):
        raise argparse.ArgumentTypeError(f"--slo {text!r}: limit must be >= 0")
    return key, limit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read `pulumi stack output` of this stack")
    source.add_argument("--outputs", metavar="FILE", help="outputs JSON file ('-' for stdin)")
    parser.add_argument("--endpoint", action="append", metavar="NAME",
                        help="benchmark only this endpoint (repeatable; default all)")
    parser.add_argument("--direct", action="store_true",
                        help="reach cluster/internal endpoints at base_url (inside the network)")
    load = parser.add_argument_group("load")
    load.add_argument("--concurrency", type=_int_list, metavar="N,N",
                      help="closed-loop concurrency levels, e.g. 1,8,32 (default 1 without --rate)")
    load.add_argument("--rate", type=_rate_list, metavar="R,R",
                      help="open-loop request rates per second, e.g. 2,5,inf")
    load.add_argument("--burstiness", type=positive_float, default=1.0,
                      help="gamma shape of arrival gaps: 1 Poisson, <1 burstier, >1 smoother")
    load.add_argument("--max-concurrency", type=positive_int, metavar="N",
                      help="cap in-flight requests for --rate (delays are client queue time)")
    size = load.add_mutually_exclusive_group()
    size.add_argument("--num-requests", type=positive_int, metavar="N",
                      help="measured requests per load point (default 100)")
    size.add_argument("--duration", type=positive_float, metavar="S",
                      help="send for S seconds per load point instead of a request count")
    load.add_argument("--warmup", type=int, default=4, metavar="N",
                      help="requests sent first at each load point and not counted (default 4)")
    work = parser.add_argument_group("workload")
    work.add_argument("--input-tokens", type=positive_int, default=128, metavar="N",
                      help="synthetic prompt length in server tokens (default 128)")
    work.add_argument("--output-tokens", type=positive_int, default=128, metavar="N",
                      help="max_tokens per request (default 128)")
    work.add_argument("--dataset", metavar="FILE.jsonl",
                      help="JSONL prompts: {\"prompt\": ...} or {\"messages\": [...]} per line")
    work.add_argument("--api", choices=["chat", "completions"], default="chat",
                      help="/v1/chat/completions (default) or /v1/completions")
    work.add_argument("--no-ignore-eos", action="store_true",
                      help="let the model stop early (default: ignore_eos for exact lengths)")
    work.add_argument("--no-calibrate", action="store_true",
                      help="take one word as one token instead of measuring it on the server")
    work.add_argument("--seed", type=int, default=0, help="prompt and arrival seed (default 0)")
    out = parser.add_argument_group("gates and results")
    out.add_argument("--slo", type=parse_slo, action="append", default=[], metavar="KEY=MS",
                     help=f"override a stack SLO (KEY: {', '.join(SLO_KEYS)}; VALUE or 'none')")
    out.add_argument("--report", metavar="FILE", help="write the JSON result here")
    out.add_argument("--label", help="name of this run in `compare` (default: file name)")
    out.add_argument("--no-records", action="store_true", help="omit per-request records")
    out.add_argument("--token-times", action="store_true",
                     help="include every token chunk's arrival time in the records")
    out.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    out.add_argument("--connect-timeout", type=finite_positive, default=10.0, metavar="S",
                     help="TCP connect timeout per request (default 10)")
    out.add_argument("--read-timeout", type=finite_positive, default=30.0, metavar="S",
                     help="longest silence within one stream; keep-alive comments do not count "
                     "(default 30)")
    out.add_argument("--request-timeout", type=finite_positive, default=600.0, metavar="S",
                     help="whole request, last token included (default 600)")
    out.add_argument("--max-body-bytes", type=positive_int, default=16 * 1024 * 1024,
                     metavar="N", help="largest answer read per request (default 16777216)")
    step_load.add_arguments(parser)


def build_settings(args: argparse.Namespace) -> Settings:
    if args.warmup < 0:
        raise UsageError("--warmup must be >= 0")
    try:
        step = step_load.settings_from(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    concurrency = args.concurrency or ([] if args.rate or step else [1])
    rates = args.rate or []
    if args.duration is not None and any(math.isinf(r) for r in rates):
        raise UsageError("--rate inf needs --num-requests, not --duration")
    if args.max_concurrency and not rates and not step:
        raise UsageError("--max-concurrency caps open-loop --rate; with --concurrency it is moot")
    dataset = load_jsonl(args.dataset) if args.dataset else None
    if dataset and args.api == "completions" and any(p.messages for p in dataset):
        raise UsageError("--api completions needs 'prompt' lines; the dataset has 'messages'")
    common = LoadSpec(num_requests=None if args.duration else (args.num_requests or 100),
                      duration=args.duration, warmup=args.warmup, seed=args.seed)
    specs = [replace(common, concurrency=c) for c in concurrency]
    specs += [replace(common, rate=r, burstiness=args.burstiness,
                      max_concurrency=args.max_concurrency) for r in rates]
    return Settings(
        specs=specs, api=args.api, input_tokens=args.input_tokens,
        output_tokens=args.output_tokens, ignore_eos=not args.no_ignore_eos,
        calibrate=not args.no_calibrate, seed=args.seed, dataset=dataset,
        slo_overrides=dict(args.slo),
        timeouts=Timeouts(args.connect_timeout, args.read_timeout, args.request_timeout,
                          args.max_body_bytes),
        direct=args.direct, records=not args.no_records, token_times=args.token_times,
        progress=not args.no_progress, step=step,
    )


def endpoint_slos(endpoint: EndpointOutput, overrides: dict[str, float | None]) -> dict[str, float]:
    slos: dict[str, float | None] = {**endpoint.slos.model_dump(), **overrides}
    return {k: float(v) for k, v in slos.items() if k in SLO_KEYS and v is not None}


async def _probe(client: Client, prompt: Prompt) -> RequestOutput:
    out = RequestOutput(success=False)
    await client.send(RequestInput(index=-1, prompt=prompt, output_tokens=1), out, 0.0)
    return out


async def preflight(client: Client, source: PromptSource, calibrate: bool) -> dict[str, Any]:
    """One request to prove the endpoint answers; a second sizes synthetic prompts (calibrate)."""
    if not source.synthetic:
        first = await _probe(client, source.get(0))
        if not first.success:
            raise ReachError(f"preflight request failed ({first.error_kind}): {first.error}")
        return {"method": "dataset"}
    low, high = probe_word_counts(source.input_tokens)
    small = await _probe(client, Prompt(text=synthetic_text(source.seed, -10_001, low)))
    if not small.success:
        raise ReachError(f"preflight request failed ({small.error_kind}): {small.error}")
    if not calibrate or small.prompt_tokens is None:
        method = "one word per token" + ("" if calibrate else " (--no-calibrate)")
        return {"method": method, **asdict(source.fit)}
    large = await _probe(client, Prompt(text=synthetic_text(source.seed, -10_002, high)))
    if not large.success or large.prompt_tokens is None:
        raise ReachError(f"calibration request failed ({large.error_kind}): {large.error}")
    try:
        source.fit = LengthFit.from_probes(low, small.prompt_tokens, high, large.prompt_tokens)
    except ValueError:
        raise ReachError(f"calibration failed: the server counted {small.prompt_tokens} prompt "
                         f"tokens for {low} words and {large.prompt_tokens} for {high} "
                         "(use --no-calibrate)") from None
    return {"method": "server usage.prompt_tokens", **asdict(source.fit),
            "probes": [[low, small.prompt_tokens], [high, large.prompt_tokens]]}


async def bench_endpoint(
    session: aiohttp.ClientSession, endpoint: EndpointOutput, base_url: str, settings: Settings,
    prometheus: step_load.PrometheusTarget | None = None,
) -> dict[str, Any]:
    engine_has_ignore_eos = endpoint.engine in ("vllm", "sglang")
    target = Target(base_url=base_url, model=endpoint.served_model_name, api_key=endpoint.api_key,
                    api=settings.api, ignore_eos=settings.ignore_eos and engine_has_ignore_eos)
    client = Client(session, target, settings.timeouts)
    slos = endpoint_slos(endpoint, settings.slo_overrides)
    record: dict[str, Any] = {
        "name": endpoint.name, "engine": endpoint.engine, "model": endpoint.model,
        "served_model_name": endpoint.served_model_name, "base_url": endpoint.base_url,
        "exposure": endpoint.exposure, "namespace": endpoint.namespace,
        "replicas": endpoint.replicas, "gpu": endpoint.gpu.model_dump(), "slos": slos,
        "ignore_eos": target.ignore_eos, "load_points": [], "error": None,
    }
    source = PromptSource(settings.seed, settings.input_tokens, settings.dataset)
    record["prompt_length"] = await preflight(client, source, settings.calibrate)

    def make(index: int) -> RequestInput:
        prompt = source.get(index)
        return RequestInput(index, prompt, prompt.output_tokens or settings.output_tokens)

    if settings.step is not None and prometheus is not None:
        record["load_points"], record["step_load"] = await step_load.measure(
            client, make, settings.step, prometheus, (endpoint.namespace, endpoint.name), slos,
            settings.records, settings.token_times)
        auto = endpoint.autoscaling
        record["step_load"]["autoscaling"] = None if auto is None else auto.model_dump()
    for spec in settings.specs:
        progress = stderr_progress(f"{endpoint.name} {spec.label}") if settings.progress else None
        result = await run_load(client, spec, make, progress)
        summary = summarize(result.outputs, result.duration_s, goodput_slos(slos))
        checks = check_slos(summary, slos)
        record["load_points"].append(
            load_point(spec, result, summary, checks, settings.records, settings.token_times))
    return record


async def bench_all(
    outputs: StackOutputs, endpoints: list[EndpointOutput], settings: Settings,
) -> list[dict[str, Any]]:
    # limit=0: the pool must never cap concurrency on its own, or open-loop requests would
    # queue inside aiohttp where no clock sees them.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
    records = []
    with contextlib.ExitStack() as stack:
        prometheus = None if settings.step is None else stack.enter_context(
            step_load.open_prometheus(outputs, settings.step.prometheus_url, settings.direct))
        async with aiohttp.ClientSession(connector=connector) as session:
            for endpoint in endpoints:
                records.append(await _bench_one(session, outputs, endpoint, settings,
                                                prometheus))
    return records


async def _bench_one(session: aiohttp.ClientSession, outputs: StackOutputs,
                     endpoint: EndpointOutput, settings: Settings,
                     prometheus: step_load.PrometheusTarget | None) -> dict[str, Any]:
    try:
        with open_endpoint(outputs, endpoint, settings.direct) as base_url:
            return await bench_endpoint(session, endpoint, base_url, settings, prometheus)
    except ReachError as exc:
        return _failed(endpoint, str(exc))
    except (OutputsError, UsageError):
        raise
    except Exception as exc:
        # Last resort: the other endpoints still run and the result is still written.
        return _failed(endpoint, f"unexpected {type(exc).__name__}: {exc}")


def _failed(endpoint: EndpointOutput, error: str) -> dict[str, Any]:
    return {"name": endpoint.name, "engine": endpoint.engine, "model": endpoint.model,
            "load_points": [], "error": error}


def run_config(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    return {
        "source": {"stack": args.stack, "outputs": args.outputs},
        "label": args.label, "endpoints": args.endpoint, "api": settings.api,
        "load_points": [asdict(s) for s in settings.specs],
        "step_load": None if settings.step is None else [
            {"rate": s.rate, "seconds": s.seconds} for s in settings.step.steps],
        "input_tokens": None if settings.dataset else settings.input_tokens,
        "output_tokens": settings.output_tokens, "dataset": args.dataset,
        "ignore_eos": settings.ignore_eos, "seed": settings.seed,
        "slo_overrides": settings.slo_overrides, "timeouts_s": asdict(settings.timeouts),
        "argv": sys.argv[1:],
    }


def run(args: argparse.Namespace) -> int:
    try:
        settings = build_settings(args)
    except (UsageError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outputs = load_outputs(stack=args.stack, outputs=args.outputs)
    endpoints = outputs.select(args.endpoint)
    if not endpoints:
        raise OutputsError("the outputs list no endpoints to benchmark")
    for endpoint in endpoints:
        check_base_url(endpoint)
    records = asyncio.run(bench_all(outputs, endpoints, settings))
    # Redacted as a whole before anything is shown or written: errors, labels, argv, URLs.
    result = Redactor.for_outputs(outputs).data(build_result(run_config(args, settings), records))
    print(format_table(result))
    for endpoint in result["endpoints"]:
        if endpoint.get("step_load"):
            print("\n".join(step_load.summary_lines(endpoint["name"], endpoint["step_load"])))
    if args.report:
        write_result(args.report, result)
        print(f"result written to {args.report}", file=sys.stderr)
    return 0 if result["passed"] else 1
