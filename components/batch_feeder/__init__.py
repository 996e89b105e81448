"""Batch feeder: runs an OpenAI batch file against the engine next to it, resumably (issue 17).

Runs in the engine's own pod as `python3 -m batch_feeder` (the Job mounts this package from a
ConfigMap, see `components/batch_manifests.py`), so it may import only the standard library and
aiohttp, both present in the vllm/vllm-openai and SGLang images; boto3 is used for `s3://` when
the image has it. Within the package, imports are relative: the package is
`components.batch_feeder` here and `batch_feeder` in the pod.

Why not `vllm run-batch` alone: in vLLM 0.32 it writes the output file only at the end (a crash
or eviction after hours loses everything), it cannot resume, it reports no progress anyone can
watch, and SGLang has no equivalent. The feeder drives the engine's OpenAI server instead, so one
program serves both engines.

Flow: fetch the input to local disk -> validate every line (exit 3 with line numbers, before the
engine is even waited for) -> keep this shard's lines -> skip custom_ids already answered ->
wait for /health -> send with bounded concurrency, appending and fsyncing each answer -> status
`completed` (or `failed`). Busy answers (429, 5xx) and connection errors are retried; an engine
that stays down is waited for again (a crashed sidecar restarts and reloads) before the attempt
is given up with exit 1. A heartbeat rewrites the status file atomically every few seconds and
the same numbers are served as Prometheus metrics, so a dead or stuck feeder shows as stale.
"""

from __future__ import annotations

# Exit codes. The Job's pod failure policy fails the index at once on EXIT_INVALID (retrying
# cannot fix a bad input file or configuration); anything else is retried up to the index's
# backoff limit, and the retry resumes from the output already written.
EXIT_OK = 0
EXIT_RETRY = 1
EXIT_INVALID = 3

ALLOWED_URLS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
# OpenAI's batch status names; the feeder never uses the others (cancelling, expired...).
STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed")
TERMINAL_STATUSES = ("completed", "failed")
OUTPUT_FILE = "output.jsonl"
ERRORS_FILE = "errors.jsonl"
STATUS_FILE = "status.json"
DEFAULT_METRICS_PORT = 9400
# The final status is also the feeder's last log line, so it can be read from a finished pod
# (whose status port is gone) through the Kubernetes API's pod log.
STATUS_LOG_PREFIX = "batch-status: "


def shard_dir_name(index: int) -> str:
    """Each Job index writes its own directory, so shards never append to the same file."""
    return f"shard-{index:05d}"
