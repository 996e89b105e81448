#!/usr/bin/env python3
"""Readable diff of two offline plans (`python -m infra plan --out DIR`), as Markdown.

CI posts it on pull requests from forks, which get no cloud credentials and so no
`pulumi preview`: the base branch's plan against the pull request's plan, per stack.

    plan_diff.py BASE_DIR HEAD_DIR [--stack NAME] [--max-chars N]
    plan_diff.py guard PREVIEW_JSON [--allow-destructive]

`guard` reads `pulumi preview --json` and exits 3 when the preview replaces or deletes a
resource of a protected kind (clusters, VPCs, buckets, secrets, namespaces, the K3s VMs,
generated API keys...), unless `--allow-destructive` (a manual approval input of the deploy
workflow) says so. The deploy workflow runs it before `pulumi up`.

Compares `manifests/*.yaml` (one Kubernetes object per file: added, removed, changed with a
unified diff), `resources.json` (every resource keyed by parent, type and name, so the order the
engine registered them in does not matter) and `outputs.json`. Prints "no changes" when the two
plans are the same. A missing BASE_DIR is an empty plan (a stack new in the pull request).
The plans hold no secrets (the plan redacts them as `[secret]`), so the diff is safe to post.
"""

from __future__ import annotations

import argparse
import difflib
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_CHANGES = "no changes"
# GitHub rejects comment bodies over 65,536 characters; leave room for the other stacks.
DEFAULT_MAX_CHARS = 20_000
MARKER = "<!-- inference-stacks:plan-diff -->"


# Kinds whose replacement or deletion loses state, data, addresses or credentials clients hold.
# A superset of what the program marks with Pulumi's `protect` (stack setting `protect`; the
# list is in tests/security/test_protect.py): those the engine would refuse anyway, the guard
# names them before `pulumi up` starts; the others (namespaces, VPCs, secrets...) only stop here.
PROTECTED_TYPES = frozenset({
    "aws:eks/cluster:Cluster", "eks:index:Cluster", "aws-native:sagemaker:Cluster",
    "aws:kms/key:Key",
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:fsx/lustreFileSystem:LustreFileSystem",
    "gcp:compute/instance:Instance", "gcp:compute/network:Network",
    "gcp:compute/address:Address", "gcp:secretmanager/secret:Secret",
    "kubernetes:core/v1:Namespace", "kubernetes:core/v1:PersistentVolumeClaim",
    "random:index/randomPassword:RandomPassword",
})
DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})
GUARD_EXIT = 3


def urn_type(urn: str) -> str:
    """`urn:pulumi:stack::project::parent$type::name` -> `type`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return ""
    return parts[2].rsplit("$", 1)[-1]


def destructive_steps(preview: dict[str, Any],
                      protected: frozenset[str] = PROTECTED_TYPES) -> list[str]:
    """`op type name` of every step of `pulumi preview --json` that replaces or deletes a
    protected kind (each resource once)."""
    found: dict[str, str] = {}
    for step in preview.get("steps") or []:
        op = step.get("op", "")
        urn = step.get("urn", "")
        state = step.get("newState") or step.get("oldState") or {}
        kind = state.get("type") or urn_type(urn)
        if op in DESTRUCTIVE_OPS and kind in protected:
            name = urn.rsplit("::", 1)[-1]
            found.setdefault(urn, f"{op} {kind} {name}")
    return list(found.values())


def guard(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="plan_diff.py guard",
                                     description="stop on destroying protected resources")
    parser.add_argument("preview", type=Path, help="output of `pulumi preview --json`")
    parser.add_argument("--allow-destructive", action="store_true",
                        help="a person approved replacing/deleting protected resources")
    args = parser.parse_args(argv)
    try:
        preview = json.loads(args.preview.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {args.preview}: {exc}", file=sys.stderr)
        return 2
    steps = destructive_steps(preview if isinstance(preview, dict) else {})
    for line in steps:
        print(f"protected: {line}")
    if not steps:
        print("no protected resource is replaced or deleted")
        return 0
    if args.allow_destructive:
        print(f"{len(steps)} protected resource(s) will be replaced or deleted: approved "
              "by the allow_destructive input")
        return 0
    print(f"::error::the plan replaces or deletes {len(steps)} protected resource(s); "
          "re-run the deploy manually with allow_destructive=true if that is intended",
          file=sys.stderr)
    return GUARD_EXIT


class PlanError(Exception):
    """A plan directory this script cannot read (exit 2)."""


@dataclass
class Plan:
    manifests: dict[str, str] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: Any = None


def _resource_key(resource: dict[str, Any]) -> str:
    parent = resource.get("parent") or ""
    # The parent URN's last segment names the parent resource; enough to tell siblings apart.
    parent_name = parent.rsplit("::", 1)[-1] if parent else ""
    base = f"{resource.get('type')} {resource.get('name')}"
    return f"{base} (in {parent_name})" if parent_name else base


def read_plan(directory: Path) -> Plan:
    plan = Plan()
    if not directory.exists():
        return plan
    if not directory.is_dir():
        raise PlanError(f"{directory}: not a directory")
    manifests = directory / "manifests"
    if manifests.is_dir():
        for path in sorted(manifests.glob("*.yaml")):
            plan.manifests[path.name] = path.read_text(encoding="utf-8")
    resources_path = directory / "resources.json"
    if resources_path.is_file():
        try:
            resources = json.loads(resources_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PlanError(f"{resources_path}: not JSON: {exc}") from None
        if not isinstance(resources, list):
            raise PlanError(f"{resources_path}: expected a list of resources")
        for resource in resources:
            key = _resource_key(resource)
            unique, n = key, 2
            while unique in plan.resources:
                unique, n = f"{key} #{n}", n + 1
            plan.resources[unique] = resource
    outputs_path = directory / "outputs.json"
    if outputs_path.is_file():
        plan.outputs = json.loads(outputs_path.read_text(encoding="utf-8"))
    return plan


def _unified(old: str, new: str, label: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 f"base/{label}", f"head/{label}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def _block(diff: str) -> list[str]:
    return ["```diff", diff.rstrip("\n"), "```"]


def _summary(text: str) -> str:
    """Markdown code spans do not render inside <summary>: use HTML."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _manifest_kind(filename: str, text: str) -> str:
    try:
        obj = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return filename
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{meta.get('name', filename)}"


