"""scripts/ci/plan_diff.py: two offline plan directories -> a readable Markdown diff."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci import SCRIPTS, load_script

plan_diff = load_script("plan_diff")

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inference"}}
SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "qwen", "namespace": "inference"},
           "spec": {"ports": [{"port": 8000}], "type": "ClusterIP"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "qwen", "namespace": "inference"},
              "spec": {"replicas": 1, "template": {"spec": {"containers": [
                  {"name": "engine", "args": ["--max-model-len", "12288"]}]}}}}
STACK_URN = "urn:pulumi:dev::inference-stacks::pulumi:pulumi:Stack::inference-stacks-dev"


def resource(kind: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"type": f"kubernetes:{kind}", "name": name, "parent": STACK_URN, "custom": True,
            "inputs": inputs}


def write_plan(directory: Path, manifests: dict[str, dict[str, Any]],
               resources: list[dict[str, Any]], outputs: dict[str, Any]) -> Path:
    (directory / "manifests").mkdir(parents=True)
    for filename, obj in manifests.items():
        (directory / "manifests" / filename).write_text(yaml.safe_dump(obj, sort_keys=True))
    (directory / "resources.json").write_text(json.dumps(resources, indent=2, sort_keys=True))
    (directory / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True))
    return directory


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write_plan(
        tmp_path / "base",
        {"namespace-inference.yaml": NAMESPACE,
         "deployment-inference-qwen.yaml": DEPLOYMENT},
        [resource("core/v1:Namespace", "inference", NAMESPACE),
         resource("apps/v1:Deployment", "qwen", DEPLOYMENT)],
        {"schema_version": 1, "endpoints": "[secret]"})


@pytest.fixture
def head(tmp_path: Path) -> Path:
    """Namespace removed, Service added, Deployment's max_model_len changed."""
    changed = json.loads(json.dumps(DEPLOYMENT))
    changed["spec"]["template"]["spec"]["containers"][0]["args"][1] = "16384"
    return write_plan(
        tmp_path / "head",
        {"service-inference-qwen.yaml": SERVICE,
         "deployment-inference-qwen.yaml": changed},
        [resource("apps/v1:Deployment", "qwen", changed),
         resource("core/v1:Service", "qwen", SERVICE)],
        {"schema_version": 1, "endpoints": "[secret]"})


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / "plan_diff.py"), *args],
                          capture_output=True, text=True, check=False)


def test_added_removed_and_changed_objects(base: Path, head: Path) -> None:
    text = plan_diff.render(plan_diff.read_plan(base), plan_diff.read_plan(head), "dev")
    assert text.startswith("### Offline plan: `dev`")
    assert "Kubernetes objects +1 -1 ~1; resources +1 -1 ~1" in text
    assert "- **added** `Service inference/qwen` (service-inference-qwen.yaml)" in text
    assert "- **removed** `Namespace inference` (namespace-inference.yaml)" in text
    assert "- **changed** `Deployment inference/qwen` (deployment-inference-qwen.yaml)" in text
    # The change itself, as a unified diff of the manifest.
    assert re.search(r"^-\s+- '12288'$", text, re.MULTILINE)
    assert re.search(r"^\+\s+- '16384'$", text, re.MULTILINE)
    assert "- **added** `kubernetes:core/v1:Service qwen (in inference-stacks-dev)`" in text
    assert "outputs changed" not in text
    assert text.count("```") % 2 == 0


def test_identical_plans_print_no_changes(base: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(base, copy)
    result = run_cli(str(base), str(copy), "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no changes\n"


def test_resource_order_does_not_matter(base: Path, tmp_path: Path) -> None:
    # The engine registers resources concurrently: resources.json order varies between runs.
    shuffled = tmp_path / "shuffled"
    shutil.copytree(base, shuffled)
    resources = json.loads((base / "resources.json").read_text())
    (shuffled / "resources.json").write_text(json.dumps(list(reversed(resources))))
    assert plan_diff.render(plan_diff.read_plan(base), plan_diff.read_plan(shuffled)) == \
        "no changes"


def test_changed_outputs_are_shown(base: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(base, other)
    (other / "outputs.json").write_text(json.dumps({"schema_version": 1, "endpoints": {}}))
    text = plan_diff.render(plan_diff.read_plan(base), plan_diff.read_plan(other))
    assert "outputs changed" in text
    assert '-  "endpoints": "[secret]"' in text


def test_missing_base_is_a_new_stack(head: Path, tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "absent"), str(head), "--stack", "new")
    assert result.returncode == 0, result.stderr
    assert "Kubernetes objects +2 -0 ~0; resources +2 -0 ~0; outputs changed" in result.stdout


def test_missing_head_is_an_error(base: Path, tmp_path: Path) -> None:
    result = run_cli(str(base), str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "no plan directory" in result.stderr


def test_long_diffs_are_cut_with_balanced_code_fences(base: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    shutil.copytree(base, big)
    huge = json.loads(json.dumps(DEPLOYMENT))
    huge["spec"]["template"]["spec"]["containers"][0]["args"] = [f"--x{i}" for i in range(3000)]
    (big / "manifests" / "deployment-inference-qwen.yaml").write_text(yaml.safe_dump(huge))
    text = plan_diff.render(plan_diff.read_plan(base), plan_diff.read_plan(big), "dev",
                            max_chars=2000)
    assert len(text) < 2200
    assert "(truncated" in text
    assert "- **changed** `Deployment inference/qwen`" in text  # the summary list survives
    assert text.count("```") % 2 == 0


def test_real_plan_of_a_stack_against_itself(tmp_path: Path) -> None:
    """End to end on a real offline plan: planning twice gives no changes."""
    from infra.plan import plan_stack, read_stack_file, stack_file, write_plan

    config, secret_keys = read_stack_file(stack_file("k8s-dev"))
    for name in ("a", "b"):
        write_plan(plan_stack(config, secret_keys, "k8s-dev"), tmp_path / name)
    result = run_cli(str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.stdout == "no changes\n", result.stdout[:2000]
