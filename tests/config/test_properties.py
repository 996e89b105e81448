"""Property: any stack config either plans to schema-valid manifests with every endpoint in
the outputs, or fails with problems located at key paths of the input; never a traceback.

Configs come from `strategies.py` (valid and invalid values for every field of the models).
Bounded for CI: ~100 examples in-process, a handful through the CLI as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from pydantic import BaseModel

from infra.config.base import (
    NAMESPACE,
    ConfigError,
    Problem,
    _child,
    _union_members,
    _unwrap,
)
from infra.config.stack import STACK_MODELS, section_of, settings_model
from tests.config.strategies import stack_config
from tests.contract.harness import validate_k8s_manifest
from tests.helpers import ROOT, config_problems, plan_config

_PART = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def parse_path(path: str) -> list[str | int]:
    """`inference-stacks:endpoints[1].engine_args.max_model_len` -> parts."""
    assert path.startswith(f"{NAMESPACE}:"), path
    rest = path[len(NAMESPACE) + 1:]
    parts: list[str | int] = []
    pos = 0
    while pos < len(rest):
        match = _PART.match(rest, pos)
        assert match is not None and match.end() > pos, f"unparsable key path {path!r}"
        if match.group(3) is not None:
            parts.append(json.loads(match.group(3)))
        else:
            parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return parts


def _member_for(annotation: Any, value: Any, key: str) -> Any:
    """The tagged-union member the input picks (by its `type`), else one that has `key`."""
    members = _union_members(annotation)
    tag = value.get("type") if isinstance(value, dict) else None
    for member in members:
        field = getattr(member, "model_fields", {}).get("type")
        if field is not None and tag in getattr(field.annotation, "__args__", ()):
            return member
    return next((m for m in members if key in getattr(m, "model_fields", {})), None)


def path_in_input(path: str, config: dict[str, Any]) -> bool:
    """The path names a key the user wrote, or a key of the schema they can write there (a
    missing required key or a default a cross-field rule is about): never a key pydantic or
    the program invented (a union tag, a wrapper, a field that does not exist)."""
    parts = parse_path(path)
    platform = config.get("platform")
    value: Any = config
    annotation: Any = STACK_MODELS.get(platform) if isinstance(platform, str) else None
    for index, part in enumerate(parts):
        if index == 0 and isinstance(platform, str) and platform in STACK_MODELS \
                and part == section_of(platform):
            annotation = settings_model(platform)
        elif annotation is not None:
            annotation = _unwrap(annotation)
            if _union_members(annotation):
                annotation = _member_for(annotation, value, str(part))
            in_input = (isinstance(value, dict) and part in value) or (
                isinstance(value, list) and isinstance(part, int) and part < len(value))
            is_field = isinstance(annotation, type) and issubclass(annotation, BaseModel) \
                and part in annotation.model_fields
            if not in_input and not is_field:
                return False
            annotation, _ = _child(annotation, part)
        elif not (isinstance(value, dict) and part in value):
            return False
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            value = None
    return True


# Platforms planned in-process; the others (EKS takes seconds per plan under the mocks) are
# validated only here and planned by the golden and platform tests.
PLANNED = ("kubernetes", "k3s-workload")


def check(config: dict[str, Any]) -> None:
    try:
        if config["platform"] not in PLANNED:
            problems = config_problems(config)
            if problems:
                raise ConfigError([Problem(*p.split(": ", 1)) for p in problems])
            event(f"{config['platform']}: valid")
            return
        result = plan_config(config)
    except ConfigError as exc:
        event(f"{config['platform']}: refused")
        assert exc.problems, "a ConfigError with no problem"
        for problem in exc.problems:
            assert path_in_input(problem.path, config), f"{problem} is not a key of {config}"
            assert "\n" not in str(problem), f"one problem, one line: {problem!r}"
        return
    event(f"{config['platform']}: planned {len(config.get('endpoints', []))} endpoint(s)")
    names = [e["name"] for e in config.get("endpoints", [])]
    assert sorted(result.outputs["endpoints"]) == sorted(names), "an endpoint was dropped"
    jobs = [j["name"] for j in config.get("batch_jobs", [])]
    assert sorted(result.outputs.get("batch_jobs", {})) == sorted(jobs), "a batch job was dropped"
    for obj in result.manifests.values():
        validate_k8s_manifest(obj, result.kubernetes_version, allow_unknown_kinds=True)


# CI runs the bounded default; CONFIG_PROPERTY_EXAMPLES=2000 hunts longer on a workstation.
EXAMPLES = int(os.environ.get("CONFIG_PROPERTY_EXAMPLES", "100"))
# CI runs the same examples every time (a red run is reproducible, not luck); set
# CONFIG_PROPERTY_RANDOM=1 to hunt with fresh examples.
DERANDOMIZE = os.environ.get("CONFIG_PROPERTY_RANDOM") != "1"


@pytest.mark.timeout(600)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None, derandomize=DERANDOMIZE)
@given(stack_config())
def test_any_config_plans_to_valid_manifests_or_fails_at_its_own_key_paths(
        config: dict[str, Any]) -> None:
    check(config)


@pytest.mark.timeout(600)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None, derandomize=DERANDOMIZE)
@given(stack_config())
def test_the_cli_never_prints_a_traceback(config: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.generated.yaml"
        body = {f"{NAMESPACE}:{k}": v for k, v in config.items()}
        path.write_text(yaml.safe_dump({"config": body}, allow_unicode=True))
        run = subprocess.run(
            [sys.executable, "-m", "infra", "plan", "--config-file", str(path), "--quiet",
             "--out", str(Path(tmp) / "out")],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert run.returncode in (0, 2), (run.returncode, run.stderr)
    if run.returncode == 2:
        lines = run.stderr.splitlines()
        assert lines[0].startswith("error:") and "problem(s) in the stack config" in lines[0]
        for line in lines[1:]:
            path = line.strip().split(": ", 1)[0]
            assert path_in_input(path, config), f"{line} is not a key of {config}"


def test_the_path_check_refuses_invented_keys() -> None:
    config = {"platform": "kubernetes", "endpoints": [{"source": {"type": "s3"}}]}
    assert path_in_input("inference-stacks:endpoints[0].source.bucket", config)
    assert path_in_input("inference-stacks:endpoints[0].gpu.count", config)
    assert not path_in_input("inference-stacks:endpoints[0].source.s3.bucket", config)
    assert not path_in_input("inference-stacks:endpoints[1].name", config)
    assert not path_in_input("inference-stacks:endpoints[0].engine_args.bogus", config)
