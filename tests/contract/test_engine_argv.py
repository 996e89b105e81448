"""The argv rendered for every engine container of every stack, parsed by the engine itself."""

from __future__ import annotations

import functools

import pytest

from infra.plan import Plan
from tests.helpers import plan, stack_names

pytestmark = pytest.mark.engines


@functools.cache
def _plan(stack: str) -> Plan:
    return plan(stack)


def engine_containers(stack: str, image_prefix: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(object/container, args) for containers whose command starts the engine."""
    found = []
    for filename, obj in sorted(_plan(stack).manifests.items()):
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = list(pod.get("containers", []))
        if obj.get("kind") == "InferenceEndpointConfig":  # HyperPod: the operator's worker
            containers.append({"name": "worker", **obj["spec"]["worker"]})
        for container in containers:
            command = " ".join(container.get("command") or [])
            if any(p in command for p in image_prefix):
                found.append((f"{filename}:{container['name']}", list(container["args"])))
    return found


@pytest.mark.parametrize("stack", stack_names())
def test_vllm_parser_accepts_every_vllm_container(stack: str) -> None:
    from tests.contract.harness import parse_vllm_argv

    for where, argv in engine_containers(stack, ("vllm.entrypoints",)):
        args = parse_vllm_argv(argv)
        assert args.served_model_name, where  # R5


@pytest.mark.parametrize("stack", stack_names())
def test_sglang_parser_accepts_every_sglang_container(stack: str) -> None:
    from tests.contract.harness import parse_sglang_argv

    for where, argv in engine_containers(stack, ("sglang.launch_server",)):
        args = parse_sglang_argv(argv)
        assert args.enable_metrics, where  # R7
        assert args.served_model_name, where  # R5


def test_the_stacks_render_both_engines() -> None:
    """Guard against the two tests above passing vacuously."""
    stacks = stack_names()
    assert any(engine_containers(s, ("vllm.entrypoints",)) for s in stacks)
    assert any(engine_containers(s, ("sglang.launch_server",)) for s in stacks)


def router_containers(stack: str) -> list[tuple[str, str, list[str]]]:
    """(object/container, router kind, args) for every router container of a stack."""
    from tests.contract.harness import router_kind

    found = []
    for filename, obj in sorted(_plan(stack).manifests.items()):
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers", []):
            kind = router_kind(list(container.get("command") or []))
            if kind is not None:
                found.append((f"{filename}:{container['name']}", kind, list(container["args"])))
    return found


@pytest.mark.parametrize("stack", stack_names())
def test_router_parsers_accept_every_router_container(stack: str) -> None:
    from tests.contract.harness import parse_router_argv

    for where, kind, argv in router_containers(stack):
        args = parse_router_argv(kind, argv)
        assert args.service_discovery and args.selector, where
        assert args.api_key, where  # the engines' key (R15)


def test_the_stacks_render_a_router() -> None:
    """Guard against the router test above passing vacuously."""
    assert any(router_containers(s) for s in stack_names())
