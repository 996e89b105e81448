"""The stack outputs contract (version 1): one typed model for the producer and the readers.

The program builds each endpoint's entry with these models (`infra/resolve/outputs.py`) and
exports them; `smoke/outputs.py` parses `pulumi stack output --json` with the same models, so
smoke checks and benchmarks never re-derive a URL, a served model name or a scheme (R5, R17).
`docs/outputs.schema.json` is generated from `StackOutputs` (a test keeps it current).

Readers ignore keys they do not know, so later versions can add keys without breaking them.
Imports nothing from this project: every layer may use it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class OutputsError(Exception):
    """The outputs could not be read or do not follow the contract (a usage error, exit 2)."""


class _Open(BaseModel):
    # Outputs may grow new keys in later contract versions; readers ignore what they do not use.
    model_config = ConfigDict(extra="ignore", frozen=True)


class GpuOutput(_Open):
    type: str | None = Field(default=None, description="GPU model (A10G, L4, T4); null for CPU.")
    count: int = Field(default=0, description="GPUs per replica.")
    instance_type: str | None = Field(default=None, description="Pinned node instance type.")
    pinning_label: str | None = Field(
        default=None, description="Node label whose value is `instance_type` on the nodes the "
        "engines are pinned to (node.kubernetes.io/instance-type; K3s: "
        "inference-stacks/machine-type); null = not pinned. Readers of older outputs assume "
        "node.kubernetes.io/instance-type.")


class SloOutput(_Open):
    ttft_p95_ms: float | None = Field(default=None, description="P95 time to first token, ms.")
    tpot_p95_ms: float | None = Field(default=None, description="P95 time per output token, ms.")
    itl_p95_ms: float | None = Field(default=None, description="P95 inter-token latency, ms.")
    e2e_p95_ms: float | None = Field(default=None, description="P95 end-to-end latency, ms.")
    success_rate_min: float | None = Field(default=None, description="Minimum success rate, 0..1.")


class LoadBalancerOutput(_Open):
    provider: Literal["aws"] = Field(description="Cloud that owns the load balancer.")
    type: Literal["alb", "nlb"] = Field(description="Load balancer kind.")
    scheme: Literal["internal", "internet-facing"] = Field(description="Requested scheme.")
    region: str | None = Field(default=None, description="AWS region of the load balancer.")
    hostname: str | None = Field(default=None, description="DNS name, once provisioned.")


class RouterOutput(_Open):
    kind: Literal["vllm-router", "smg"] = Field(
        "vllm-router", description="Which router (additive in v1; absent means vllm-router).")
    policy: str = Field(description="Router policy (power_of_two, round_robin, ...).")
    image: str = Field(description="Router image, pinned.")
    replicas: int = Field(description="Router replicas.")
    metrics_port: int = Field(
        description="Port of the router's own metrics (vllm_router_* or smg_*).")
    workers_path: str = Field(
        "/readiness", description="Path on the router's port (no key) answering "
        '{"healthy_workers": n, "total_workers": m}: the engines the router sees.')
    worker_health_metric: str = Field(
        "vllm_router_worker_health", description="Gauge on `metrics_port`, one series per "
        "engine URL (label `worker`), 1 when healthy.")
    load_monitor_interval_seconds: int | None = Field(
        default=None, description="smg: seconds between reads of each engine's /metrics.")
    queue_veto: int | None = Field(
        default=None, description="smg: waiting requests at which an engine is skipped.")
    engine_queue: int | None = Field(
        default=None, description="smg: waiting requests each engine holds before it refuses "
        "more with HTTP 503, which smg retries on another replica; null = unbounded.")
    discovery: Literal["kubernetes"] = Field(description="How the router finds its engines.")
    engine_service: str = Field(description="Service of the engines behind the router.")
    engine_selector: dict[str, str] = Field(description="Pod labels of those engines.")


class AutoscalingOutput(_Open):
    min: int = Field(description="Fewest replicas while active (0 with scale to zero).")
    max: int = Field(description="Most replicas.")
    target: float = Field(description="Requests waiting per replica that adds a replica.")
    metric: str = Field(description="The PromQL the autoscaler evaluates (one sample).")


class EndpointOutput(_Open):
    name: str = Field("", exclude=True,
                      description="The endpoint's key in `endpoints` (filled by the reader).")
    engine: Literal["vllm", "sglang"] = Field(description="Serving engine.")
    model: str = Field(description="Model id the engine loads.")
    served_model_name: str = Field(description="The `model` clients must send (R5).")
    base_url: str = Field(description="OpenAI base URL without /v1.")
    exposure: Literal["cluster", "internal", "public"] = Field(
        description="cluster: in-cluster only; internal: VPC load balancer; public: internet.")
    namespace: str | None = Field(default=None, description="Namespace of `service`.")
    service: str | None = Field(default=None, description="Service clients (or port-forward) use.")
    port: int = Field(description="Port of `service`.")
    api_key: str | None = Field(default=None, description="Bearer key (secret) or null when open.")
    health_path: str = Field("/health", description="Readiness path of what `service` fronts.")
    metrics_path: str = Field("/metrics", description="Prometheus metrics path of the engine.")
    gpu: GpuOutput = Field(default_factory=GpuOutput, description="GPUs per replica.")
    replicas: int = Field(1, description="Engine replicas.")
    slos: SloOutput = Field(default_factory=SloOutput, description="Benchmark SLOs.")
    selector: dict[str, str] = Field(
        default_factory=dict, description="Pod labels of the serving pods (for port-forward)."
    )
    engine_selector: dict[str, str] = Field(
        default_factory=dict, description="Pod labels of the engine pods (behind the router "
        "when there is one; else the same as `selector`): where GPU pinning is checked.")
    load_balancer: LoadBalancerOutput | None = Field(
        default=None, description="The AWS load balancer in front, if any (R17, R22).")
    router: RouterOutput | None = Field(
        default=None, description="The managed router in front of the engines, if any.")
    autoscaling: AutoscalingOutput | None = Field(
        default=None, description="Replica bounds and target when the endpoint autoscales.")


class BatchJobOutput(_Open):
    """One `batch_jobs` entry: where `python -m smoke batch` finds the job and its files."""

    job: str = Field(description="Kubernetes Job name.")
    namespace: str = Field(description="Namespace of the Job.")
    input: str = Field(description="Input location (pvc://, s3://, http(s)://).")
    output: str = Field(description="Output location (pvc://CLAIM/PATH).")
    status: str = Field(description="Status files (pvc://CLAIM/PATH/shard-*/status.json).")


class ServiceOutput(_Open):
    url: str = Field(description="In-cluster URL.")
    namespace: str = Field(description="Namespace of the Service.")
    service: str = Field(description="Service name.")
    port: int = Field(description="Service port.")
    port_forward: str = Field(description="The kubectl port-forward command to reach it.")


class AmpOutput(_Open):
    """The Amazon Managed Prometheus workspace a HyperPod stack created for autoscaling."""

    workspace_id: str = Field(description="Workspace id (ws-...).")
    arn: str = Field(description="Workspace ARN.")
    region: str = Field(description="Region of the workspace.")
    query_url: str = Field(description="Workspace URL the autoscaler queries (its "
                                       "autoScalingSpec serverAddress).")
    remote_write_url: str = Field(description="Where the bundled Prometheus remote-writes.")


class ObservabilityOutput(_Open):
    mode: Literal["bundled", "existing", "none"] = Field(description="How the stack monitors.")
    prometheus: ServiceOutput | None = Field(default=None, description="The stack's Prometheus.")
    grafana: ServiceOutput | None = Field(default=None, description="Grafana, in-cluster only.")
    dashboards: dict[str, str] = Field(default_factory=dict,
                                       description="Grafana dashboard UIDs -> titles.")
    scrape_interval_seconds: int | None = Field(default=None,
                                                description="Scrape and evaluation interval.")
    amp: AmpOutput | None = Field(default=None, description="HyperPod: the Amazon Managed "
                                  "Prometheus workspace the stack created (additive in v1).")


class StackOutputs(_Open):
    """Every stack's outputs; platforms add their own keys beside these (cluster names, ...)."""

    schema_version: int = Field(description=f"Contract version; this is {SCHEMA_VERSION}.")
    platform: str = Field(description="The stack's platform.")
    endpoints: dict[str, EndpointOutput] = Field(description="Endpoints by name.")
    kubeconfig: str | None = Field(default=None, description="Cluster kubeconfig (secret) if any.")
    batch_jobs: dict[str, BatchJobOutput] = Field(
        default_factory=dict, description="Batch jobs by name (additive in v1).")
    observability: ObservabilityOutput | None = Field(
        default=None, description="Where monitoring is (additive in v1).")

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        endpoints = data.get("endpoints") if isinstance(data, dict) else None
        if isinstance(endpoints, dict):
            named = {k: {**v, "name": k} if isinstance(v, dict) else v
                     for k, v in endpoints.items()}
            data = {**data, "endpoints": named}
        return data

    def select(self, names: list[str] | None) -> list[EndpointOutput]:
        """The endpoints named (all when `names` is empty), or OutputsError for unknown names."""
        if not names:
            return list(self.endpoints.values())
        unknown = [n for n in names if n not in self.endpoints]
        if unknown:
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise OutputsError(f"endpoint {', '.join(unknown)!s} not in outputs (known: {known})")
        return [self.endpoints[n] for n in names]


def json_schema() -> dict[str, Any]:
    """The contract as JSON Schema (what `docs/outputs.schema.json` holds)."""
    schema = StackOutputs.model_json_schema(mode="serialization")
    schema["$id"] = "https://inference-stacks.invalid/outputs.schema.json"
    schema["title"] = f"inference-stacks stack outputs, contract v{SCHEMA_VERSION}"
    return schema
