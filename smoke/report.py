"""Check results and their three renderings: terminal table, JSON report, JUnit XML.

Every rendering goes through `Redactor`, so an API key or kubeconfig credential that slipped into
a reason (a server echoing a header, an exception text) is never printed or written to a file.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from smoke.redact import REDACTED, Redactor

Status = Literal["pass", "fail", "skip"]
__all__ = ["REDACTED", "CheckResult", "Redactor", "Status"]


@dataclass
class CheckResult:
    """One check of one endpoint, shaped like vLLM's benchmark request/response dataclasses."""

    endpoint: str
    name: str
    status: Status
    reason: str = ""
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def summary(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for result in results:
        counts[result.status] += 1
    return counts


def render_table(results: list[CheckResult], redactor: Redactor) -> str:
    """A fixed-width table, one row per check, with a summary line."""
    headers = ("ENDPOINT", "CHECK", "STATUS", "TIME", "REASON")
    rows = [
        (r.endpoint, r.name, r.status.upper(), f"{r.duration_s:.2f}s", redactor.text(r.reason))
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(headers[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, [*widths, 0], strict=True)).rstrip()]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    counts = summary(results)
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return "\n".join(lines)


def to_json(results: list[CheckResult], redactor: Redactor, meta: dict[str, Any]) -> str:
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "summary": summary(results),
        "results": [asdict(r) for r in results],
    }
    return json.dumps(redactor.data(document), indent=2) + "\n"


def to_junit(results: list[CheckResult], redactor: Redactor, suite_name: str = "smoke") -> str:
    """JUnit XML: one testcase per check, classname = endpoint, so CI groups by endpoint."""
    counts = summary(results)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(results)),
        failures=str(counts["fail"]),
        skipped=str(counts["skip"]),
        errors="0",
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{suite_name}.{result.endpoint}",
            name=result.name,
            time=f"{result.duration_s:.3f}",
        )
        reason = redactor.text(result.reason)
        if result.status == "fail":
            ET.SubElement(case, "failure", message=reason).text = reason
        elif result.status == "skip":
            ET.SubElement(case, "skipped", message=reason)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
