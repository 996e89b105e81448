"""`observability:` stack config (issue 15), for the lead to move beside the other config models.

Plain pydantic with `extra="forbid"` and a description on every field, like the program's
StrictModel; it does not import `infra` (components never do). `ObservabilityConfig.settings()`
and `.remote_write_target()` turn it into the builders' inputs.

Defaults: `mode` has no platform-independent default here; the lead picks one per platform with
`default_mode(creates_cluster, has_prometheus_operator)`: bundled where the program creates the
cluster (EKS, K3s on GCP, HyperPod), existing where the cluster already runs the Prometheus
Operator (the `kubernetes` platform usually), none otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.observability_manifests import (
    DEFAULT_DASHBOARD_LABEL,
    GPU_PRESENT_LABEL,
    ObservabilitySettings,
    RemoteWrite,
)

Mode = Literal["bundled", "existing", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteWriteConfig(_Strict):
    url: str = Field(description="Prometheus remote-write URL, e.g. the Amazon Managed "
                                 "Prometheus workspace's .../api/v1/remote_write.")
    sigv4_region: str | None = Field(
        default=None, description="Sign requests with AWS SigV4 for this region (Amazon "
                                  "Managed Prometheus); null sends them unsigned.")
    role_arn: str | None = Field(
        default=None, description="IAM role SigV4 assumes; null uses the Prometheus pod's own "
                                  "credentials (IRSA / Pod Identity).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class ServiceRefConfig(_Strict):
    namespace: str = Field(description="Namespace of the Service.")
    service: str = Field(description="Service name.")
    port: int = Field(ge=1, le=65535, description="Service port.")


class GrafanaConfig(_Strict):
    enabled: bool = Field(default=True, description="Install Grafana (bundled mode, ClusterIP "
                                                    "only) and ship the dashboards.")


class DcgmConfig(_Strict):
    enabled: bool = Field(default=True, description="Install NVIDIA dcgm-exporter on GPU nodes "
                                                    "(bundled mode) and add GPU panels and the "
                                                    "XID alert.")
    runtime_class: str | None = Field(
        default=None, description="runtimeClassName for the exporter pods; 'nvidia' on K3s.")
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {GPU_PRESENT_LABEL: "true"},
        description="Nodes the exporter runs on (the GPU nodes' label; the program's EKS and "
                    "K3s GPU nodes carry nvidia.com/gpu.present=true).")


class ObservabilityConfig(_Strict):
    mode: Mode = Field(
        default="bundled",
        description="bundled: install kube-prometheus-stack (+ dcgm-exporter) and the monitors, "
                    "rules and dashboards; existing: only monitors, rules and dashboards for the "
                    "cluster's own Prometheus Operator; none: nothing.")
    namespace: str = Field(default="monitoring",
                           description="Namespace of the charts, the rules and the dashboards.")
    scrape_interval_seconds: int = Field(default=30, ge=15, le=30,
                                         description="Scrape and rule evaluation interval.")
    remote_write: RemoteWriteConfig | None = Field(
        default=None, description="Also ship samples to this remote-write target (bundled).")
    selector_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels put on monitors and rules so the user's Prometheus selects them "
                    "(existing mode; e.g. {release: kube-prometheus-stack}).")
    dashboard_label: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DASHBOARD_LABEL),
        description="Label of the dashboard ConfigMaps that Grafana's sidecar watches.")
    grafana: GrafanaConfig = Field(default_factory=GrafanaConfig,
                                   description="Grafana settings.")
    dcgm: DcgmConfig = Field(default_factory=DcgmConfig, description="GPU metrics settings.")
    prometheus: ServiceRefConfig | None = Field(
        default=None, description="existing mode: the cluster's Prometheus Service, reported in "
                                  "the outputs for port-forward and the metrics-live check.")
    grafana_service: ServiceRefConfig | None = Field(
        default=None, description="existing mode: the cluster's Grafana Service (outputs only).")

    @field_validator("dashboard_label")
    @classmethod
    def _one_label(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) != 1:
            raise ValueError("exactly one label (Grafana's sidecar matches one key/value)")
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> ObservabilityConfig:
        if self.mode != "existing" and (self.prometheus or self.grafana_service):
            raise ValueError("prometheus/grafana_service describe an existing stack: only with "
                             "mode existing")
        if self.mode == "existing" and self.remote_write is not None:
            raise ValueError("remote_write configures the bundled Prometheus: set it on your "
                             "own Prometheus in mode existing")
        return self

    def settings(self) -> ObservabilitySettings:
        return ObservabilitySettings(
            namespace=self.namespace,
            scrape_interval_seconds=self.scrape_interval_seconds,
            selector_labels=dict(self.selector_labels),
            dashboard_label=dict(self.dashboard_label),
            gpu=self.dcgm.enabled,
        )

    def remote_write_target(self) -> RemoteWrite | None:
        rw = self.remote_write
        return None if rw is None else RemoteWrite(rw.url, rw.sigv4_region, rw.role_arn)


def default_mode(creates_cluster: bool, has_prometheus_operator: bool) -> Mode:
    """Bundled on clusters the program creates, existing where an operator already runs."""
    if has_prometheus_operator:
        return "existing"
    return "bundled" if creates_cluster else "none"
