"""Durable results and progress: append-only JSONL logs, the status file, the metrics text.

Each answer is one line, flushed and fsynced before it counts, so whatever a crash leaves on disk
is exactly what a restart skips. Only the last line can be torn (the write in flight); resuming
cuts it off. The status file is replaced atomically (temp file + rename), so readers never see
half of it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import STATUSES


class CorruptResults(Exception):
    """A results file has an unreadable line before its end (not a torn last write)."""


def _scan(path: Path) -> tuple[list[str], int]:
    """custom_ids in `path` and the byte length of its intact prefix (torn tail excluded)."""
    ids: list[str] = []
    good = 0
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            break  # no newline: the write the crash interrupted
        try:
            ids.append(str(json.loads(data[offset:end])["custom_id"]))
        except (ValueError, KeyError, TypeError):
            if data[end + 1:].strip():
                raise CorruptResults(f"{path}: unreadable line at byte {offset}") from None
            break  # a bad last line is a torn write too
        offset = good = end + 1
    return ids, good


class ResultLog:
    """One append-only JSONL file of answers (output.jsonl or errors.jsonl)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: list[str] = []
        if path.exists():
            self.ids, intact = _scan(path)
            if intact < path.stat().st_size:
                # Cut the torn tail, or the next append would glue onto it.
                with open(path, "r+b") as handle:
                    handle.truncate(intact)
                    os.fsync(handle.fileno())
        created = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "ab")  # noqa: SIM115 - lives as long as the run
        if created:
            _fsync_dir(path.parent)  # the file itself must survive a crash, not just its lines

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.ids.append(str(record["custom_id"]))

    def close(self) -> None:
        self._handle.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass
class Status:
    """What the status file and the metrics say. Times are Unix seconds (UTC)."""

    status: str = "validating"
    phase: str = "starting"
    shard: int = 0
    shards: int = 1
    total: int = 0
    completed: int = 0
    failed: int = 0
    in_flight: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_progress_at: float = field(default_factory=time.time)
    error: str | None = None


class Progress:
    """Thread-safe status shared by the sender, the heartbeat and the metrics server."""

    def __init__(self, status_path: Path, shard: int, shards: int) -> None:
        self.status_path = status_path
        self._lock = threading.Lock()
        # The heartbeat thread and the sender both write the file: one writer at a time.
        self._write_lock = threading.Lock()
        self._status = Status(shard=shard, shards=shards)
        self._carry_over()

    def _carry_over(self) -> None:
        """Start from the counts a previous attempt left: a restarted shard first says
        `validating`, and its counts must not drop to 0 meanwhile (they are durable, and
        readers rightly treat a drop as lost answers)."""
        try:
            old = json.loads(self.status_path.read_text(encoding="utf-8"))
            self._status.total = int(old["total"])
            self._status.completed = int(old["completed"])
            self._status.failed = int(old["failed"])
            self._status.last_progress_at = float(old["last_progress_at"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # first attempt, or an unreadable file: start from zero

    def update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._status, key, value)

    def counted(self, ok: bool) -> None:
        """One more answer made durable: this is what `last_progress_at` means."""
        with self._lock:
            if ok:
                self._status.completed += 1
            else:
                self._status.failed += 1
            self._status.last_progress_at = time.time()

    def snapshot(self) -> Status:
        with self._lock:
            return Status(**asdict(self._status))

    def write(self) -> Status:
        """Rewrite the status file now (heartbeat and every status change)."""
        with self._lock:
            self._status.updated_at = time.time()
            current = Status(**asdict(self._status))
        with self._write_lock:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.status_path, json.dumps(asdict(current), indent=1) + "\n")
        return current


def metrics_text(status: Status) -> str:
    """Prometheus text exposition (version 0.0.4) of one status."""
    label = f'shard="{status.shard}"'
    lines = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
        lines.extend(f"{name}{{{labels}}} {value:g}" for labels, value in samples)

    metric("batch_requests_total", "gauge", "Requests in this shard.",
           [(label, status.total)])
    metric("batch_requests_completed_total", "counter", "Requests answered successfully.",
           [(label, status.completed)])
    metric("batch_requests_failed_total", "counter", "Requests answered with an error.",
           [(label, status.failed)])
    metric("batch_requests_in_flight", "gauge", "Requests sent and not yet answered.",
           [(label, status.in_flight)])
    metric("batch_last_progress_timestamp_seconds", "gauge",
           "Unix time of the last durable answer.", [(label, status.last_progress_at)])
    metric("batch_status_updated_timestamp_seconds", "gauge",
           "Unix time the status was last refreshed.", [(label, status.updated_at)])
    metric("batch_status", "gauge", "1 for the current OpenAI batch status, else 0.",
           [(f'{label},status="{s}"', 1.0 if s == status.status else 0.0) for s in STATUSES])
    metric("batch_shard_info", "gauge", "Shard index and count.",
           [(f'{label},shards="{status.shards}"', 1.0)])
    return "\n".join(lines) + "\n"
