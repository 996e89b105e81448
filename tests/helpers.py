"""Shared test helpers: plan a stack file or an in-memory config under Pulumi's mocks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from components import router_manifests
from infra.config.base import NAMESPACE, ConfigError
from infra.config.stack import StackConfig
from infra.plan import STACKS_DIR, Plan, plan_stack, read_stack_file
from infra.validate.load import load_stack_config

ROOT = Path(__file__).resolve().parent.parent


def stack_names() -> list[str]:
    """Every stack in stacks/ (Pulumi.<name>.yaml)."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


# Secrets a stack needs that a fresh clone does not have (`pulumi config set --secret KEY`).
# vllm-router publishes only moving nightly tags, so a stack that picks it must pin a digest
# (any well-formed one: the plan never pulls it).
PINNED_VLLM_ROUTER = router_manifests.DEFAULT_IMAGE + "@sha256:" + "0" * 64

ASSUMED_SECRETS: dict[str, tuple[str, ...]] = {"k3s-l4-bench": ("hf_token",)}


def plan(stack: str) -> Plan:
    """Plan `stacks/Pulumi.<stack>.yaml` under the mock engine."""
    config, secret_keys = read_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml",
                                          ASSUMED_SECRETS.get(stack, ()))
    return plan_stack(config, secret_keys, stack)


def _encode(config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in config.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def plan_config(config: dict[str, Any], stack: str = "test",
                secret_keys: list[str] | None = None) -> Plan:
    """Plan an in-memory config (keys with or without the `inference-stacks:` prefix)."""
    return plan_stack(_encode(config), secret_keys or [], stack)


def load(config: dict[str, Any]) -> StackConfig:
    prefix = f"{NAMESPACE}:"
    return load_stack_config({k.removeprefix(prefix): v for k, v in config.items()})


def config_problems(config: dict[str, Any]) -> list[str]:
    """Problems `load_stack_config` reports for `config` ([] when valid)."""
    try:
        load(config)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def k8s_config(**endpoint: Any) -> dict[str, Any]:
    """A valid kubernetes-platform stack with one vLLM endpoint; `endpoint` overrides fields."""
    base: dict[str, Any] = {
        "name": "qwen3-0-6b", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
        "gpu": {"instance_type": "g5.xlarge"},
    }
    base.update(endpoint)
    return {"platform": "kubernetes", "kubernetes": {"kubernetes_version": "1.33"},
            "endpoints": [base]}


def with_endpoint(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(config)
    result["endpoints"][0].update(changes)
    return result


def manifest(plan_result: Plan, kind: str, name: str) -> dict[str, Any]:
    """The rendered object of `kind` named `name`."""
    for obj in plan_result.manifests.values():
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name} in plan: {sorted(plan_result.manifests)}")


def containers(plan_result: Plan, kind: str = "Deployment") -> list[tuple[str, dict[str, Any]]]:
    """(object name, container) for every container in every object of `kind`."""
    found = []
    for obj in plan_result.manifests.values():
        if obj["kind"] == kind:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                found.append((obj["metadata"]["name"], container))
    return found


