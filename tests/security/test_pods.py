"""Issue 12, point 2: pod hardening, service account tokens, RBAC, PSA labels, image pins."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from components import images, pod, pod_security
from components import router_manifests as rm
from components.spec import ModelSourceSpec
from tests.helpers import plan, stack_names
from tests.security.stack_specs import stack_specs
from tests.unit.test_builders import make_spec
from tests.unit.test_router import SPEC as ROUTER


@functools.cache
def _plan(stack: str):  # type: ignore[no-untyped-def]
    return plan(stack)


def _pods(stack: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, obj in _plan(stack).manifests.items():
        if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            found.append((name, obj["spec"]["template"]["spec"]))
    return found


def assert_hardened(pod_spec: dict[str, Any], where: str) -> None:
    pod_seccomp = (pod_spec.get("securityContext") or {}).get("seccompProfile", {}).get("type")
    for c in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]:
        ctx = c.get("securityContext") or {}
        label = f"{where}: container {c['name']}"
        assert ctx.get("allowPrivilegeEscalation") is False, label
        assert ctx.get("capabilities", {}).get("drop") == ["ALL"], label
        assert not ctx.get("capabilities", {}).get("add"), label
        assert not ctx.get("privileged"), label
        seccomp = ctx.get("seccompProfile", {}).get("type") or pod_seccomp
        assert seccomp == "RuntimeDefault", label


@pytest.mark.parametrize("stack", stack_names())
def test_every_rendered_pod_is_hardened(stack: str) -> None:
    for name, spec in _pods(stack):
        assert_hardened(spec, f"{stack}/{name}")


def test_s3_download_init_container_is_hardened() -> None:
    spec = make_spec(source=ModelSourceSpec("s3", s3_bucket="models", s3_prefix="qwen"))
    rendered = pod.pod_spec(spec)
    assert rendered["initContainers"], "an S3 source without streaming downloads first"
    assert_hardened(rendered, "s3 endpoint")


@pytest.mark.parametrize("stack", stack_names())
def test_only_routers_get_a_service_account_token(stack: str) -> None:
    """Engines and routers (the device plugin DaemonSet keeps the upstream manifest's default)."""
    for name, spec in _pods(stack):
        if not name.startswith("deployment-"):
            continue
        is_router = spec.get("serviceAccountName", "").endswith("-router")
        assert spec.get("automountServiceAccountToken") is is_router, f"{stack}/{name}"


def test_router_rbac_is_read_only_pods_in_its_namespace() -> None:
    role = rm.role(ROUTER)
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == ROUTER.namespace
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list", "watch"]}]
    binding = rm.role_binding(ROUTER)
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ROUTER.name,
                                    "namespace": ROUTER.namespace}]
    assert_hardened(rm.deployment(ROUTER)["spec"]["template"]["spec"], "router")


def test_psa_enforces_baseline_and_warns_restricted() -> None:
    labels = pod_security.namespace_labels([make_spec()], "1.33")
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.33"


def test_psa_hostpath_cache_cannot_run_under_baseline() -> None:
    hostpath = make_spec(cache_type="hostpath")
    labels = pod_security.namespace_labels([make_spec(), hostpath])
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize("stack", stack_names())
def test_psa_level_admits_every_rendered_engine(stack: str) -> None:
    """Baseline forbids hostPath volumes; a stack whose engines mount one gets privileged."""
    specs = stack_specs(stack).endpoints
    for namespace in {s.namespace for s in specs}:
        members = [s for s in specs if s.namespace == namespace]
        level = pod_security.enforce_level(members)
        for spec in members:
            volumes = pod.volumes(spec)
            if any("hostPath" in v for v in volumes):
                assert level == "privileged", (stack, spec.name)
            else:
                assert level in ("baseline", "privileged")
        if not any(s.cache_type == "hostpath" for s in members):
            assert level == "baseline", (stack, namespace)


def test_router_nightly_tag_is_flagged_until_pinned_by_digest() -> None:
    assert images.image_problems(rm.DEFAULT_IMAGE), "a nightly tag is mutable"
    pinned = rm.DEFAULT_IMAGE + "@sha256:" + "0" * 64
    assert images.image_problems(pinned) == []
    annotations = rm.deployment(dataclasses.replace(ROUTER, image=pinned))["metadata"][
        "annotations"]
    assert annotations["inference-stacks/image-tag"] == rm.DEFAULT_IMAGE
    assert annotations["inference-stacks/image-digest"] == "sha256:" + "0" * 64


@pytest.mark.parametrize("ref", ["img:latest", "img", "img:nightly", "img@sha256:abc",
                                 "img:v1@sha256:" + "A" * 64, "Bad/Repo:1"])
def test_bad_or_mutable_references_are_named(ref: str) -> None:
    assert images.image_problems(ref)


@pytest.mark.parametrize("ref", ["vllm/vllm-openai:v0.32.0", "lmsysorg/sglang:v0.5.23",
                                 "nvcr.io/nvidia/k8s-device-plugin:v0.17.4",
                                 "763104351884.dkr.ecr.us-east-1.amazonaws.com/sglang:0.5"])
def test_release_tags_pass_and_can_require_a_digest(ref: str) -> None:
    assert images.image_problems(ref) == []
    assert images.image_problems(ref, require_digest=True)
