#!/usr/bin/env python3
"""JUnit XML (`python -m smoke check --junit FILE`) as a Markdown table for the job summary.

    junit_summary.py FILE [--title TEXT] >> "$GITHUB_STEP_SUMMARY"

One row per test case (suite, case, pass/fail/skip, message), failures first, and a count
line. A missing or unreadable file is reported in the Markdown (the deploy job's own step has
failed already) and exits 0, so the summary step never hides the real failure.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ORDER = {"fail": 0, "error": 0, "skip": 1, "pass": 2}
ICON = {"fail": "❌ fail", "error": "❌ error", "skip": "⏭️ skip", "pass": "✅ pass"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:300]


def cases(root: ET.Element) -> list[tuple[str, str, str, str]]:
    """(classname, name, status, message) of every testcase under `root`."""
    rows = []
    for case in root.iter("testcase"):
        status, message = "pass", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                status = {"failure": "fail", "error": "error", "skipped": "skip"}[tag]
                message = child.get("message") or (child.text or "")
                break
        rows.append((case.get("classname", ""), case.get("name", ""), status, message))
    return sorted(rows, key=lambda r: ORDER[r[2]])


def render(path: Path, title: str) -> str:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        return f"### {title}\n\nno JUnit report ({path}: {exc})\n"
    rows = cases(root)
    counts = {s: sum(1 for r in rows if r[2] == s) for s in ("pass", "fail", "error", "skip")}
    lines = [f"### {title}", "",
             f"{len(rows)} checks: {counts['pass']} passed, {counts['fail'] + counts['error']} "
             f"failed, {counts['skip']} skipped", ""]
    if rows:
        lines += ["| endpoint | check | result | detail |", "|---|---|---|---|"]
        lines += [f"| {_cell(cls)} | {_cell(name)} | {ICON[status]} | {_cell(msg)} |"
                  for cls, name, status, msg in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path)
    parser.add_argument("--title", default="Smoke checks")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.junit, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
