"""`protect` (issue 12, point 6): what is costly to lose carries Pulumi's `protect` option.

The program runs on the sample stacks under the mock engine, which receives each resource's
options as `pulumi up` would (`protect` set on the resource or inherited from its parent). The
default protects every resource of the kinds below and nothing else; `protect: false` protects
nothing and turns the clouds' own deletion protection off. The deploy workflow's guard
(`scripts/ci/plan_diff.py guard`) stops on replacing or deleting each of these kinds too.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from infra.config.base import NAMESPACE
from infra.plan import STACKS_DIR, Plan, plan_stack, read_stack_file, summary
from tests.ci import load_script
from tests.helpers import ASSUMED_SECRETS, config_problems, k8s_config

plan_diff = load_script("plan_diff")

# What the program protects: control planes (and the key their Secrets are encrypted with), the
# HyperPod cluster, K3s VMs (their boot disks hold the model cache), every bucket, and the
# claims batch results are written to when the program creates them.
PROTECTED_KINDS = frozenset({
    "eks:index:Cluster", "aws:kms/key:Key", "aws-native:sagemaker:Cluster",
    "aws:s3/bucket:Bucket", "gcp:compute/instance:Instance",
    "kubernetes:core/v1:PersistentVolumeClaim",
})
# One stack per platform that creates something of a protected kind (k8s-batch: a claim).
STACKS = ("eks-gpu", "hyperpod", "k3s-l4", "k8s-batch")
# The clouds' own deletion protection, set from the same setting.
CLOUD_DELETION_PROTECTION = {"eks:index:Cluster": "deletionProtection",
                             "gcp:compute/instance:Instance": "deletionProtection"}


@functools.cache
def planned(stack: str, protect: str | None) -> Plan:
    config, secret_keys = read_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml",
                                          ASSUMED_SECRETS.get(stack, ()))
    if protect is not None:
        config = {**config, f"{NAMESPACE}:protect": protect}
    return plan_stack(config, secret_keys, stack)


def names(resources: list[dict[str, Any]]) -> set[str]:
    return {f"{r['type']} {r['name']}" for r in resources}


@pytest.mark.parametrize("stack", STACKS)
def test_by_default_exactly_the_protected_kinds_are_protected(stack: str) -> None:
    resources = planned(stack, None).resources
    of_kind = [r for r in resources if r["type"] in PROTECTED_KINDS]
    assert of_kind, f"{stack} creates nothing of a protected kind: pick another stack"
    assert names([r for r in resources if r.get("protect")]) == names(of_kind)
    for resource in of_kind:
        field = CLOUD_DELETION_PROTECTION.get(resource["type"])
        if field:
            assert resource["inputs"][field] is True, resource["name"]


def test_the_sample_stacks_cover_every_protected_kind() -> None:
    seen = {r["type"] for stack in STACKS for r in planned(stack, None).resources
            if r.get("protect")}
    assert seen == PROTECTED_KINDS


@pytest.mark.parametrize("stack", STACKS)
def test_protect_false_protects_nothing(stack: str) -> None:
    resources = planned(stack, "false").resources
    assert names([r for r in resources if r.get("protect")]) == set()
    for resource in resources:
        field = CLOUD_DELETION_PROTECTION.get(resource["type"])
        if field:
            assert resource["inputs"][field] is False, resource["name"]


def test_the_plan_summary_lists_what_is_protected() -> None:
    text = summary(planned("k3s-l4", None), None)
    line = next(x for x in text.splitlines() if x.startswith("Protected"))
    assert "gcp:compute/instance:Instance" in line and "protect: false" in line
    assert "Protected: nothing" in summary(planned("k3s-l4", "false"), None)


def test_the_deploy_guard_stops_on_deleting_anything_the_program_protects() -> None:
    """One list for people: every kind `protect` covers is also a kind the workflow guards."""
    assert PROTECTED_KINDS <= plan_diff.PROTECTED_TYPES
    stack = "urn:pulumi:s::inference-stacks::"
    for name in STACKS:
        protected = [r for r in planned(name, None).resources if r.get("protect")]
        preview = {"steps": [{"op": "delete", "urn": f"{stack}{r['type']}::{r['name']}",
                              "oldState": {"type": r["type"]}} for r in protected]}
        assert len(plan_diff.destructive_steps(preview)) == len(protected)


@pytest.mark.parametrize("value", ["maybe", "2", "[true]"])
def test_protect_takes_a_boolean(value: str) -> None:
    problems = config_problems({**k8s_config(), "protect": value})
    assert any(p.startswith(f"{NAMESPACE}:protect:") for p in problems), problems
