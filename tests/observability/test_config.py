"""`ObservabilityConfig`: strict, documented, bounded, and mapped onto the builders' settings."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from components.observability_config import ObservabilityConfig, default_mode


def test_defaults() -> None:
    config = ObservabilityConfig()
    assert (config.mode, config.scrape_interval_seconds) == ("bundled", 30)
    assert config.dashboard_label == {"grafana_dashboard": "1"}
    assert config.grafana.enabled and config.dcgm.enabled
    settings = config.settings()
    assert settings.interval == "30s" and settings.gpu
    assert config.remote_write_target() is None


def test_every_field_is_described_and_unknown_fields_are_rejected() -> None:
    models: list[type[BaseModel]] = [ObservabilityConfig]
    seen = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        assert model.model_config.get("extra") == "forbid", model
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            for arg in getattr(info.annotation, "__args__", (info.annotation,)):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    models.append(arg)
    with pytest.raises(ValidationError, match="extra"):
        ObservabilityConfig.model_validate({"mode": "bundled", "scrape_intervall": 15})


@pytest.mark.parametrize("value", [10, 31, 60])
def test_scrape_interval_is_15_to_30(value: int) -> None:
    with pytest.raises(ValidationError):
        ObservabilityConfig(scrape_interval_seconds=value)


def test_remote_write_with_sigv4() -> None:
    config = ObservabilityConfig.model_validate({"remote_write": {
        "url": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        "sigv4_region": "us-east-1"}})
    target = config.remote_write_target()
    assert target is not None and target.sigv4_region == "us-east-1"
    with pytest.raises(ValidationError, match="http"):
        ObservabilityConfig.model_validate({"remote_write": {"url": "aps-workspaces/x"}})


def test_existing_mode_fields() -> None:
    config = ObservabilityConfig.model_validate({
        "mode": "existing", "selector_labels": {"release": "prom"},
        "prometheus": {"namespace": "monitoring", "service": "prometheus-operated",
                       "port": 9090}})
    assert config.settings().selector_labels == {"release": "prom"}
    with pytest.raises(ValidationError, match="only with mode existing"):
        ObservabilityConfig.model_validate({"mode": "bundled", "prometheus": {
            "namespace": "m", "service": "p", "port": 9090}})
    with pytest.raises(ValidationError, match="remote_write"):
        ObservabilityConfig.model_validate({"mode": "existing", "remote_write": {
            "url": "https://x/api/v1/remote_write"}})


def test_dashboard_label_is_one_label() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ObservabilityConfig(dashboard_label={"a": "1", "b": "2"})


def test_default_mode_per_platform_kind() -> None:
    assert default_mode(creates_cluster=True, has_prometheus_operator=False) == "bundled"
    assert default_mode(creates_cluster=False, has_prometheus_operator=True) == "existing"
    assert default_mode(creates_cluster=False, has_prometheus_operator=False) == "none"
