"""The Pulumi program: validate the whole stack config, then compose and export outputs."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.compose import compose
from infra.config.base import ConfigError
from infra.config.stack import load_stack_config, raw_config_from_pulumi


def build_stack() -> dict[str, Any]:
    """Validate config (every problem, before any resource) and compose the stack."""
    config = load_stack_config(raw_config_from_pulumi())
    return compose(config)


def main() -> None:
    """Entry point under `pulumi up/preview`: config mistakes end the run without a traceback."""
    try:
        outputs = build_stack()
    except ConfigError as exc:
        header = f"stack config has {len(exc.problems)} problem(s):"
        raise pulumi.RunError("\n".join([header, *(f"  {p}" for p in exc.problems)])) from None
    for key, value in outputs.items():
        pulumi.export(key, value)
