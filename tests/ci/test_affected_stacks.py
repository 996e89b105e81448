"""scripts/ci/affected_stacks.py: which stacks a change affects, as CI matrices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci import ROOT, SCRIPTS, load_script

affected = load_script("affected_stacks")

STACKS: dict[str, str] = {
    "dev": """\
config:
  inference-stacks:platform: kubernetes
  inference-stacks:protect: false
  inference-stacks:kubernetes:
    kubeconfig_path: stacks/kubeconfig.sample.yaml
""",
    "onprem": """\
config:
  inference-stacks:platform: kubernetes
  inference-stacks:kubernetes:
    aws_load_balancer_controller: true
""",
    "eks-gpu": """\
config:
  inference-stacks:platform: eks
  inference-stacks:eks:
    region: eu-west-1
""",
    "k3s": """\
config:
  gcp:project: demo
  inference-stacks:platform: k3s-gcp
  inference-stacks:k3s_gcp:
    region: us-central1
""",
    "k3s-bench": """\
config:
  inference-stacks:platform: k3s-workload
  inference-stacks:k3s_workload:
    cluster_stack: organization/inference-stacks/k3s
""",
}


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "stacks"
    directory.mkdir()
    for name, text in STACKS.items():
        (directory / f"Pulumi.{name}.yaml").write_text(text)
    (directory / "kubeconfig.sample.yaml").write_text("apiVersion: v1\nkind: Config\n")
    return directory


def run(stacks_dir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "affected_stacks.py"), "--stacks-dir", str(stacks_dir),
         *args], capture_output=True, text=True, check=False)
    return proc.returncode, json.loads(proc.stdout) if proc.returncode == 0 else {}, proc.stderr


def changed(stacks_dir: Path, *paths: str) -> list[str]:
    args = [a for p in paths for a in ("--changed-file", p)]
    code, out, err = run(stacks_dir, *args)
    assert code == 0, err
    return list(out["stacks"])


def test_a_stack_file_change_affects_that_stack(stacks_dir: Path) -> None:
    assert changed(stacks_dir, "stacks/Pulumi.eks-gpu.yaml", "README.md") == ["eks-gpu"]


@pytest.mark.parametrize("path", ["infra/compose.py", "components/pod.py", "pyproject.toml",
                                  "Pulumi.yaml"])
def test_program_changes_affect_every_stack(stacks_dir: Path, path: str) -> None:
    assert changed(stacks_dir, path) == sorted(STACKS)


@pytest.mark.parametrize("path", ["README.md", "smoke/check.py", "tests/test_stacks.py",
                                  "docs/infra/x.md", ".github/workflows/deploy.yml"])
def test_other_changes_affect_no_stack(stacks_dir: Path, path: str) -> None:
    code, out, _ = run(stacks_dir, "--changed-file", path)
    assert code == 0
    assert out["stacks"] == [] and out["matrix"] == {"include": []}


def test_a_file_named_by_a_stack_affects_that_stack(stacks_dir: Path) -> None:
    assert changed(stacks_dir, "stacks/kubeconfig.sample.yaml") == ["dev"]


def test_a_deleted_stack_file_affects_nothing(stacks_dir: Path) -> None:
    assert changed(stacks_dir, "stacks/Pulumi.gone.yaml") == []


def test_stacks_referencing_an_affected_stack_are_affected(stacks_dir: Path) -> None:
    assert changed(stacks_dir, "stacks/Pulumi.k3s.yaml") == ["k3s", "k3s-bench"]
    assert changed(stacks_dir, "stacks/Pulumi.k3s-bench.yaml") == ["k3s-bench"]


def test_entries_name_the_clouds_and_region(stacks_dir: Path) -> None:
    code, out, err = run(stacks_dir, "--all")
    assert code == 0, err
    entries = {e["stack"]: e for e in out["matrix"]["include"]}
    assert entries["eks-gpu"] | {} == {"stack": "eks-gpu", "platform": "eks", "aws": True,
                                       "gcp": False, "aws_region": "eu-west-1",
                                       "references": [], "protected": True}
    assert (entries["k3s"]["aws"], entries["k3s"]["gcp"]) == (False, True)
    assert (entries["k3s-bench"]["gcp"], entries["k3s-bench"]["references"]) == (True, ["k3s"])
    assert (entries["dev"]["aws"], entries["dev"]["gcp"]) == (False, False)
    # An existing cluster with the AWS Load Balancer Controller: smoke checks the live ALB.
    assert entries["onprem"]["aws"] is True
    # `protect` defaults to true; destroy.yml refuses a protected stack.
    assert (entries["dev"]["protected"], entries["onprem"]["protected"]) == (False, True)


def test_stacks_deploy_after_the_stacks_they_reference(stacks_dir: Path) -> None:
    code, out, _ = run(stacks_dir, "--all")
    assert code == 0
    assert [e["stack"] for e in out["wave0"]["include"]] == ["dev", "eks-gpu", "k3s", "onprem"]
    assert [e["stack"] for e in out["wave1"]["include"]] == ["k3s-bench"]


def test_only_keeps_the_listed_stacks_and_rejects_typos(stacks_dir: Path) -> None:
    code, out, _ = run(stacks_dir, "--all", "--only", "eks-gpu, k3s-bench")
    assert code == 0 and out["stacks"] == ["eks-gpu", "k3s-bench"]
    code, _, err = run(stacks_dir, "--all", "--only", "eks-gpux")
    assert code == 2 and "no such stack eks-gpux" in err


def test_unknown_stack_or_platform_is_an_error(stacks_dir: Path) -> None:
    code, _, err = run(stacks_dir, "--stack", "nope")
    assert code == 2 and "--stack: no such stack nope; known: dev, eks-gpu" in err
    (stacks_dir / "Pulumi.odd.yaml").write_text(
        "config:\n  inference-stacks:platform: nomad\n")
    code, _, err = run(stacks_dir, "--all")
    assert code == 2 and "inference-stacks:platform is 'nomad'" in err


def test_github_output_lines(stacks_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    code, _, err = run(stacks_dir, "--stack", "k3s-bench", "--github-output", str(output))
    assert code == 0, err
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["stacks"]) == ["k3s-bench"]
    assert json.loads(lines["matrix"])["include"][0]["stack"] == "k3s-bench"
    assert (lines["count"], lines["wave0_count"], lines["wave1_count"]) == ("1", "0", "1")
    assert lines["wave0"] == '{"include":[]}'


def test_git_diff_mode(tmp_path: Path) -> None:
    """--base/--head reads `git diff --name-only base...head` of this repository."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    sha = head.stdout.strip()
    code, out, err = run(ROOT / "stacks", "--base", sha, "--head", sha)
    assert code == 0, err
    assert out["stacks"] == []
    code, _, err = run(ROOT / "stacks", "--base", "0" * 40, "--head", sha)
    assert code == 2 and "git diff" in err


def test_every_stack_in_the_repository_has_a_matrix_entry() -> None:
    """The matrix comes from the stacks/ folder: every stack file, each with known clouds."""
    stacks = affected.load_stacks(ROOT / "stacks")
    files = sorted(p.name for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert sorted(f"Pulumi.{name}.yaml" for name in stacks) == files
    out = affected.result(set(stacks), stacks)
    assert sorted(e["stack"] for e in out["matrix"]["include"]) == sorted(stacks)
    for stack in stacks.values():
        if stack.platform in ("eks", "hyperpod"):
            assert stack.clouds == {"aws"} and stack.aws_region, stack
        if stack.platform.startswith("k3s"):
            assert "gcp" in stack.clouds, stack
