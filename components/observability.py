"""`Observability`: metrics, alerts and dashboards for the stack's endpoints (issue 15).

Modes:
- `bundled`: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana) and
  NVIDIA dcgm-exporter as pinned Helm releases, then the monitors, the rule and the dashboards
  as typed resources that depend on the chart (its CRDs must exist first);
- `existing`: only the monitors, the rule and the dashboards, labelled with `selector_labels`
  so the cluster's own Prometheus Operator selects them;
- `none`: nothing (outputs say so).

Everything it renders comes from `components.observability_manifests` (pure, tested without
Pulumi); this class only creates resources and reports where Prometheus and Grafana are.

Wiring (for the program): after the endpoints (and routers) exist,

    obs = Observability("observability", ObservabilityArgs.from_config(
        stack.observability,                     # ObservabilityConfig
        endpoints=[...EndpointSpec, or om.EngineTarget for HyperPod workers...],
        routers=[...RouterSpec...], ttft_slos_ms={name: slos.ttft_p95_ms},
        provider=k8s_provider, depends_on=[endpoint components, GPU node pools],
        mode=None or a per-platform default (observability_config.default_mode)))
    pulumi.export("observability", obs.outputs)

`obs.outputs` = {mode, prometheus: {url, namespace, service, port, port_forward} | None,
grafana: same | None, dashboards: {uid: title}, scrape_interval_seconds, **extra_outputs}
(HyperPod adds `amp`: the Amazon Managed Prometheus workspace it remote-writes to).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import observability_manifests as om
from components.batch_manifests import BatchJobSpec
from components.batch_monitoring import BATCH_DASHBOARD_UID, batch_dashboard, batch_objects
from components.component import type_token
from components.k8s_objects import create_object
from components.observability_config import ObservabilityConfig
from components.router_manifests import RouterSpec

TYPE_TOKEN = type_token(__name__, "Observability")
Mode = Literal["bundled", "existing", "none"]


@dataclass(frozen=True)
class ServiceRef:
    """Where a Service is: in-cluster URL and the `kubectl port-forward` target."""

    namespace: str
    service: str
    port: int

    @property
    def local_port(self) -> int:
        # Binding a local port below 1024 needs root; Grafana's Service listens on 80.
        return self.port if self.port >= 1024 else 3000

    def output(self) -> dict[str, Any]:
        return {
            "url": f"http://{self.service}.{self.namespace}.svc.cluster.local:{self.port}",
            "namespace": self.namespace,
            "service": self.service,
            "port": self.port,
            "port_forward": f"kubectl -n {self.namespace} port-forward svc/{self.service} "
                            f"{self.local_port}:{self.port}",
        }


@dataclass
class ObservabilityArgs:
    """Flat args. `ttft_slos_ms` maps endpoint name -> `slos.ttft_p95_ms` (absent: no alert)."""

    mode: Mode
    endpoints: Sequence[om.EndpointLike]  # EndpointSpec, or om.EngineTarget (HyperPod)
    routers: Sequence[RouterSpec] = ()
    ttft_slos_ms: Mapping[str, float | None] = field(default_factory=dict)
    provider: k8s.Provider | None = None
    namespace: str = "monitoring"
    scrape_interval_seconds: int = 30
    selector_labels: dict[str, str] = field(default_factory=dict)
    dashboard_label: dict[str, str] = field(
        default_factory=lambda: dict(om.DEFAULT_DASHBOARD_LABEL))
    grafana: bool = True
    dcgm: bool = True
    dcgm_runtime_class: str | None = None  # "nvidia" on K3s
    gpu_node_selector: dict[str, str] = field(
        default_factory=lambda: {om.GPU_PRESENT_LABEL: "true"})
    remote_write: om.RemoteWrite | None = None
    # Written beside `remote_write`: a platform's own target (HyperPod: its AMP workspace, the
    # url an Output), with the IRSA role annotation of the Prometheus service account.
    platform_remote_write: om.RemoteWrite | None = None
    prometheus_service_account_annotations: dict[str, Any] = field(default_factory=dict)
    dcgm_affinity: dict[str, Any] = field(default_factory=dict)  # nodes without the GPU label
    dcgm_tolerations: list[dict[str, Any]] = field(default_factory=list)  # platform taints
    extra_outputs: dict[str, Any] = field(default_factory=dict)  # e.g. {"amp": {...}}
    existing_prometheus: ServiceRef | None = None  # existing mode: reported in the outputs
    existing_grafana: ServiceRef | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    batch_jobs: Sequence[BatchJobSpec] = ()  # each gets a PodMonitor and a stalled alert

    @classmethod
    def from_config(
        cls,
        config: ObservabilityConfig,
        endpoints: Sequence[om.EndpointLike],
        routers: Sequence[RouterSpec] = (),
        ttft_slos_ms: Mapping[str, float | None] | None = None,
        provider: k8s.Provider | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        mode: Mode | None = None,
        batch_jobs: Sequence[BatchJobSpec] = (),
    ) -> ObservabilityArgs:
        """Args from the stack's `observability:` config (`mode` overrides the config's, for
        a per-platform default)."""

        def ref(service: Any) -> ServiceRef | None:
            return None if service is None else ServiceRef(service.namespace, service.service,
                                                           service.port)

        return cls(
            mode=mode or config.mode, endpoints=list(endpoints), routers=list(routers),
            ttft_slos_ms=dict(ttft_slos_ms or {}), provider=provider,
            namespace=config.namespace, scrape_interval_seconds=config.scrape_interval_seconds,
            selector_labels=dict(config.selector_labels),
            dashboard_label=dict(config.dashboard_label), grafana=config.grafana.enabled,
            dcgm=config.dcgm.enabled, dcgm_runtime_class=config.dcgm.runtime_class,
            gpu_node_selector=dict(config.dcgm.node_selector),
            remote_write=config.remote_write_target(),
            existing_prometheus=ref(config.prometheus),
            existing_grafana=ref(config.grafana_service), depends_on=list(depends_on),
            batch_jobs=list(batch_jobs))

    def settings(self) -> om.ObservabilitySettings:
        return om.ObservabilitySettings(
            namespace=self.namespace, scrape_interval_seconds=self.scrape_interval_seconds,
            selector_labels=dict(self.selector_labels),
            dashboard_label=dict(self.dashboard_label), gpu=self.dcgm)


class Observability(pulumi.ComponentResource):
    """The monitoring stack (bundled) or just its custom resources (existing)."""

    kube_prometheus_stack: k8s.helm.v3.Release | None
    dcgm_exporter: k8s.helm.v3.Release | None
    custom_resources: list[pulumi.Resource]
    outputs: dict[str, Any]

    def __init__(self, name: str, args: ObservabilityArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        settings = args.settings()
        self.kube_prometheus_stack = None
        self.dcgm_exporter = None
        self.custom_resources = []
        base = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                      depends_on=list(args.depends_on))
        prometheus = args.existing_prometheus
        grafana = args.existing_grafana
        chart_deps: list[pulumi.Resource] = []
        if args.mode == "bundled":
            self.kube_prometheus_stack = k8s.helm.v3.Release(
                f"{name}-kube-prometheus-stack",
                name=om.KUBE_PROMETHEUS_STACK_RELEASE,
                chart=om.KUBE_PROMETHEUS_STACK_CHART,
                version=om.KUBE_PROMETHEUS_STACK_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(
                    repo=om.KUBE_PROMETHEUS_STACK_REPO),
                namespace=args.namespace,
                create_namespace=True,
                values=om.kube_prometheus_stack_values(
                    settings, grafana=args.grafana,
                    remote_write=[rw for rw in (args.remote_write, args.platform_remote_write)
                                  if rw is not None],
                    prometheus_service_account_annotations=(
                        args.prometheus_service_account_annotations)),
                opts=base,
            )
            chart_deps = [self.kube_prometheus_stack]
            prometheus = ServiceRef(args.namespace, om.PROMETHEUS_SERVICE, om.PROMETHEUS_PORT)
            grafana = (ServiceRef(args.namespace, om.GRAFANA_SERVICE, om.GRAFANA_PORT)
                       if args.grafana else None)
            if args.dcgm:
                self.dcgm_exporter = k8s.helm.v3.Release(
                    f"{name}-dcgm-exporter",
                    name=om.DCGM_EXPORTER_RELEASE,
                    chart=om.DCGM_EXPORTER_CHART,
                    version=om.DCGM_EXPORTER_VERSION,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=om.DCGM_EXPORTER_REPO),
                    namespace=args.namespace,
                    values=om.dcgm_exporter_values(
                        settings, runtime_class=args.dcgm_runtime_class,
                        node_selector=args.gpu_node_selector, affinity=args.dcgm_affinity,
                        extra_tolerations=args.dcgm_tolerations),
                    # A DaemonSet on GPU nodes that may scale to zero: do not wait for pods.
                    skip_await=True,
                    # Its ServiceMonitor needs the chart's CRDs.
                    opts=pulumi.ResourceOptions.merge(
                        base, pulumi.ResourceOptions(depends_on=chart_deps)),
                )
        dashboards: dict[str, str] = {}
        if args.mode != "none":
            cr_opts = pulumi.ResourceOptions.merge(
                base, pulumi.ResourceOptions(depends_on=chart_deps))
            objects = om.observability_objects(args.endpoints, args.routers, settings,
                                               args.ttft_slos_ms)
            for obj in [*objects, *batch_objects(args.batch_jobs, settings)]:
                self.custom_resources.append(self._create(name, obj, cr_opts))
            for engine in om.engines_in_use(args.endpoints):
                dashboards[om.dashboard_uid(engine)] = om.dashboard(engine)["title"]
            if args.batch_jobs:
                dashboards[BATCH_DASHBOARD_UID] = batch_dashboard()["title"]
        self.outputs = {
            "mode": args.mode,
            "prometheus": prometheus.output() if prometheus else None,
            "grafana": grafana.output() if grafana and args.mode != "none" else None,
            "dashboards": dashboards,
            "scrape_interval_seconds": args.scrape_interval_seconds,
            **args.extra_outputs,
        }
        self.register_outputs(self.outputs)

    @staticmethod
    def _create(name: str, obj: dict[str, Any],
                opts: pulumi.ResourceOptions) -> pulumi.Resource:
        meta = obj["metadata"]
        resource_name = f"{name}-{obj['kind'].lower()}-{meta['namespace']}-{meta['name']}"
        return create_object(resource_name, obj, opts)
