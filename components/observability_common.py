"""What the observability builders share (issue 15): labels, settings, PromQL and alert helpers.

Pure, no Pulumi. `components.observability_manifests` (engines, GPUs, dashboards, chart values)
and `components.router_observability` (the routers' metric table, monitor, alerts and panels)
both build on it, so neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.spec import PART_OF

MONITORING_GROUP = "monitoring.coreos.com/v1"
ENDPOINT_LABEL = "inference_endpoint"
COMPONENT_LABEL = "inference_component"
DEFAULT_DASHBOARD_LABEL: dict[str, str] = {"grafana_dashboard": "1"}
# Grafana's own interval for rate() in dashboards (substituted when queries run elsewhere).
RATE = "$__rate_interval"
DASHBOARD_SEL = f'{ENDPOINT_LABEL}=~"$endpoint", pod=~"$pod"'


@dataclass(frozen=True)
class ObservabilitySettings:
    """What the builders need besides the endpoints (all defaults are the bundled mode's)."""

    namespace: str = "monitoring"  # PrometheusRule and dashboard ConfigMaps
    scrape_interval_seconds: int = 30
    selector_labels: dict[str, str] = field(default_factory=dict)  # the user's Prometheus's
    dashboard_label: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DASHBOARD_LABEL))
    stale_window: str = "10m"  # metrics absent this long -> alert
    kv_cache_threshold: float = 0.9
    kv_cache_for: str = "10m"
    gpu: bool = True  # DCGM panels and the XID alert
    # A router that sees fewer healthy engines than it has registered for this long -> alert.
    router_workers_for: str = "5m"

    def __post_init__(self) -> None:
        if not 15 <= self.scrape_interval_seconds <= 30:
            raise ValueError("scrape_interval_seconds must be 15..30")

    @property
    def interval(self) -> str:
        return f"{self.scrape_interval_seconds}s"

    @property
    def scrape_timeout(self) -> str:
        return f"{min(10, self.scrape_interval_seconds)}s"


def object_labels(settings: ObservabilitySettings, **extra: str) -> dict[str, str]:
    """Labels of every object we render: ours, then the user's Prometheus selector labels."""
    return {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
            **extra, **settings.selector_labels}


def relabelings(endpoint: str, component: str) -> list[dict[str, Any]]:
    """Every scraped series gets the endpoint's name and `engine` or `router`."""
    return [
        {"action": "replace", "targetLabel": ENDPOINT_LABEL, "replacement": endpoint},
        {"action": "replace", "targetLabel": COMPONENT_LABEL, "replacement": component},
    ]


def sel(*parts: str) -> str:
    """A label matcher block from non-empty parts: `{a="1", b=~"x"}`."""
    return "{" + ", ".join(p for p in parts if p) + "}"


def latency_quantile(q: float, histogram: str, selector: str, window: str,
                     by: str = "") -> str:
    """The q-quantile of a histogram (base name) over `window`, optionally kept `by` labels."""
    keep = f"{by}, le" if by else "le"
    return (f"histogram_quantile({q}, sum by ({keep}) "
            f"(rate({histogram}_bucket{sel(selector)}[{window}])))")


def counter_rate(name: str, selector: str, window: str, by: str = "namespace, pod",
                 matchers: str = "") -> str:
    return f"sum by ({by}) (rate({name}{sel(selector, matchers)}[{window}]))"


def alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
          **labels: str) -> dict[str, Any]:
    """One Prometheus alerting rule (`for` left out when it is 0m)."""
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **labels}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


@dataclass(frozen=True)
class PanelDef:
    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]  # (expr, legend)
    description: str = ""
