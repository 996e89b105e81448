"""scripts/ci/junit_summary.py: smoke's JUnit XML as the deploy job's Markdown summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from smoke.report import CheckResult, Redactor, to_junit
from tests.ci import SCRIPTS, load_script

junit_summary = load_script("junit_summary")


def test_smoke_junit_renders_failures_first(tmp_path: Path) -> None:
    results = [
        CheckResult("qwen", "health", "pass", duration_s=0.1),
        CheckResult("qwen", "auth", "fail", "401 expected without a key | got 200"),
        CheckResult("qwen", "scheme", "skip", "no AWS credentials"),
    ]
    path = tmp_path / "junit.xml"
    path.write_text(to_junit(results, Redactor()))
    text = junit_summary.render(path, "Smoke checks: dev")
    lines = text.splitlines()
    assert lines[0] == "### Smoke checks: dev"
    assert "3 checks: 1 passed, 1 failed, 1 skipped" in text
    rows = [line for line in lines if line.startswith("| smoke.")]
    assert rows[0].startswith("| smoke.qwen | auth | ❌ fail | 401 expected without a key \\| got")
    assert rows[1].startswith("| smoke.qwen | scheme | ⏭️ skip |")
    assert rows[2].startswith("| smoke.qwen | health | ✅ pass |")


def test_a_missing_report_is_said_and_exits_zero(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPTS / "junit_summary.py"),
                           str(tmp_path / "absent.xml")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0
    assert "no JUnit report" in proc.stdout
