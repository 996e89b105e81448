"""`python -m infra plan`: the offline plan of a stack, no cloud and no Pulumi CLI needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.config.base import ConfigError
from infra.plan.mocks import close_event_loops
from infra.plan.offline import ROOT, plan_stack, read_stack_file, stack_file, summary, write_plan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="render what a stack would create, offline")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    source.add_argument("--config-file", type=Path, help="any Pulumi stack config file")
    plan.add_argument("--out", type=Path, help="output directory (default out/plan/<stack>)")
    plan.add_argument("--quiet", action="store_true", help="print only problems")
    plan.add_argument("--secret", action="append", default=[], metavar="KEY",
                      help="plan as if `pulumi config set --secret KEY ...` had been run "
                           "(e.g. hf_token for gated models); repeatable")
    return parser


def _stack_name(path: Path) -> str:
    name = path.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return name.split(".", 1)[1].rsplit(".", 1)[0]
    return path.stem


def run_plan(args: argparse.Namespace) -> int:
    if args.stack is not None:
        path, stack = stack_file(args.stack), args.stack
        if not path.is_file():
            known = sorted(_stack_name(p) for p in path.parent.glob("Pulumi.*.yaml"))
            print(f"error: --stack {args.stack}: no {path.relative_to(ROOT)}; known stacks: "
                  f"{', '.join(known) or 'none'}", file=sys.stderr)
            return 2
    else:
        path, stack = args.config_file, _stack_name(args.config_file)
    try:
        config, secret_keys = read_stack_file(path, tuple(args.secret))
        plan = plan_stack(config, secret_keys, stack)
    except ConfigError as exc:
        print(f"error: {path}: {len(exc.problems)} problem(s) in the stack config:",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    out_dir = args.out or ROOT / "out" / "plan" / stack
    write_plan(plan, out_dir)
    if not args.quiet:
        print(summary(plan, out_dir))
    if plan.violations:
        print(f"error: {path}: {len(plan.violations)} deploy-order violation(s) "
              "(docs/deploy-order.md):", file=sys.stderr)
        for violation in plan.violations:
            print(f"  {violation}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "plan":
        raise AssertionError(args.command)
    try:
        return run_plan(args)
    finally:
        close_event_loops()


