"""plan_diff.py guard: a deploy stops on replacing/deleting protected resources (issue 12, 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci import SCRIPTS, load_script

plan_diff = load_script("plan_diff")
STACK = "urn:pulumi:eks-gpu::inference-stacks::"


def step(op: str, kind: str, name: str, parent: str = "") -> dict[str, Any]:
    chain = f"{parent}${kind}" if parent else kind
    return {"op": op, "urn": f"{STACK}{chain}::{name}", "newState": {"type": kind}}


PREVIEW = {"steps": [
    step("same", "aws:eks/cluster:Cluster", "eks"),
    step("update", "kubernetes:apps/v1:Deployment", "qwen"),
    step("replace", "kubernetes:apps/v1:Deployment", "qwen-2"),
    step("create", "kubernetes:core/v1:Namespace", "inference"),
]}


def run(preview: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(preview))
    return subprocess.run([sys.executable, str(SCRIPTS / "plan_diff.py"), "guard", str(path),
                           *extra], capture_output=True, text=True, check=False)


def test_urn_type_is_the_last_type_of_the_chain() -> None:
    urn = f"{STACK}inference-stacks:endpoint:InferenceEndpoint$kubernetes:core/v1:Secret::k"
    assert plan_diff.urn_type(urn) == "kubernetes:core/v1:Secret"


def test_ordinary_updates_and_replacements_pass(tmp_path: Path) -> None:
    assert plan_diff.destructive_steps(PREVIEW) == []
    proc = run(PREVIEW, tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("op", ["delete", "replace", "create-replacement", "delete-replaced"])
@pytest.mark.parametrize("kind", ["aws:eks/cluster:Cluster", "gcp:compute/instance:Instance",
                                  "kubernetes:core/v1:Namespace",
                                  "gcp:secretmanager/secret:Secret",
                                  "random:index/randomPassword:RandomPassword"])
def test_protected_kinds_stop_the_deploy(op: str, kind: str, tmp_path: Path) -> None:
    preview = {"steps": [*PREVIEW["steps"], step(op, kind, "victim", parent="comp:x:Y")]}
    assert plan_diff.destructive_steps(preview) == [f"{op} {kind} victim"]
    proc = run(preview, tmp_path)
    assert proc.returncode == plan_diff.GUARD_EXIT
    assert "victim" in proc.stdout and "allow_destructive" in proc.stderr


def test_the_approval_input_lets_it_through(tmp_path: Path) -> None:
    preview = {"steps": [step("delete", "aws:ec2/vpc:Vpc", "vpc")]}
    proc = run(preview, tmp_path, "--allow-destructive")
    assert proc.returncode == 0 and "approved" in proc.stdout


def test_replacement_pair_is_reported_once() -> None:
    kind = "gcp:compute/address:Address"
    preview = {"steps": [step("create-replacement", kind, "ip"), step("replace", kind, "ip"),
                         step("delete-replaced", kind, "ip")]}
    assert len(plan_diff.destructive_steps(preview)) == 1


def test_unreadable_preview_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "preview.json").write_text("not json")
    proc = subprocess.run([sys.executable, str(SCRIPTS / "plan_diff.py"), "guard",
                           str(tmp_path / "preview.json")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
