"""The whole stack config: `inference-stacks:*` keys of `stacks/Pulumi.<stack>.yaml`.

`load_stack_config` validates everything before a single resource exists, so a bad stack fails
at preview with every problem listed and leaves nothing half-created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from infra.config.base import (
    NAMESPACE,
    ConfigError,
    Problem,
    StrictModel,
    problems_from_validation,
)
from infra.config.endpoint import EndpointConfig, Slos


class StackConfig(StrictModel):
    """Validated stack config. `platform_settings` is the chosen platform's section."""

    platform: str = Field(description="Platform: a key of the platform registry.")
    endpoints: list[EndpointConfig] = Field(
        default_factory=list, description="Endpoints to deploy on the platform."
    )
    slos: Slos = Field(default_factory=Slos, description="Default benchmark SLOs per endpoint.")
    hf_token: str | None = Field(
        None, repr=False, description="Hugging Face token (set with `pulumi config set --secret`)."
    )
    platform_settings: Any = Field(None, description="The validated platform section.")

    def slos_for(self, endpoint: EndpointConfig) -> Slos:
        return endpoint.slos or self.slos


TOP_LEVEL_KEYS = ("platform", "endpoints", "slos", "hf_token")


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
    from infra.config.rules import check_stack
    from infra.platforms import PLATFORMS

    values = {k: _decode(v) for k, v in raw.items()}
    platform = values.get("platform")
    spec = PLATFORMS.get(platform) if isinstance(platform, str) else None
    if spec is None:
        allowed = ", ".join(sorted(PLATFORMS))
        got = "missing" if platform is None else f"got {platform!r}"
        raise ConfigError([Problem(f"{NAMESPACE}:platform", f"{got}; allowed: {allowed}")])

    problems = _unknown_or_foreign_sections(values, spec.section)
    section = values.get(spec.section) or {}
    settings = None
    try:
        settings = spec.settings_model.model_validate(section)
    except ValidationError as exc:
        prefix = (f"{NAMESPACE}:{spec.section}",)
        problems += problems_from_validation(exc, spec.settings_model, prefix)

    body = {k: values[k] for k in TOP_LEVEL_KEYS if k in values}
    try:
        config = StackConfig.model_validate({**body, "platform_settings": settings})
    except ValidationError as exc:
        problems += _prefixed(problems_from_validation(exc, StackConfig))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    problems = check_stack(config, spec)
    if problems:
        raise ConfigError(problems)
    return config


def _prefixed(problems: list[Problem]) -> list[Problem]:
    return [Problem(f"{NAMESPACE}:{p.path}", p.message) for p in problems]


def _unknown_or_foreign_sections(values: Mapping[str, Any], section: str) -> list[Problem]:
    from infra.platforms import PLATFORMS

    sections = {spec.section: name for name, spec in PLATFORMS.items()}
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


def raw_config_from_pulumi() -> dict[str, Any]:
    """All `inference-stacks:*` config of the running program (under Pulumi or mocks)."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}
