#!/usr/bin/env python3
"""Which stacks a change affects, as GitHub Actions matrices (CI: preview and deploy).

The stacks are whatever `stacks/Pulumi.<name>.yaml` files exist; nothing is hard-coded here, so
a stack added by a pull request is picked up by that pull request's preview.

A change affects:
- a stack, when its own `stacks/Pulumi.<name>.yaml` changed,
- a stack, when another file under `stacks/` that its stack file names changed (for example
  `kubeconfig.sample.yaml` named by `kubeconfig_path`),
- every stack, when the program changed: `infra/`, `components/`, `pyproject.toml`,
  `Pulumi.yaml`,
- every stack that references an affected stack (a K3s workload stack on its cluster stack),
  because its inputs come from the referenced stack's outputs.

Each matrix entry says which cloud credentials the stack needs (read from the platform in the
stack file), the AWS region, the in-repo stacks it references, and whether the stack is
`protected` (`inference-stacks:protect`, default true). Stacks are split in waves: a
stack is deployed after the stacks it references (`wave0` first, then `wave1`).

    affected_stacks.py --base SHA --head SHA   # git diff base...head
    affected_stacks.py --changed-file PATH ... # explicit list (tests, local use)
    affected_stacks.py --all | --stack NAME    # push without a usable base, manual dispatch

`--only NAMES` keeps only those stacks (the stacks a push to main may deploy). Prints the JSON
(`stacks`, `matrix`, `wave0`, `wave1`); `--github-output FILE` also appends them and `count`,
`wave0_count`, `wave1_count` as step outputs. Exit 2 on bad input (unknown stack, unknown
platform).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "inference-stacks"
# Changes here change what every stack renders.
GLOBAL_PREFIXES = ("infra/", "components/")
GLOBAL_FILES = ("pyproject.toml", "Pulumi.yaml")
# Clouds a platform talks to at deploy time (provider credentials for `pulumi up`/preview).
PLATFORM_CLOUDS: dict[str, frozenset[str]] = {
    "eks": frozenset({"aws"}),
    "hyperpod": frozenset({"aws"}),
    "k3s-gcp": frozenset({"gcp"}),
    # Reads the cluster kubeconfig the K3s server published to GCP Secret Manager.
    "k3s-workload": frozenset({"gcp"}),
    # An existing cluster: no cloud, unless it runs the AWS Load Balancer Controller (then the
    # smoke checks verify the live load balancer in AWS).
    "kubernetes": frozenset(),
}
STACK_FILE = re.compile(r"^Pulumi\.(?P<name>[A-Za-z0-9_.-]+)\.ya?ml$")
MAX_WAVES = 2


class StackError(Exception):
    """A stack file or an argument this script cannot use (exit 2)."""


@dataclass
class Stack:
    name: str
    path: Path
    platform: str
    clouds: frozenset[str]
    aws_region: str
    references: list[str] = field(default_factory=list)
    # `inference-stacks:protect` (default true): destroy.yml refuses a protected stack.
    protected: bool = True

    def entry(self) -> dict[str, Any]:
        return {
            "stack": self.name,
            "platform": self.platform,
            "aws": "aws" in self.clouds,
            "gcp": "gcp" in self.clouds,
            "aws_region": self.aws_region,
            "references": self.references,
            "protected": self.protected,
        }


def _config(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"{path}: cannot read the stack file: {exc}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackError(f"{path}: expected a top-level `config:` mapping")
    return config


def _referenced_stacks(value: Any) -> Iterable[str]:
    """Last segment of `org/project/stack` strings under keys named `*_stack`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).endswith("_stack") and isinstance(item, str):
                yield item.rsplit("/", 1)[-1]
            else:
                yield from _referenced_stacks(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_stacks(item)


def load_stack(path: Path) -> Stack:
    match = STACK_FILE.match(path.name)
    if match is None:
        raise StackError(f"{path}: not a stack file (expected Pulumi.<name>.yaml)")
    config = _config(path)
    platform = config.get(f"{NAMESPACE}:platform")
    if platform not in PLATFORM_CLOUDS:
        raise StackError(
            f"{path}: {NAMESPACE}:platform is {platform!r}; this script knows "
            f"{', '.join(sorted(PLATFORM_CLOUDS))} (add the new platform's clouds to "
            f"PLATFORM_CLOUDS in scripts/ci/affected_stacks.py)")
    section = config.get(f"{NAMESPACE}:{platform.replace('-', '_')}")
    section = section if isinstance(section, dict) else {}
    clouds = set(PLATFORM_CLOUDS[platform])
    if platform == "kubernetes" and section.get("aws_load_balancer_controller") is True:
        clouds.add("aws")
    # Provider config keys in the stack file (`aws:region`, `gcp:project`) mean that provider.
    clouds.update(p for p in ("aws", "gcp") if any(str(k).startswith(f"{p}:") for k in config))
    region = section.get("region") if "aws" in clouds else None
    region = region if isinstance(region, str) else config.get("aws:region", "")
    references = sorted(set(_referenced_stacks(section)))
    protected = str(config.get(f"{NAMESPACE}:protect", True)).lower() != "false"
    return Stack(match["name"], path, platform, frozenset(clouds), str(region or ""), references,
                 protected)


def load_stacks(stacks_dir: Path) -> dict[str, Stack]:
    stacks = {}
    for path in sorted(stacks_dir.iterdir()):
        if STACK_FILE.match(path.name):
            stack = load_stack(path)
            stacks[stack.name] = stack
    return stacks


def _directly_affected(changed: Iterable[str], stacks: dict[str, Stack],
                       stacks_prefix: str) -> set[str]:
    affected: set[str] = set()
    for raw in changed:
        path = raw.strip()
        if not path:
            continue
        if path in GLOBAL_FILES or path.startswith(GLOBAL_PREFIXES):
            return set(stacks)
        if not path.startswith(stacks_prefix):
            continue
        name = path[len(stacks_prefix):]
        match = STACK_FILE.match(name)
        if match is not None:
            if match["name"] in stacks:  # a deleted stack file has nothing left to preview
                affected.add(match["name"])
            continue
        # Another file in stacks/: the stacks whose file names it.
        for stack in stacks.values():
            if name in stack.path.read_text(encoding="utf-8"):
                affected.add(stack.name)
    return affected


def with_dependents(names: set[str], stacks: dict[str, Stack]) -> set[str]:
    result = set(names)
    grew = True
    while grew:
        grew = False
        for stack in stacks.values():
            if stack.name not in result and result.intersection(stack.references):
                result.add(stack.name)
                grew = True
    return result


def waves(names: Iterable[str], stacks: dict[str, Stack]) -> list[list[str]]:
    """Deploy order: a stack comes after the in-repo stacks it references."""
    depth: dict[str, int] = {}

    def level(name: str, seen: tuple[str, ...]) -> int:
        if name in seen:
            raise StackError(f"stack references form a cycle: {' -> '.join((*seen, name))}")
        if name not in depth:
            refs = [r for r in stacks[name].references if r in stacks]
            depth[name] = 1 + max((level(r, (*seen, name)) for r in refs), default=-1)
        return depth[name]

    result: list[list[str]] = [[] for _ in range(MAX_WAVES)]
    for name in sorted(names):
        d = level(name, ())
        if d >= MAX_WAVES:
            raise StackError(f"stack {name} is {d + 1} references deep; the deploy workflow "
                             f"has {MAX_WAVES} waves")
        result[d].append(name)
    return result


def changed_files(base: str, head: str) -> list[str]:
    cmd = ["git", "diff", "--name-only", f"{base}...{head}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StackError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def _known(names: Iterable[str], stacks: dict[str, Stack], option: str) -> set[str]:
    unknown = sorted(set(names) - set(stacks))
    if unknown:
        raise StackError(f"{option}: no such stack {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(stacks)) or 'none'}")
    return set(names)


def select(args: argparse.Namespace, stacks: dict[str, Stack], stacks_prefix: str) -> set[str]:
    if args.all:
        selected = set(stacks)
    elif args.stack is not None:
        selected = _known([args.stack], stacks, "--stack")
    else:
        changed = args.changed_file if args.changed_file else changed_files(args.base, args.head)
        selected = with_dependents(_directly_affected(changed, stacks, stacks_prefix), stacks)
    if args.only is not None:
        # Typos in the allow-list fail loudly rather than silently deploying nothing.
        selected &= _known(args.only.replace(",", " ").split(), stacks, "--only")
    return selected


def result(selected: set[str], stacks: dict[str, Stack]) -> dict[str, Any]:
    names = sorted(selected)
    wave_names = waves(names, stacks)
    return {
        "stacks": names,
        "matrix": {"include": [stacks[n].entry() for n in names]},
        **{f"wave{i}": {"include": [stacks[n].entry() for n in wave]}
           for i, wave in enumerate(wave_names)},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--base", help="base commit; with --head: git diff base...head")
    what.add_argument("--changed-file", action="append", metavar="PATH",
                      help="a changed path relative to the repository root (repeatable)")
    what.add_argument("--all", action="store_true", help="every stack")
    what.add_argument("--stack", help="exactly this stack (must exist)")
    parser.add_argument("--head", default="HEAD", help="head commit (default HEAD)")
    parser.add_argument("--only", metavar="NAMES",
                        help="keep only these stacks (comma or space separated), e.g. the "
                             "stacks a push to main may deploy")
    parser.add_argument("--stacks-dir", type=Path, default=ROOT / "stacks")
    parser.add_argument("--github-output", type=Path, metavar="FILE",
                        help="append the step outputs here (GitHub's $GITHUB_OUTPUT)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stacks_dir = args.stacks_dir.resolve()
    try:
        prefix = stacks_dir.relative_to(ROOT).as_posix() + "/"
    except ValueError:
        prefix = "stacks/"
    try:
        stacks = load_stacks(stacks_dir)
        out = result(select(args, stacks, prefix), stacks)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as fh:
            for key in ("stacks", "matrix", "wave0", "wave1"):
                fh.write(f"{key}={json.dumps(out[key], separators=(',', ':'))}\n")
            fh.write(f"count={len(out['stacks'])}\n")
            for i in range(MAX_WAVES):
                fh.write(f"wave{i}_count={len(out[f'wave{i}']['include'])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
