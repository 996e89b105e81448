"""Issue 12, point 6: where CI's secrets and cloud identities reach, and the protect guard."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.ci.test_workflows import WORKFLOW_FILES, load, step_using, steps

SECRET = re.compile(r"secrets\.(PULUMI_CONFIG_PASSPHRASE|PULUMI_ACCESS_TOKEN)")
# IAM's default (and the CLI's) maximum role session: 1 hour.
DEFAULT_MAX_SESSION = 3600


def runs_pulumi(step: dict[str, Any]) -> bool:
    if str(step.get("uses", "")).startswith("pulumi/actions@"):
        return True
    run = step.get("run", "")
    # The smoke and bench CLIs read the stack outputs with `pulumi stack output`.
    return "pulumi " in run or "-m smoke check" in run or "-m smoke bench" in run


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in WORKFLOW_FILES
            for name, job in load(path.name).get("jobs", {}).items()]


@pytest.mark.parametrize(("workflow", "job_name", "job"), jobs())
def test_pulumi_secrets_only_on_steps_that_run_pulumi(workflow: str, job_name: str,
                                                      job: dict[str, Any]) -> None:
    where = f"{workflow}:{job_name}"
    assert not SECRET.search(yaml.safe_dump(job.get("env") or {})), \
        f"{where}: Pulumi secrets in the job env reach every step"
    for step in steps(job):
        label = step.get("name") or step.get("uses")
        if SECRET.search(yaml.safe_dump(step.get("env") or {})):
            assert runs_pulumi(step), f"{where}: {label} gets a Pulumi secret it does not use"
            assert job.get("environment"), f"{where}: secrets must come from an environment"
        assert not SECRET.search(yaml.safe_dump(step.get("with") or {})), f"{where}: {label}"


@pytest.mark.parametrize(("workflow", "job_name", "job"), jobs())
def test_role_sessions_stay_within_the_default_maximum(workflow: str, job_name: str,
                                                       job: dict[str, Any]) -> None:
    for step in step_using(job, "aws-actions/configure-aws-credentials"):
        duration = str(step["with"].get("role-duration-seconds", DEFAULT_MAX_SESSION))
        fallback = re.search(r"\|\|\s*(\d+)\s*}}", duration)
        value = int(fallback.group(1)) if fallback else int(duration)
        assert value <= DEFAULT_MAX_SESSION, f"{workflow}:{job_name}: {duration}"


@pytest.mark.parametrize(("workflow", "job_name", "job"), jobs())
def test_cloud_identities_are_bound_to_an_environment(workflow: str, job_name: str,
                                                      job: dict[str, Any]) -> None:
    """OIDC subjects then read `environment:<name>`, which the AWS roles' trust and the GCP
    provider's attribute condition pin; a job without one gets `ref:...` subjects."""
    if step_using(job, "google-github-actions/auth") or step_using(
            job, "aws-actions/configure-aws-credentials"):
        assert job.get("environment"), f"{workflow}:{job_name}"


def test_preview_runs_in_the_protected_preview_environment_with_read_only_identities() -> None:
    job = load("preview.yml")["jobs"]["preview"]
    assert job["environment"] == "preview"
    (aws,) = step_using(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (gcp,) = step_using(job, "google-github-actions/auth")
    assert gcp["with"]["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"


def test_deploy_stops_on_destroying_protected_resources_unless_approved() -> None:
    job = load("deploy-stack.yml")["jobs"]["deploy"]
    names = [s.get("name") for s in steps(job)]
    assert names.index("Protected resources guard") < names.index("pulumi up")
    guard = next(s for s in steps(job) if s.get("name") == "Protected resources guard")
    assert "pulumi preview --json" in guard["run"]
    assert "scripts/ci/plan_diff.py guard out/preview.json" in guard["run"]
    assert guard["env"]["ALLOW_DESTRUCTIVE"] == "${{ inputs.allow_destructive }}"
    assert "if" not in guard  # never skipped
    inputs = load("deploy-stack.yml")["on"]["workflow_call"]["inputs"]
    assert inputs["allow_destructive"]["default"] is False
    deploy = load("deploy.yml")
    assert deploy["on"]["workflow_dispatch"]["inputs"]["allow_destructive"]["default"] is False
    for wave in ("wave0", "wave1"):
        approve = deploy["jobs"][wave]["with"]["allow_destructive"]
        assert "github.event_name == 'workflow_dispatch'" in approve, "never on push"