def _section(title: str, old: dict[str, str], new: dict[str, str],
             describe: Any) -> tuple[list[str], tuple[int, int, int]]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    if not (added or removed or changed):
        return [], (0, 0, 0)
    lines = [f"#### {title}: {len(added)} added, {len(removed)} removed, "
             f"{len(changed)} changed", ""]
    for key in added:
        lines += [f"- **added** {describe(key, new[key])}"]
    for key in removed:
        lines += [f"- **removed** {describe(key, old[key])}"]
    for key in changed:
        lines += [f"- **changed** {describe(key, new[key])}"]
    lines.append("")
    for key in changed:
        lines += [f"<details><summary>{_summary(describe(key, new[key]))}</summary>", "",
                  *_block(_unified(old[key], new[key], key)), "", "</details>", ""]
    for key in added:
        lines += [f"<details><summary>added: {_summary(describe(key, new[key]))}</summary>", "",
                  *_block(_unified("", new[key], key)), "", "</details>", ""]
    return lines, (len(added), len(removed), len(changed))


def render(base: Plan, head: Plan, stack: str | None = None,
           max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Markdown diff of base -> head, or exactly "no changes"."""
    manifest_lines, m = _section(
        "Kubernetes objects (manifests/)", base.manifests, head.manifests,
        lambda key, text: f"`{_manifest_kind(key, text)}` ({key})")
    resource_lines, r = _section(
        "Resources (resources.json)",
        {k: _dump(v) for k, v in base.resources.items()},
        {k: _dump(v) for k, v in head.resources.items()},
        lambda key, _text: f"`{key}`")
    output_lines: list[str] = []
    if base.outputs != head.outputs:
        output_lines = ["#### Stack outputs (outputs.json)", "",
                        *_block(_unified(_dump(base.outputs), _dump(head.outputs),
                                         "outputs.json")), ""]
    if not (manifest_lines or resource_lines or output_lines):
        return NO_CHANGES
    title = f"### Offline plan: `{stack}`" if stack else "### Offline plan"
    summary = (f"Kubernetes objects +{m[0]} -{m[1]} ~{m[2]}; "
               f"resources +{r[0]} -{r[1]} ~{r[2]}"
               + ("; outputs changed" if output_lines else ""))
    body = "\n".join([title, "", summary, "", *manifest_lines, *resource_lines, *output_lines])
    if len(body) > max_chars:
        # Cut the details, keep the summary lists; the full plans are in the workflow artifact.
        body = (body[:max_chars].rsplit("\n", 1)[0]
                + "\n\n_(truncated: the full plans are in the workflow run's artifact)_\n")
        if body.count("```") % 2:
            body = body.replace("\n\n_(truncated", "\n```\n\n_(truncated", 1)
    return body.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["guard"]:
        return guard(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="plan directory of the base branch")
    parser.add_argument("head", type=Path, help="plan directory of the change")
    parser.add_argument("--stack", help="stack name for the heading")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                        help=f"cut the details beyond this length (default {DEFAULT_MAX_CHARS})")
    args = parser.parse_args(argv)
    if not args.head.is_dir():
        print(f"error: {args.head}: no plan directory", file=sys.stderr)
        return 2
    try:
        text = render(read_plan(args.base), read_plan(args.head), args.stack, args.max_chars)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
