"""checkov over every stack's rendered manifests: no finding outside checkov_skips.yaml.

checkov runs from its own venv (`scripts/checkov.sh`, created by scripts/test.sh): its pins
would downgrade packages of the shared .venv. Without it the test skips and says how to get it.

Scanned per stack: the offline plan's manifests (what `python -m infra plan` writes), which
include the namespaces' NetworkPolicies and Pod Security labels.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.plan import write_plan
from tests.helpers import ROOT, plan, stack_names

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS_FILE = Path(__file__).with_name("checkov_skips.yaml")


def load_skips() -> dict[str, dict[str, Any]]:
    skips = yaml.safe_load(SKIPS_FILE.read_text(encoding="utf-8"))
    for check_id, entry in skips.items():
        assert entry.get("reason", "").strip(), f"{check_id}: a skip needs a reason"
    return skips


def skipped(skips: dict[str, dict[str, Any]], check_id: str, resource: str) -> bool:
    entry = skips.get(check_id)
    if entry is None:
        return False
    patterns = entry.get("resources")
    return patterns is None or any(fnmatch.fnmatchcase(resource, p) for p in patterns)


@functools.cache
def checkov_findings(root: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """(summary, failed checks) of one checkov run over every stack's manifests."""
    out = Path(root)
    for stack in stack_names():
        result = plan(stack)
        write_plan(result, out / stack)
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(out), "--framework", "kubernetes", "--skip-download",
         "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = {"passed": 0, "failed": 0, "skipped": 0}
    failed: list[dict[str, Any]] = []
    for report in reports:
        for key in summary:
            summary[key] += report["summary"][key]
        failed += report["results"]["failed_checks"]
    return summary, failed


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    if not CHECKOV.exists():
        pytest.skip("checkov is not installed: run `bash scripts/checkov.sh --install` "
                    "(scripts/test.sh does)")
    return checkov_findings(str(tmp_path_factory.mktemp("checkov")))


def test_no_checkov_finding_outside_the_skip_list(findings) -> None:  # type: ignore[no-untyped-def]
    summary, failed = findings
    skips = load_skips()
    unexplained = sorted({f"{f['check_id']} {f['resource']} ({f['file_path']})"
                          for f in failed if not skipped(skips, f["check_id"], f["resource"])})
    assert summary["passed"] > 0
    assert not unexplained, "\n".join(unexplained)


def test_every_skip_is_still_needed(findings) -> None:  # type: ignore[no-untyped-def]
    _summary, failed = findings
    used = {f["check_id"] for f in failed}
    assert sorted(set(load_skips()) - used) == []


@pytest.mark.parametrize(("page", "start"), [("README.md", "Accepted scanner findings"),
                                             ("docs/security.md", "## Scanner findings accepted")])
def test_the_accepted_findings_the_docs_name_are_the_skip_list(page: str, start: str) -> None:
    """README and the security page name exactly the accepted check IDs (no checkov needed)."""
    text = (ROOT / page).read_text(encoding="utf-8")
    section = text[text.index(start) + len(start):].split("\n## ", 1)[0]
    assert set(re.findall(r"\bCKV2?_K8S_\d+\b", section)) == set(load_skips())


def test_network_policy_and_seccomp_checks_pass(findings) -> None:  # type: ignore[no-untyped-def]
    """The checks issue 12 is about are never skipped."""
    _summary, failed = findings
    never_skip = {"CKV2_K8S_6", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_31", "CKV_K8S_37",
                  "CKV_K8S_16", "CKV_K8S_29"}
    assert not never_skip & set(load_skips())
    assert not [f for f in failed if f["check_id"] in never_skip]
