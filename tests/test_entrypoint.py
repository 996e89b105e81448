"""`infra/__main__.py` as the Pulumi engine runs it (directory program, monitor configured)."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess

import pulumi
import pytest
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.plan.mocks import RecordingMocks, RecordingMonitor
from tests.helpers import ROOT, k8s_config


def run_program_directory(config: dict) -> RecordingMocks:
    """Run `infra/` exactly like pulumi-language-python-exec: runpy on the directory."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="inference-stacks", stack="entry", preview=False,
                             monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(
        {f"inference-stacks:{k}": v if isinstance(v, str) else json.dumps(v)
         for k, v in config.items()})
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(ROOT / "infra"),
                                                       run_name="__main__")))
    return mocks


def test_pulumi_runs_the_program_not_the_cli() -> None:
    mocks = run_program_directory(k8s_config())
    types = {r.type for r in mocks.registrations}
    assert "inference-stacks:endpoint:InferenceEndpoint" in types
    assert "kubernetes:apps/v1:Deployment" in types


def test_bad_config_under_pulumi_is_a_run_error_without_traceback() -> None:
    with pytest.raises(pulumi.RunError) as info:
        run_program_directory(k8s_config(engine="tgi"))
    assert "inference-stacks:endpoints[0].engine" in str(info.value)
    assert info.value.__cause__ is None


@pytest.mark.cloud
def test_pulumi_preview_of_a_sample_stack() -> None:
    """Real `pulumi preview` against a live cluster; needs the CLI and a logged-in backend."""
    import os

    if shutil.which("pulumi") is None or not os.environ.get("PULUMI_TEST_STACK"):
        pytest.skip("needs the Pulumi CLI and PULUMI_TEST_STACK (an initialised stack with a "
                    "reachable cluster and backend)")
    proc = subprocess.run(["pulumi", "preview", "--stack", os.environ["PULUMI_TEST_STACK"],
                           "--non-interactive"], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
