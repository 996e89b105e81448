"""Raw stack config -> a validated `StackConfig`, or a `ConfigError` with every problem.

The one place validation happens: parse each key with its model, then the shared cross-field
rules and the platform's own checks. Nothing is created before this passes, so a bad stack
fails at preview with every problem listed and leaves nothing half-created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from pydantic import ValidationError

from infra.config.base import NAMESPACE, ConfigError, Problem, problems_from_validation
from infra.config.stack import (
    STACK_MODELS,
    TOP_LEVEL_KEYS,
    StackConfig,
    section_of,
    settings_model,
)
from infra.validate.autoscaling import check_autoscaling
from infra.validate.batch import check_batch_jobs
from infra.validate.exposure import check_exposure, exposure_warnings
from infra.validate.images import check_images
from infra.validate.observability import check_observability
from infra.validate.registry import PLATFORMS
from infra.validate.rules import check_stack, stack_warnings


def _decode(value: Any) -> Any:
    """Pulumi passes structured config as JSON text; plain strings stay strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate raw config (keys without the `inference-stacks:` prefix) or raise ConfigError."""
    values = {k: _decode(v) for k, v in raw.items()}
    platform = values.get("platform")
    model = STACK_MODELS.get(platform) if isinstance(platform, str) else None
    if model is None or not isinstance(platform, str):
        allowed = ", ".join(sorted(STACK_MODELS))
        got = "missing" if platform is None else f"got {platform!r}"
        raise ConfigError([Problem(f"{NAMESPACE}:platform", f"{got}; allowed: {allowed}")])

    section = section_of(platform)
    problems = _unknown_or_foreign_sections(values, section)
    settings = None
    try:
        settings = settings_model(platform).model_validate(values.get(section) or {})
    except ValidationError as exc:
        prefix = (f"{NAMESPACE}:{section}",)
        problems += problems_from_validation(exc, settings_model(platform), prefix)

    body = {k: values[k] for k in TOP_LEVEL_KEYS if k in values}
    try:
        # One member of the StackConfig union, chosen by `platform` above.
        config = cast("StackConfig", model.model_validate({**body, "platform_settings": settings}))
    except ValidationError as exc:
        problems += _prefixed(_without_settings(problems_from_validation(exc, model)))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    problems = check_stack(config, PLATFORMS[platform])
    problems += check_batch_jobs(config, PLATFORMS[platform])
    problems += check_autoscaling(config)
    problems += check_exposure(config)
    problems += check_images(config)
    problems += check_observability(config)
    if problems:
        raise ConfigError(problems)
    return config


def _without_settings(problems: list[Problem]) -> list[Problem]:
    """The section was validated on its own above; its failure shows as a missing field here."""
    return [p for p in problems if not p.path.startswith("platform_settings")]


def _prefixed(problems: list[Problem]) -> list[Problem]:
    return [Problem(f"{NAMESPACE}:{p.path}", p.message) for p in problems]


def _unknown_or_foreign_sections(values: Mapping[str, Any], section: str) -> list[Problem]:
    sections = {section_of(name): name for name in STACK_MODELS}
    allowed = sorted({*TOP_LEVEL_KEYS, section})
    problems = []
    for key in values:
        if key in TOP_LEVEL_KEYS or key == section:
            continue
        if key in sections:
            message = f"is for platform {sections[key]!r}, but platform is not {sections[key]!r}"
        else:
            message = f"unknown key; allowed keys: {', '.join(allowed)}"
        problems.append(Problem(f"{NAMESPACE}:{key}", message))
    return problems


def config_warnings(config: StackConfig) -> list[str]:
    """Everything allowed that a user should hear about: printed by the plan, logged by Pulumi."""
    return stack_warnings(config) + exposure_warnings(config)
