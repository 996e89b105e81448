"""The GitHub workflows: actionlint, actions pinned by commit SHA, and what each must do."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci import ROOT, WORKFLOWS

WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
EXPECTED = {"tests.yml", "preview.yml", "plan-comment.yml", "deploy.yml", "deploy-stack.yml",
            "destroy.yml"}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+\b")


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    # PyYAML reads the key `on` as the boolean True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def step_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]


def unpinned(text: str) -> list[str]:
    """`uses:` lines not pinned by a full commit SHA with a `# vX.Y.Z` comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES.match(line)
        if match is None:
            continue
        ref, comment = match["ref"].strip("'\""), (match["comment"] or "").strip()
        if ref.startswith("./"):
            continue  # a workflow or action of this repository, pinned by the checkout itself
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"line {number}: {ref}: pin the image by digest")
            continue
        if not PINNED.match(ref):
            problems.append(f"line {number}: {ref}: not pinned by a full commit SHA")
        elif not VERSION_COMMENT.match(comment):
            problems.append(f"line {number}: {ref}: no `# vX.Y.Z` comment naming the release")
    return problems


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= EXPECTED


# --- actionlint ---------------------------------------------------------------------------


def actionlint() -> str:
    """The actionlint binary: $ACTIONLINT, beside this Python (the venv), or on PATH."""
    candidates = [os.environ.get("ACTIONLINT"), shutil.which(
        "actionlint", path=os.pathsep.join([str(Path(sys.executable).parent),
                                            os.environ.get("PATH", "")]))]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    message = ("actionlint is not installed: it comes with the dev extra (`./scripts/setup.sh`), "
               "or set ACTIONLINT=/path/to/actionlint")
    if os.environ.get("CI"):
        pytest.fail(message)  # CI must lint the workflows, never skip it
    pytest.skip(message)


def run_actionlint(binary: str, *files: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck beside this Python (the venv) checks the `run:` scripts too when present.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run([binary, "-no-color", *map(str, files)], cwd=ROOT, capture_output=True,
                          text=True, check=False, env={**os.environ, "PATH": path}, timeout=120)


def test_actionlint_passes_on_every_workflow() -> None:
    result = run_actionlint(actionlint(), *WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """Guards against a linter that passes everything (wrong binary, wrong arguments)."""
    binary = actionlint()
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }}\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    result = run_actionlint(binary, bad)
    assert result.returncode != 0
    assert "potentially untrusted" in result.stdout
    assert "matrix" in result.stdout


# --- pinning ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_commit_sha(path: Path) -> None:
    assert unpinned(path.read_text(encoding="utf-8")) == []


def test_the_pinning_check_rejects_tags_and_short_shas() -> None:
    text = """\
      - uses: actions/checkout@v4
      - uses: actions/checkout@11bd719 # v4.2.2
      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d
      - uses: docker://alpine:3.20
      - uses: ./.github/workflows/deploy-stack.yml
      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
"""
    problems = unpinned(text)
    assert [p.split(":")[0] for p in problems] == ["line 1", "line 2", "line 3", "line 4"]


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES.match(line)
            if match and "@" in match["ref"] and not match["ref"].startswith("./"):
                action, sha = match["ref"].split("@", 1)
                pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact",
            "pulumi/actions", "aws-actions/configure-aws-credentials",
            "google-github-actions/auth"} <= set(pins)


# --- what each workflow does ----------------------------------------------------------------


def test_no_workflow_uses_long_lived_cloud_keys_or_pull_request_target() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        for forbidden in ("pull_request_target", "aws-access-key-id", "aws-secret-access-key",
                          "credentials_json"):
            assert forbidden not in text, f"{path.name}: {forbidden}"
        assert load(path.name).get("permissions") in ({"contents": "read"}, {}), path.name


