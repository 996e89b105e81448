"""`python -m smoke batch`: is a batch job making progress, and did it answer every request?

Reads the job from the stack outputs (`batch_jobs[<name>]`: job, namespace, input, output,
status), fetches each shard's status from `--status-file` (a file, or a directory holding
`shard-*/status.json`, e.g. a copy of the output PVC) or, with the kubeconfig in the outputs,
from each shard's latest pod (a running feeder's `/status` through a port-forward, a finished
one's last log line; no kubectl), and fails when a status is stale, counts are inconsistent or
go down between polls, or, once finished, when `--input` and `--output-dir` show a custom_id
missing or answered twice. Exit 0 ok, 1 a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from pydantic import ValidationError

from smoke.batch_checks import (
    Bounds,
    ShardStatus,
    StatusError,
    all_finished,
    coverage_problems,
    parse_status,
    regression_problems,
    status_problems,
    summarize,
)
from smoke.outputs import BatchJobOutput, OutputsError, parse_outputs, read_pulumi_stack
from smoke.reach import K8S_TIMEOUT, TcpBridge, kube_core_api, pod_socket

# Shared with components/batch_feeder (DEFAULT_METRICS_PORT, STATUS_LOG_PREFIX); a test checks.
STATUS_PORT = 9400
STATUS_LOG_PREFIX = "batch-status: "
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"

StatusSource = Callable[[], list[ShardStatus]]


def read_batch_job(raw: str, source: str, name: str | None) -> tuple[BatchJobOutput, str | None]:
    """The named (or only) batch job and the kubeconfig, from the outputs JSON text."""
    kubeconfig = parse_outputs(raw, source).kubeconfig  # checks the contract version too
    jobs = json.loads(raw).get("batch_jobs") or {}
    if not isinstance(jobs, dict) or not jobs:
        raise OutputsError(f"{source}: no batch_jobs in the outputs")
    if name is None:
        if len(jobs) != 1:
            raise OutputsError(f"{source}: several batch jobs ({', '.join(sorted(jobs))}); "
                               "pick one with --job")
        name = next(iter(jobs))
    if name not in jobs:
        raise OutputsError(f"batch job {name!r} not in outputs (known: {', '.join(sorted(jobs))})")
    try:
        return BatchJobOutput.model_validate(jobs[name]), kubeconfig
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise OutputsError(f"{source}: batch_jobs.{name} lacks or mistypes {fields}") from None


def _raw_outputs(args: argparse.Namespace) -> tuple[str, str]:
    if args.stack:
        return read_pulumi_stack(args.stack), f"stack {args.stack}"
    try:
        return Path(args.outputs).read_text(encoding="utf-8"), str(args.outputs)
    except OSError as exc:
        raise OutputsError(f"--outputs {args.outputs}: {exc.strerror}") from None


def file_source(paths: list[Path]) -> StatusSource:
    """Statuses from files, or from `shard-*/status.json` under directories."""

    def read() -> list[ShardStatus]:
        files: list[Path] = []
        for path in paths:
            files += sorted(path.glob("shard-*/status.json")) if path.is_dir() else [path]
        statuses = []
        for path in files:
            try:
                statuses.append(parse_status(path.read_text(encoding="utf-8"), str(path)))
            except OSError as exc:
                raise StatusError(f"{path}: {exc.strerror}") from None
        return statuses

    return read


def newest_pod_per_index(pods: list[Any]) -> list[Any]:
    """The latest attempt of each completion index (a retried index leaves its failed pods)."""
    newest: dict[int, Any] = {}

    def created(pod: Any) -> float:
        stamp = pod.metadata.creation_timestamp
        return float(stamp.timestamp()) if stamp else 0.0

    for pod in pods:
        meta = pod.metadata
        index = (meta.annotations or {}).get(COMPLETION_INDEX) or (meta.labels or {}).get(
            COMPLETION_INDEX)
        if index is not None and (int(index) not in newest
                                  or created(pod) > created(newest[int(index)])):
            newest[int(index)] = pod
    return [newest[i] for i in sorted(newest)]


def status_from_log(log: str, source: str) -> ShardStatus | None:
    """The final status a feeder logged before exiting, if it got that far."""
    lines = [line for line in log.splitlines() if line.startswith(STATUS_LOG_PREFIX)]
    return parse_status(lines[-1][len(STATUS_LOG_PREFIX):], source) if lines else None


def cluster_source(job: BatchJobOutput, kubeconfig: str | None) -> StatusSource:
    """Each shard's status from its latest pod, with the kubeconfig from the outputs: a running
    feeder's `/status` through a port-forward, a finished one's last log line."""
    if not kubeconfig:
        raise OutputsError("the outputs carry no kubeconfig; pass --status-file instead")
    from kubernetes.client.exceptions import ApiException  # lazily, as smoke.reach does

    core = kube_core_api(kubeconfig)

    def live(name: str) -> ShardStatus | None:
        connect = functools.partial(pod_socket, core, job.namespace, name, STATUS_PORT)
        with TcpBridge(connect) as port:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/status", timeout=(5, 10))
            except requests.RequestException as exc:
                # The feeder may have exited a moment ago; a lasting gap shows as a missing shard.
                print(f"pod {name}: /status unreachable ({type(exc).__name__})")
                return None
        return parse_status(answer.text, f"pod {name}")

    def read() -> list[ShardStatus]:
        statuses = []
        try:
            pods = core.list_namespaced_pod(job.namespace, label_selector=f"{JOB_NAME_LABEL}="
                                            f"{job.job}", _request_timeout=K8S_TIMEOUT).items
            for pod in newest_pod_per_index(pods):
                name, phase = pod.metadata.name, pod.status.phase if pod.status else None
                if phase == "Running":
                    found = live(name)
                elif phase in ("Succeeded", "Failed"):
                    log = core.read_namespaced_pod_log(name, job.namespace, container="feeder",
                                                       tail_lines=50,
                                                       _request_timeout=K8S_TIMEOUT)
                    found = status_from_log(log, f"pod {name} log")
                else:
                    found = None  # Pending: validating the input or loading the model
                statuses += [found] if found else []
        except ApiException as exc:
            raise StatusError(f"Kubernetes API: {exc.status} {exc.reason}") from None
        return statuses

    return read


def describe(s: ShardStatus, now: float) -> str:
    return (f"shard {s.shard}/{s.shards} {s.status} ({s.phase}): {s.completed}/{s.total} "
            f"completed, {s.failed} failed, {s.in_flight} in flight; updated "
            f"{now - s.updated_at:.0f}s ago, last answer {now - s.last_progress_at:.0f}s ago")


def poll(source: StatusSource, bounds: Bounds, previous: dict[int, ShardStatus],
         now: Callable[[], float] = time.time) -> tuple[list[ShardStatus], list[str]]:
    """One look at every shard: print it, return the statuses and the problems found."""
    statuses = sorted(source(), key=lambda s: s.shard)
    at = now()
    problems: list[str] = []
    for s in statuses:
        print(describe(s, at))
        problems += status_problems(s, at, bounds)
        if s.shard in previous:
            problems += regression_problems(previous[s.shard], s)
        previous[s.shard] = s
    total, completed, failed = summarize(statuses)
    print(f"all shards: {completed + failed}/{total} answered ({completed} ok, {failed} failed)")
    return statuses, problems


def watch(source: StatusSource, bounds: Bounds, wait: bool, interval_s: float,
          timeout_s: float | None, sleep: Callable[[float], None] = time.sleep) -> tuple[
              bool, list[str]]:
    """Poll until finished (with `wait`) or once; (finished, problems)."""
    previous: dict[int, ShardStatus] = {}
    start = time.monotonic()
    while True:
        statuses, problems = poll(source, bounds, previous)
        finished = all_finished(statuses)
        if not statuses and (not wait or time.monotonic() - start > bounds.stale_after_s):
            # No shard has reported at all: nothing proves the job runs.
            problems.append("no shard status found")
        if problems or finished or not wait:
            return finished, problems
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            return False, [f"not finished after --timeout {timeout_s:g}s"]
        sleep(interval_s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="Pulumi stack whose outputs describe the job")
    where.add_argument("--outputs", help="stack outputs JSON file")
    parser.add_argument("--job", help="batch job name (default: the only one)")
    parser.add_argument("--status-file", type=Path, action="append", default=[],
                        help="status file or output directory (repeatable); default: the "
                             "job's pods, through the Kubernetes API")
    parser.add_argument("--wait", action="store_true", help="poll until every shard finished")
    parser.add_argument("--interval", type=float, default=10.0, metavar="S")
    parser.add_argument("--timeout", type=float, metavar="S", help="give up waiting after S")
    parser.add_argument("--stale-after", type=float, default=60.0, metavar="S",
                        help="fail when an unfinished shard's status is older (default 60)")
    parser.add_argument("--no-progress-after", type=float, default=900.0, metavar="S",
                        help="fail when a sending shard got no answer for S (default 900)")
    parser.add_argument("--input", type=Path, help="the input JSONL, for the final comparison")
    parser.add_argument("--output-dir", type=Path,
                        help="local copy of the output directory, for the final comparison")


def run(args: argparse.Namespace) -> int:
    if (args.input is None) != (args.output_dir is None):
        raise OutputsError("--input and --output-dir go together (the final comparison)")
    raw, source_name = _raw_outputs(args)
    job, kubeconfig = read_batch_job(raw, source_name, args.job)
    print(f"batch job {job.job} in {job.namespace}: input {job.input}, output {job.output}")
    source = file_source(args.status_file) if args.status_file else cluster_source(job,
                                                                                   kubeconfig)
    bounds = Bounds(args.stale_after, args.no_progress_after)
    try:
        finished, problems = watch(source, bounds, args.wait, args.interval, args.timeout)
    except StatusError as exc:
        problems, finished = [str(exc)], False
    if finished and args.input is not None:
        problems += coverage_problems(args.input, args.output_dir)
        if not problems:
            print("every input custom_id answered exactly once")
    elif finished:
        print("finished; pass --input and --output-dir to compare custom_ids")
    return _report(problems, finished)


def _report(problems: list[str], finished: bool) -> int:
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    print("OK: finished" if finished else "OK: progressing")
    return 0


