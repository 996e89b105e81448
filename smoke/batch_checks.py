"""Pure checks of batch progress (issue 17): staleness, count consistency, result coverage.

A status proves progress only while it is fresh: the feeder rewrites it every few seconds, so an
old `updated_at` on an unfinished shard means the feeder is gone, whatever the counts say, and an
old `last_progress_at` while sending means the engine stopped answering.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TERMINAL = ("completed", "failed")


class ShardStatus(BaseModel):
    """One feeder status file / `/status` answer (`components/batch_feeder/results.py`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["validating", "in_progress", "finalizing", "completed", "failed"]
    phase: str = ""
    shard: int = Field(ge=0)
    shards: int = Field(ge=1)
    total: int
    completed: int
    failed: int
    in_flight: int = 0
    updated_at: float
    last_progress_at: float
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class StatusError(Exception):
    """A status document could not be read or does not have the status fields."""


def parse_status(text: str, source: str) -> ShardStatus:
    try:
        return ShardStatus.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise StatusError(f"{source}: not JSON ({exc.msg})") from None
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise StatusError(f"{source}: not a batch status ({fields})") from None


@dataclass(frozen=True)
class Bounds:
    stale_after_s: float = 60.0  # the feeder writes every 5 s by default
    no_progress_after_s: float = 900.0  # one slow request must not trip it


def status_problems(s: ShardStatus, now: float, bounds: Bounds) -> list[str]:
    """What is wrong with one shard's status right now ([] when nothing)."""
    where = f"shard {s.shard}"
    problems = []
    if min(s.total, s.completed, s.failed, s.in_flight) < 0:
        problems.append(f"{where}: negative count (total {s.total}, completed {s.completed}, "
                        f"failed {s.failed}, in flight {s.in_flight})")
    if s.completed + s.failed > s.total:
        problems.append(f"{where}: completed {s.completed} + failed {s.failed} > total "
                        f"{s.total}")
    if s.shard >= s.shards:
        problems.append(f"{where}: index out of range for {s.shards} shard(s)")
    if s.status == "completed" and s.completed + s.failed != s.total:
        problems.append(f"{where}: completed with {s.total - s.completed - s.failed} "
                        "request(s) unanswered")
    if not s.finished:
        age = now - s.updated_at
        if age > bounds.stale_after_s:
            problems.append(f"{where}: status is stale: not updated for {age:.0f}s "
                            f"(bound {bounds.stale_after_s:g}s) while {s.status}; the feeder "
                            "is not running")
        idle = now - s.last_progress_at
        if s.phase == "sending" and idle > bounds.no_progress_after_s:
            problems.append(f"{where}: no answer for {idle:.0f}s (bound "
                            f"{bounds.no_progress_after_s:g}s) while sending; engine stuck?")
    if s.status == "failed":
        problems.append(f"{where}: failed: {s.error or 'no reason given'}")
    return problems


def regression_problems(before: ShardStatus, after: ShardStatus) -> list[str]:
    """Counts may only grow between polls: answers are durable once counted."""
    problems = []
    for name in ("completed", "failed"):
        old, new = getattr(before, name), getattr(after, name)
        if new < old:
            problems.append(f"shard {after.shard}: {name} went down from {old} to {new}")
    if after.total != before.total:
        problems.append(f"shard {after.shard}: total changed from {before.total} to "
                        f"{after.total}")
    return problems


def summarize(statuses: list[ShardStatus]) -> tuple[int, int, int]:
    """(total, completed, failed) over shards."""
    return (sum(s.total for s in statuses), sum(s.completed for s in statuses),
            sum(s.failed for s in statuses))


def all_finished(statuses: list[ShardStatus]) -> bool:
    """Every shard reported, and each is completed or failed."""
    if not statuses:
        return False
    shards = {s.shards for s in statuses}
    indexes = {s.shard for s in statuses}
    return (len(shards) == 1 and indexes == set(range(shards.pop()))
            and all(s.finished for s in statuses))


def _ids_in(path: Path) -> list[str]:
    ids = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            ids.append(str(json.loads(line)["custom_id"]))
        except (ValueError, KeyError, TypeError):
            ids.append(f"<unreadable line {number} of {path}>")
    return ids


def coverage_problems(input_file: Path, output_dir: Path, shown: int = 5) -> list[str]:
    """Every input custom_id answered exactly once across all shards' output and error files."""
    wanted = Counter(_ids_in(input_file))
    got: Counter[str] = Counter()
    files = sorted(output_dir.glob("**/output.jsonl")) + sorted(output_dir.glob("**/errors.jsonl"))
    for path in files:
        got.update(_ids_in(path))
    problems = []
    for label, ids in (("missing", sorted(set(wanted) - set(got))),
                       ("duplicated", sorted(k for k, n in got.items() if n > 1)),
                       ("not in the input", sorted(set(got) - set(wanted)))):
        if ids:
            sample = ", ".join(ids[:shown]) + (", ..." if len(ids) > shown else "")
            problems.append(f"{len(ids)} custom_id(s) {label}: {sample}")
    if not files:
        problems.append(f"no output.jsonl or errors.jsonl under {output_dir}")
    return problems
