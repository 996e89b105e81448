"""Flat, typed description of one endpoint as the builders and components consume it.

`infra/compose.py` resolves a stack config entry (defaults, catalog, platform placement) into an
`EndpointSpec`; everything downstream is a pure function of it, so builders are testable
without Pulumi and without the config model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from components.autoscaling import Scaling
from components.engines import Engine, EngineProfile

PART_OF = "inference-stacks"


@dataclass(frozen=True)
class ModelSourceSpec:
    """Where weights come from and how the pod gets them (R18, R19)."""

    kind: Literal["huggingface", "s3", "fsx"]
    hf_token_secret: str | None = None
    revision: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str | None = None
    s3_endpoint_url: str | None = None
    s3_credentials_secret: str | None = None
    s3_stream: bool = False
    fsx_file_system_id: str | None = None
    fsx_mount_name: str | None = None
    fsx_path: str = "/"

    @property
    def s3_uri(self) -> str:
        prefix = self.s3_prefix.strip("/")
        return f"s3://{self.s3_bucket}/{prefix}" if prefix else f"s3://{self.s3_bucket}"


@dataclass(frozen=True)
class ProbeSpec:
    """Probe budget and timeouts (R1, R2)."""

    startup_budget_seconds: int = 1800
    readiness_timeout_seconds: int = 5
    liveness_timeout_seconds: int = 10
    liveness_period_seconds: int = 30
    liveness_failure_threshold: int = 3


@dataclass(frozen=True)
class ExposureSpec:
    """Client access (R23, R24)."""

    type: Literal["cluster", "alb", "nlb"] = "cluster"
    scheme: Literal["internal", "internet-facing"] = "internal"
    certificate_arn: str | None = None
    inbound_cidrs: tuple[str, ...] = ()
    idle_timeout_seconds: int = 300
    group_name: str | None = None
    hostname: str | None = None

    @property
    def label(self) -> Literal["cluster", "internal", "public"]:
        if self.type == "cluster":
            return "cluster"
        return "public" if self.scheme == "internet-facing" else "internal"

    @property
    def tls(self) -> bool:
        return self.certificate_arn is not None


@dataclass(frozen=True)
class EndpointSpec:
    """Everything needed to render one engine Deployment and its companions."""

    name: str
    namespace: str
    engine: Engine
    profile: EngineProfile
    image: str
    model: str
    served_model_name: str
    engine_settings: dict[str, Any]
    source: ModelSourceSpec
    replicas: int = 1
    gpu_count: int = 1
    gpu_type: str | None = None
    instance_type: str | None = None
    flashinfer_sampler_off: bool = False
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()
    runtime_class: str | None = None
    cache_type: Literal["emptydir", "hostpath", "pvc"] = "emptydir"
    cache_size: str = "50Gi"
    cache_host_path: str = "/var/lib/model-cache"
    cache_claim: str | None = None
    shm_size: str | None = None
    cpu: str = "2"
    memory: str = "12Gi"
    probes: ProbeSpec = ProbeSpec()
    api_key_secret: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    exposure: ExposureSpec = ExposureSpec()
    scaling: Scaling | None = None  # KEDA owns the replica count when set
    # Waiting requests an engine holds before refusing with 503 (a router retries elsewhere).
    engine_queue: int | None = None
    service_account: str | None = None  # an IRSA-annotated account (EKS S3 sources)
    # Set by the platform, e.g. "never evict to scale a node down" where an autoscaler runs.
    pod_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def max_replicas(self) -> int:
        return self.scaling.policy.max_replicas if self.scaling else self.replicas

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.engine,
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": "engine",
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
        }

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/instance": self.name, "app.kubernetes.io/component": "engine"}

    @property
    def port(self) -> int:
        return self.profile.port

    @property
    def cluster_url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{self.port}"
