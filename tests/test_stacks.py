"""Every stack in stacks/: plans offline, renders valid Kubernetes objects, matches its golden."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.plan import Plan, write_plan
from tests.contract.crds import is_stored, validate_custom_resource
from tests.contract.harness import k8s_schema_version, validate_k8s_manifest
from tests.helpers import ROOT, plan, stack_names

GOLDEN = ROOT / "tests" / "golden"
STACKS = stack_names()


@functools.cache
def cached_plan(stack: str) -> Plan:
    return plan(stack)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_plans_and_exports_contract_v1(stack: str) -> None:
    result = cached_plan(stack)
    assert result.resources, "a stack that creates nothing is a broken stack"
    assert result.outputs["schema_version"] == 1
    assert result.outputs["platform"] == result.platform


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_is_valid_for_the_stacks_kubernetes_version(stack: str) -> None:
    result = cached_plan(stack)
    for filename, obj in sorted(result.manifests.items()):
        try:
            if is_stored(obj):
                validate_custom_resource(obj)
                continue
            validate_k8s_manifest(obj, result.kubernetes_version)
        except AssertionError as exc:
            raise AssertionError(f"{stack}: {filename}: {exc}") from None


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_validate_cli_strict_accepts_the_written_manifests(
    stack: str, tmp_path: Path
) -> None:
    """The real `kubernetes-validate --strict` on the files the plan writes."""
    result = cached_plan(stack)
    write_plan(result, tmp_path)
    core = [p for p in sorted((tmp_path / "manifests").glob("*.yaml"))
            if not yaml.safe_load(p.read_text())["apiVersion"].startswith("inference.sagemaker")
            and not is_stored(yaml.safe_load(p.read_text()))]
    if not core:
        pytest.skip(f"{stack} renders no core Kubernetes objects (custom resources are checked "
                    "against their CRD)")
    cli = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert cli is not None, "kubernetes-validate is part of the dev extra"
    proc = subprocess.run(
        [cli, "--strict", "--quiet", "-k", k8s_schema_version(result.kubernetes_version),
         *map(str, core)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_match_golden(stack: str, update_golden: bool) -> None:
    result = cached_plan(stack)
    golden_dir = GOLDEN / stack
    rendered = {name: yaml.safe_dump(obj, sort_keys=True) for name, obj in result.manifests.items()}
    if update_golden:
        shutil.rmtree(golden_dir, ignore_errors=True)
        golden_dir.mkdir(parents=True)
        (golden_dir / ".gitkeep").touch()  # git keeps the directory of a stack with no objects
        for name, text in rendered.items():
            (golden_dir / name).write_text(text, encoding="utf-8")
        pytest.fail(f"rewrote {golden_dir.relative_to(ROOT)}; review the diff and rerun without "
                    "--update-golden")
    assert golden_dir.is_dir(), f"no golden for {stack}: run pytest --update-golden, review, commit"
    golden = {p.name: p.read_text(encoding="utf-8") for p in golden_dir.glob("*.yaml")}
    assert sorted(rendered) == sorted(golden), "objects added or removed; see --update-golden"
    for name, text in rendered.items():
        assert text == golden[name], f"{stack}/{name} differs from golden; see --update-golden"


OUTPUTS_SCHEMA = ROOT / "docs" / "outputs.schema.json"


def test_the_committed_outputs_schema_is_generated_from_the_contract(update_golden: bool) -> None:
    import json

    from infra.contract import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if update_golden:
        OUTPUTS_SCHEMA.write_text(text, encoding="utf-8")
        pytest.fail(f"rewrote {OUTPUTS_SCHEMA.relative_to(ROOT)}; rerun without --update-golden")
    assert OUTPUTS_SCHEMA.read_text(encoding="utf-8") == text, (
        "docs/outputs.schema.json is stale: run pytest tests/test_stacks.py --update-golden")


@pytest.mark.parametrize("stack", STACKS)
def test_every_stacks_outputs_follow_the_contract(stack: str) -> None:
    """The producer's outputs pass the committed JSON Schema and the readers' own parser."""
    import json

    import jsonschema

    from smoke.outputs import parse_outputs

    outputs = cached_plan(stack).outputs
    jsonschema.validate(outputs, json.loads(OUTPUTS_SCHEMA.read_text(encoding="utf-8")))
    parsed = parse_outputs(json.dumps(outputs), stack)
    assert set(parsed.endpoints) == set(outputs["endpoints"])