def test_tests_workflow_runs_the_readme_test_command_with_pip_cache() -> None:
    workflow = load("tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    job = workflow["jobs"]["test"]
    assert [s["run"] for s in steps(job) if "run" in s] == ["bash scripts/test.sh"]
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()  # the same as CI's entry
    (setup,) = step_using(job, "actions/setup-python")
    assert setup["with"]["cache"] == "pip"
    assert "pyproject.toml" in setup["with"]["cache-dependency-path"]


def test_preview_runs_pulumi_preview_with_oidc_and_minimal_permissions() -> None:
    workflow = load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    job = workflow["jobs"]["preview"]
    assert job["permissions"] == {"id-token": "write", "pull-requests": "write",
                                  "contents": "read"}
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.affected.outputs.matrix) }}"
    (pulumi,) = step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    (aws,) = step_using(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"].startswith("${{ vars.")
    assert "matrix.aws" in aws["if"]
    (gcp,) = step_using(job, "google-github-actions/auth")
    assert set(gcp["with"]) == {"workload_identity_provider", "service_account"}
    assert "matrix.gcp" in gcp["if"]
    affected = workflow["jobs"]["affected"]
    assert any("scripts/ci/affected_stacks.py --base" in s.get("run", "")
               for s in steps(affected))


def test_forks_get_the_offline_plan_diff_without_secrets() -> None:
    workflow = load("preview.yml")
    job = workflow["jobs"]["offline-plan"]
    assert "github.event.pull_request.head.repo.full_name != github.repository" in job["if"]
    assert "permissions" not in job  # the workflow's read-only contents permission
    text = yaml.safe_dump(job)
    assert "secrets." not in text and "id-token" not in text
    assert any("scripts/ci/offline_plan_diff.sh" in s.get("run", "") for s in steps(job))
    (upload,) = step_using(job, "actions/upload-artifact")
    assert upload["with"]["name"] == "plan-diff"
    comment = load("plan-comment.yml")
    assert comment["on"]["workflow_run"]["workflows"] == ["preview"]
    assert comment["permissions"] == {}
    job = comment["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    # Runs with a write token: it must never check out or run the pull request's code.
    assert not step_using(job, "actions/checkout")
    assert "plan-diff" in yaml.safe_dump(job)


def test_deploy_runs_up_then_smoke_then_bench_per_stack() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["on"]["workflow_dispatch"]["inputs"]["stack"]["required"] is True
    for wave in ("wave0", "wave1"):
        job = workflow["jobs"][wave]
        assert job["uses"] == "./.github/workflows/deploy-stack.yml"
        assert job["with"]["stack"] == "${{ matrix.stack }}"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert "wave0" in workflow["jobs"]["wave1"]["needs"]

    job = load("deploy-stack.yml")["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "stack-${{ inputs.stack }}",
                                  "cancel-in-progress": False}
    names = [s.get("name", s.get("uses", "")) for s in steps(job)]
    order = ["pulumi up", "Smoke checks", "Smoke checks in the job summary",
             "Upload the smoke results (JUnit, JSON)", "Benchmark (SLO gate)",
             "Benchmark HTML report", "Upload the benchmark (JSON result, HTML report, charts)"]
    assert [n for n in names if n in order] == order
    by_name = {s.get("name"): s for s in steps(job)}
    assert by_name["pulumi up"]["with"]["command"] == "up"
    assert "--junit out/smoke/junit.xml" in by_name["Smoke checks"]["run"]
    assert "GITHUB_STEP_SUMMARY" in by_name["Smoke checks in the job summary"]["run"]
    assert "smoke bench --stack" in by_name["Benchmark (SLO gate)"]["run"]
    assert "smoke compare" in by_name["Benchmark HTML report"]["run"]
    for upload in step_using(job, "actions/upload-artifact"):
        assert upload["if"].startswith("always()")


def test_destroy_is_manual_with_a_typed_confirmation() -> None:
    workflow = load("destroy.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["required"] is True and inputs["confirm"]["required"] is True
    confirm = workflow["jobs"]["confirm"]
    check = steps(confirm)[0]
    assert check["env"] == {"STACK": "${{ inputs.stack }}", "CONFIRM": "${{ inputs.confirm }}"}
    assert '[ "$CONFIRM" != "$STACK" ]' in check["run"] and "exit 1" in check["run"]
    destroy = workflow["jobs"]["destroy"]
    assert destroy["needs"] == "confirm"
    assert destroy["concurrency"]["group"] == "stack-${{ inputs.stack }}"  # same as deploys
    (pulumi,) = step_using(destroy, "pulumi/actions")
    assert pulumi["with"]["command"] == "destroy"


def test_destroy_refuses_a_protected_stack_before_any_credential() -> None:
    confirm = load("destroy.yml")["jobs"]["confirm"]
    names = [s.get("id") or s.get("name") for s in steps(confirm)]
    refuse = steps(confirm)[names.index("Refuse a protected stack")]
    assert names.index("stack") < names.index("Refuse a protected stack")
    assert refuse["if"] == "fromJSON(steps.stack.outputs.matrix).include[0].protected"
    assert "exit 1" in refuse["run"] and "protect" in refuse["run"]


def test_the_smoke_commands_in_deploy_match_the_smoke_cli() -> None:
    """Each option deploy-stack.yml passes exists in `python -m smoke` (read from its parser)."""
    from smoke.__main__ import COMMANDS

    text = (WORKFLOWS / "deploy-stack.yml").read_text(encoding="utf-8")
    used = {
        "check": ["--stack", "s", "--junit", "j.xml", "--report", "r.json", "--wait", "600",
                  "--no-aws"],
        "bench": ["--stack", "s", "--report", "r.json", "--label", "s", "--no-progress"],
        "compare": ["r.json", "--label", "s", "--out", "d"],
    }
    for command, argv in used.items():
        # Each command module's own `add_arguments`, as `python -m smoke <command>` builds it.
        parser = argparse.ArgumentParser(prog=f"python -m smoke {command}")
        importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
        parser.parse_args(argv)  # exits (fails the test) on an unknown option
        for option in (a for a in argv if a.startswith("--")):
            assert option in text, (command, option)
