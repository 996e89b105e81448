"""scripts/ci/offline_plan_diff.sh: base and head offline plans and the fork comment, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import ROOT, SCRIPTS


def run(out: Path, *stacks: str) -> subprocess.CompletedProcess[str]:
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("needs a git checkout with a commit (the base plan runs from a worktree)")
    return subprocess.run(
        ["bash", str(SCRIPTS / "offline_plan_diff.sh"), "HEAD", str(out), *stacks],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "PYTHON": sys.executable})


def worktrees() -> list[str]:
    return subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT,
                          capture_output=True, text=True, check=False).stdout.splitlines()


def test_plans_base_and_head_and_writes_the_comment(tmp_path: Path) -> None:
    before = worktrees()
    result = run(tmp_path, "k8s-dev")
    assert result.returncode == 0, result.stdout + result.stderr
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith("<!-- inference-stacks:plan-diff -->\n## Offline plan diff")
    assert "### Offline plan: `k8s-dev`" in comment
    for side in ("base", "head"):
        plan = tmp_path / side / "k8s-dev"
        assert (plan / "resources.json").is_file() and list((plan / "manifests").glob("*.yaml"))
    # The worktree of the base commit is gone afterwards.
    assert [w for w in worktrees() if w.startswith("worktree ")] == \
        [w for w in before if w.startswith("worktree ")]


def test_a_stack_that_does_not_plan_fails_with_the_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "no-such-stack")
    assert result.returncode == 1
    comment = (tmp_path / "comment.md").read_text()
    assert "### Offline plan: `no-such-stack` does not plan" in comment
    assert "no stacks/Pulumi.no-such-stack.yaml" in comment
