"""Command line and the run's phases: validate, resume, send, finalize (see the package doc)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from . import (
    DEFAULT_METRICS_PORT,
    ERRORS_FILE,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RETRY,
    OUTPUT_FILE,
    STATUS_FILE,
    STATUS_LOG_PREFIX,
    shard_dir_name,
)
from .requests_file import BatchRequest, InvalidInput, read_and_validate, shard
from .results import CorruptResults, Progress, ResultLog
from .sender import EngineUnavailable, SendOptions, send_all
from .serve import start_server
from .transport import LocationError, TransportError, check_location, fetch_input, upload_results


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="batch_feeder", description=__doc__)
    parser.add_argument("--input", required=True, help="local path, http(s):// or s3:// URL")
    parser.add_argument("--output-dir", required=True, type=Path,
                        help="results go to OUTPUT_DIR/shard-NNNNN/ (a PVC in the Job)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/batch-work"),
                        help="where a remote input is downloaded")
    parser.add_argument("--engine-url", default="http://127.0.0.1:8000")
    parser.add_argument("--health-path", default="/health", help="the engine's health path")
    parser.add_argument("--served-model", help="bodies must use this model name (or omit it)")
    parser.add_argument("--api-key-env", default="INFERENCE_API_KEY",
                        help="environment variable holding the engine's API key, if any")
    parser.add_argument("--shard-index", type=int, default=int(env("JOB_COMPLETION_INDEX", "0")),
                        help="default: $JOB_COMPLETION_INDEX (Indexed Job)")
    parser.add_argument("--shard-count", type=int, default=int(env("BATCH_SHARDS", "1")))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--retries", type=int, default=3,
                        help="retries of one request while the engine is busy or unreachable")
    parser.add_argument("--request-timeout", type=float, default=600.0, metavar="S")
    parser.add_argument("--health-timeout", type=float, default=1800.0, metavar="S")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="S")
    parser.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
                        help="0 disables the metrics/status server")
    parser.add_argument("--upload-s3", help="s3:// prefix to copy the shard's results to")
    parser.add_argument("--validate-only", action="store_true",
                        help="fetch and validate the input, then exit (the Job's init step)")
    return parser


def _heartbeat(progress: Progress, interval_s: float, stop: threading.Event) -> None:
    """Rewrite the status file every `interval_s` while the run lives: a stale `updated_at`
    then means the feeder is gone, whatever the last counts said."""
    while not stop.wait(interval_s):
        progress.write()


def _prepare(args: argparse.Namespace) -> list[BatchRequest]:
    """This shard's requests; InvalidInput/TransportError before any engine wait."""
    check_location(args.upload_s3)
    path = fetch_input(args.input, args.work_dir)
    requests = read_and_validate(path, args.served_model)
    return shard(requests, args.shard_index, args.shard_count)


def _open_logs(shard_dir: Path, mine: list[BatchRequest]) -> tuple[ResultLog, ResultLog]:
    output, errors = ResultLog(shard_dir / OUTPUT_FILE), ResultLog(shard_dir / ERRORS_FILE)
    stray = (set(output.ids) | set(errors.ids)) - {r.custom_id for r in mine}
    if stray:
        raise InvalidInput([f"{shard_dir}: {len(stray)} recorded custom_id(s) are not in this "
                            f"shard (input or shard count changed?), e.g. {sorted(stray)[0]!r}"],
                           1)
    return output, errors


def _finish(args: argparse.Namespace, progress: Progress, shard_dir: Path) -> None:
    progress.update(status="finalizing", phase="uploading" if args.upload_s3 else "finalizing")
    progress.write()
    if args.upload_s3:
        prefix = f"{args.upload_s3.rstrip('/')}/{shard_dir.name}"
        progress.update(status="completed", phase="done")
        progress.write()  # the uploaded status must say completed too
        upload_results([shard_dir / n for n in (OUTPUT_FILE, ERRORS_FILE, STATUS_FILE)], prefix)
    progress.update(status="completed", phase="done")


async def _send(pending: list[BatchRequest], opts: SendOptions, output: ResultLog,
                errors: ResultLog, progress: Progress) -> None:
    # SIGTERM (eviction, activeDeadlineSeconds) stops sending; what is on disk stays valid.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await send_all(pending, opts, output, errors, progress)


def run(args: argparse.Namespace, progress: Progress, shard_dir: Path) -> int:
    try:
        mine = _prepare(args)
        if args.validate_only:
            progress.update(phase="validated", total=len(mine))
            print(f"input valid: {len(mine)} request(s) in shard {args.shard_index}", flush=True)
            return EXIT_OK
        output, errors = _open_logs(shard_dir, mine)
    except (InvalidInput, CorruptResults, LocationError) as exc:
        return _fail(progress, str(exc), EXIT_INVALID)
    except TransportError as exc:  # a flaky download may work on the next attempt
        return _fail(progress, str(exc), EXIT_RETRY)
    done = set(output.ids) | set(errors.ids)
    pending = [r for r in mine if r.custom_id not in done]
    progress.update(status="in_progress", total=len(mine), completed=len(set(output.ids)),
                    failed=len(set(errors.ids)), last_progress_at=time.time())
    progress.write()
    print(f"shard {args.shard_index}/{args.shard_count}: {len(mine)} request(s), "
          f"{len(done)} already answered, {len(pending)} to send", flush=True)
    opts = SendOptions(args.engine_url, os.environ.get(args.api_key_env) or None,
                       args.concurrency, args.request_timeout, args.health_timeout,
                       args.health_path, retries=args.retries)
    try:
        asyncio.run(_send(pending, opts, output, errors, progress))
        _finish(args, progress, shard_dir)
    except EngineUnavailable as exc:
        return _fail(progress, str(exc), EXIT_RETRY)
    except TransportError as exc:
        return _fail(progress, str(exc), EXIT_RETRY)
    except asyncio.CancelledError:
        return _fail(progress, "terminated (SIGTERM); resume continues from the output", 143)
    finally:
        output.close()
        errors.close()
    return EXIT_OK


def _fail(progress: Progress, message: str, code: int) -> int:
    progress.update(status="failed", phase="done", error=message)
    print(f"batch failed: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shard_dir = args.output_dir / shard_dir_name(args.shard_index)
    progress = Progress(shard_dir / STATUS_FILE, args.shard_index, args.shard_count)
    server = start_server(progress, args.metrics_port) if args.metrics_port else None
    progress.write()
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(progress, args.status_interval, stop),
                            name="batch-heartbeat", daemon=True)
    beat.start()
    try:
        return run(args, progress, shard_dir)
    finally:
        stop.set()
        beat.join()
        final = progress.write()  # the final word: completed or failed, with final counts
        print(STATUS_LOG_PREFIX + json.dumps(asdict(final)), flush=True)
        if server is not None:
            server.shutdown()
