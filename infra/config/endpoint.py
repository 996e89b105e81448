"""Engine-neutral endpoint config: one entry of `inference-stacks:endpoints`.

Defaults come from the field rules (docs/field-rules.md: R1, R2, R9, R16, R18, R23, R24). Rules
that involve only one endpoint live in validators here; rules that need a catalog or the
platform live in `infra/validate/`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from components.names import served_name_default
from infra.config import formats as f
from infra.config.base import StrictModel, cidrs

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU = re.compile(r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")


def pinned_image(value: str | None) -> str | None:
    """An image reference pinned by a tag other than `latest`, or by a digest."""
    return value if value is None else f.image_reference(value)


def _quantity(value: str | None) -> str | None:
    if value is not None and (not _QUANTITY.match(value) or float(
            re.sub(r"[A-Za-z]+$", "", value)) <= 0):
        raise ValueError("must be a positive Kubernetes quantity such as 50Gi, 512Mi or 4")
    return value


class EngineArgs(StrictModel):
    """Engine-neutral settings; `components/engines.py` maps each to vLLM or SGLang flags (R8)."""

    max_model_len: int = Field(12288, ge=256, description="Context length per sequence (R9).")
    tensor_parallel_size: int = Field(1, ge=1, le=8, description="GPUs one replica spans.")
    gpu_memory_utilization: float = Field(
        0.9, gt=0.1, le=0.98, description="Fraction of GPU memory the engine may use (R9)."
    )
    max_num_seqs: int = Field(256, ge=1, description="Concurrent sequences per replica (R9).")
    dtype: Literal["auto", "half", "float16", "bfloat16"] | None = Field(
        None, description="Weights dtype; default from the GPU (half without bf16, R4)."
    )
    enable_prefix_caching: bool | None = Field(
        None, description="vLLM prefix caching; SGLang's radix cache is always on."
    )
    chat_template: f.AbsolutePath | None = Field(
        None, description="Chat template path in the image (absolute).")
    tool_call_parser: f.ParserName | None = Field(None, description="Tool-call parser name.")
    enforce_eager: bool = Field(False, description="vLLM: disable CUDA graphs.")
    limit_mm_per_prompt: dict[str, int] | None = Field(
        None, description="vLLM: max multimodal items per prompt, e.g. {image: 2}."
    )
    disable_custom_all_reduce: bool = Field(
        False, description="Disable custom all-reduce (GPUs without peer-to-peer links hang)."
    )
    extra_args: f.EngineFlags = Field(
        default_factory=list,
        description="Further engine flags, passed verbatim; may not repeat a mapped flag (R8).",
    )


class HuggingFaceSource(StrictModel):
    """Weights from the Hugging Face hub, with the token from `inference-stacks:hf_token`."""

    type: Literal["huggingface"] = Field(description="Source kind.")
    use_token: bool | None = Field(
        None, description="Mount `inference-stacks:hf_token` as HF_TOKEN: unset = when set, "
        "true = required (gated models)."
    )
    revision: f.Revision | None = Field(
        None, description="Model revision (branch, tag or commit).")


class S3Source(StrictModel):
    """Weights in S3 or an S3-compatible store, downloaded before the engine starts (R19)."""

    type: Literal["s3"] = Field(description="Source kind.")
    bucket: f.S3Bucket = Field(description="Bucket name.")
    prefix: f.S3Prefix = Field(
        "", description="Key prefix holding config.json and *.safetensors.")
    region: f.AwsRegion | None = Field(None, description="Bucket region.")
    endpoint_url: f.HttpUrl | None = Field(
        None, description="S3-compatible endpoint URL (on-prem object stores)."
    )
    credentials_secret: f.DnsSubdomain | None = Field(
        None,
        description="Existing Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; none = IRSA.",
    )
    stream: bool = Field(
        False, description="vLLM streams weights from S3 (runai_streamer) instead of a download."
    )


class FsxSource(StrictModel):
    """Weights on FSx for Lustre (HyperPod)."""

    type: Literal["fsx"] = Field(description="Source kind.")
    file_system_id: str = Field(pattern=r"^fs-[0-9a-f]+$", description="FSx file system id.")
    mount_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,8}$", description="FSx mount name (1-8 characters).")
    path: f.AbsolutePath = Field("/", description="Directory of the model on the file system.")


ModelSource = Annotated[HuggingFaceSource | S3Source | FsxSource, Field(discriminator="type")]


class GpuRequest(StrictModel):
    """GPUs per replica and where they are (R3): type, instance type or a platform GPU pool."""

    count: int = Field(1, ge=1, le=8, description="GPUs per replica (= tensor_parallel_size).")
    type: str | None = Field(None, description="GPU model (T4, A10G, L4, ...), from the catalog.")
    instance_type: str | None = Field(
        None, description="Node instance/machine type to pin pods to (R3)."
    )
    pool: str | None = Field(None, description="GPU node pool of the platform (eks).")


class ModelCache(StrictModel):
    """Where weights are cached in the pod (R18)."""

    type: Literal["emptydir", "hostpath", "pvc"] = Field(
        "emptydir", description="emptyDir with ephemeral-storage, node hostPath, or a PVC."
    )
    size: str | None = Field(
        None, description="Cache size; default from the model's weights (x1.3 + 5Gi) or 50Gi."
    )
    host_path: f.AbsolutePath = Field(
        "/var/lib/model-cache", description="Node directory for hostpath.")
    claim_name: f.DnsSubdomain | None = Field(None, description="Existing PVC for type pvc.")

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        return _quantity(value)

    @model_validator(mode="after")
    def _claim(self) -> ModelCache:
        if self.type == "pvc" and not self.claim_name:
            raise ValueError("type pvc needs claim_name (an existing PersistentVolumeClaim)")
        return self


class Exposure(StrictModel):
    """How clients reach the endpoint; nothing public unless the stack says so (R23, R24)."""

    type: Literal["cluster", "alb", "nlb"] = Field(
        "cluster", description="In-cluster Service only, an ALB Ingress, or an NLB Service."
    )
    scheme: Literal["internal", "internet-facing"] = Field(
        "internal", description="Load balancer scheme (alb/nlb)."
    )
    certificate_arn: f.CertificateArn | None = Field(
        None, description="ACM certificate ARN for TLS.")
    inbound_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to reach an internet-facing LB."
    )
    idle_timeout_seconds: int = Field(
        300, ge=300, le=4000, description="ALB idle timeout; >= 300 s for long streams (R23)."
    )
    group_name: f.AlbGroupName | None = Field(
        None, description="ALB IngressGroup to share one ALB.")
    hostname: f.Hostname | None = Field(
        None, description="DNS name routed to the ALB (Ingress host).")
    allow_world: bool = Field(
        False, description="Explicitly allow a world range (0.0.0.0/0, ::/0) in inbound_cidrs.")

    @field_validator("inbound_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return cidrs(value)

    @model_validator(mode="after")
    def _public_needs_tls_and_cidrs(self) -> Exposure:
        if self.scheme != "internet-facing":
            return self
        if self.type == "cluster":
            raise ValueError("scheme internet-facing needs type alb or nlb")
        missing = []
        if not self.certificate_arn:
            missing.append("certificate_arn (TLS)")
        if not self.inbound_cidrs:
            missing.append("inbound_cidrs (explicit client CIDRs)")
        if missing:
            raise ValueError(f"internet-facing exposure needs {' and '.join(missing)} (R24)")
        return self

    @property
    def label(self) -> Literal["cluster", "internal", "public"]:
        """The contract's exposure value."""
        if self.type == "cluster":
            return "cluster"
        return "public" if self.scheme == "internet-facing" else "internal"


class Probes(StrictModel):
    """Startup, readiness and liveness on the engine's health path (R1, R2)."""

    startup_budget_seconds: int = Field(
        1800, ge=60, le=7200, description="Time allowed to download and load the model."
    )
    readiness_timeout_seconds: int = Field(5, ge=5, description="Readiness timeout, >= 5 s (R2).")
    liveness_timeout_seconds: int = Field(10, ge=5, description="Liveness timeout (R1).")
    liveness_period_seconds: int = Field(30, ge=10, description="Liveness period (R1).")
    liveness_failure_threshold: int = Field(3, ge=1, description="Liveness failures to restart.")


class Resources(StrictModel):
    """Host CPU/memory per replica (GPUs come from `gpu`)."""

    cpu: str = Field("2", description="CPU request.")
    memory: str = Field("12Gi", description="Memory request and limit (fits g5.xlarge).")
    shm_size: str = Field("8Gi", description="/dev/shm size for tensor-parallel pods (R21).")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        if not _CPU.match(value) or float(value.rstrip("m")) <= 0:
            raise ValueError("must be a positive CPU quantity such as 2, 0.5 or 500m")
        return value

    @field_validator("memory", "shm_size")
    @classmethod
    def _quantities(cls, value: str) -> str | None:
        return _quantity(value)


class Slos(StrictModel):
    """Benchmark gates exported with the endpoint; null means no gate."""

    ttft_p95_ms: float | None = Field(None, gt=0, description="P95 time to first token, ms.")
    tpot_p95_ms: float | None = Field(None, gt=0, description="P95 time per output token, ms.")
    itl_p95_ms: float | None = Field(None, gt=0, description="P95 inter-token latency, ms.")
    e2e_p95_ms: float | None = Field(None, gt=0, description="P95 end-to-end latency, ms.")
    success_rate_min: float | None = Field(None, ge=0, le=1, description="Minimum success rate.")


class ModelFactsConfig(StrictModel):
    """Model facts for the memory fit check (R9) when the model is not in the built-in catalog."""

    parameters_b: float = Field(gt=0, description="Parameters in billions (MoE: all experts).")
    num_layers: int = Field(ge=1, description="Transformer layers (num_hidden_layers).")
    num_kv_heads: int = Field(ge=1, description="KV heads (num_key_value_heads).")
    head_dim: int = Field(ge=8, description="Attention head dimension.")
    dtype_bytes: int = Field(2, ge=1, le=4, description="Bytes per weight (2 for bf16/fp16).")


class KvCacheConfig(StrictModel):
    """HyperPod managed KV cache tiers (vLLM only, R10, R11)."""

    l1: bool = Field(True, description="L1 (CPU memory) cache on each node.")
    l2_backend: Literal["redis", "tieredstorage"] | None = Field(
        None, description="L2 backend; tieredstorage has failed in the field (experimental)."
    )
    l2_redis_url: f.RedisUrl | None = Field(
        None, description="Redis URL for the redis L2 backend.")
    experimental_tieredstorage: bool = Field(
        False, description="Explicit opt-in for the tieredstorage L2 backend."
    )

    @model_validator(mode="after")
    def _l2(self) -> KvCacheConfig:
        if self.l2_backend == "tieredstorage" and not self.experimental_tieredstorage:
            raise ValueError("l2_backend tieredstorage is experimental (shared-memory failures in "
                             "the field); set experimental_tieredstorage: true to use it")
        if self.l2_backend == "redis" and not self.l2_redis_url:
            raise ValueError("l2_backend redis needs l2_redis_url")
        return self


class RoutingConfig(StrictModel):
    """HyperPod intelligent routing (immutable once set: changing it replaces the endpoint)."""

    strategy: Literal["prefixaware", "kvaware", "session", "roundrobin"] = Field(
        "prefixaware", description="Routing strategy of the operator's router."
    )


class RouterConfig(StrictModel):
    """A managed router in front of the endpoint's replicas (the managed setup), any platform."""

    kind: Literal["vllm-router", "smg"] = Field(
        "smg", description="Router: smg (polls each engine's /metrics; with the defaults below "
        "power_of_two on the engines' running + waiting requests, skipping an engine with a "
        "queue) or vllm-router (balances on its own in-flight counts only). smg measured best "
        "on unequal replicas, equal on equal ones: benchmarks/routing/README.md.")
    # The policies `vllm-router` 0.1.17 accepts without extra plumbing (`--help`); it has no
    # rendezvous_hash, and kv_aware needs per-engine KV event streams. smg 1.13.0 (`smg launch
    # --help`) names its own: consistent_hashing, least_load, prefix_hash.
    policy: Literal[
        "cache_aware", "round_robin", "random", "power_of_two", "consistent_hash",
        "sticky_least_loaded", "consistent_hashing", "least_load", "prefix_hash",
    ] = Field("power_of_two", description="Routing policy (default load-aware); round_robin on "
              "the same router is the fair control. vllm-router only: consistent_hash, "
              "sticky_least_loaded; smg only: consistent_hashing, least_load, prefix_hash.")
    image: str | None = Field(None, description="Router image, pinned; default per kind.")
    replicas: int = Field(1, ge=1, le=8, description="Router replicas (each balances alone).")
    prometheus_port: int | None = Field(
        None, ge=1024, le=65535,
        description="Router metrics port; default 29000 + its position among the routers.",
    )
    health_check_interval_seconds: int = Field(
        10, ge=1, le=300, description="How often the router checks each engine's /health."
    )
    load_monitor_interval_seconds: int = Field(
        1, ge=1, le=60, description="smg: how often it reads each engine's /metrics (queue "
        "depth, running requests, KV usage); a veto acts on data at most this old.")
    load_metric: Literal["requests", "least_requests", "expected_wait"] = Field(
        "requests", description="smg power_of_two: what it compares between the two sampled "
        "engines (requests: the engine's running + waiting requests and the router's dispatches "
        "since the last poll; expected_wait: queued tokens over throughput plus a KV-usage term).")
    queue_veto: int | None = Field(
        1, ge=1, le=1024, description="smg: leave out an engine with at least this many waiting "
        "(queued) requests while another has fewer, with any policy; null = no veto.")
    kv_veto: float | None = Field(
        None, gt=0, le=1, description="smg: also leave out an engine whose KV usage is at least "
        "this (0-1]. Null = only a full cache; KV usage misleads when replicas differ in "
        "capacity (waiting requests hold no KV, so a small full replica looks idle).")
    engine_queue: int | None = Field(
        None, ge=0, le=1024, description="smg with vLLM, opt-in: waiting requests each engine "
        "holds before it refuses more with HTTP 503 (vLLM --max-num-queued-reqs = max_num_seqs + "
        "this); smg retries a refused request on another replica, so no replica queues while "
        "another has a free slot. Costs about 1% of streamed requests at the bound (vLLM's "
        "second admission check fails them mid-stream). Null: unbounded.")

    @field_validator("image")
    @classmethod
    def _router_image_pinned(cls, value: str | None) -> str | None:
        return pinned_image(value)

    @model_validator(mode="after")
    def _policy_of_kind(self) -> RouterConfig:
        only = {"consistent_hash": "vllm-router", "sticky_least_loaded": "vllm-router",
                "consistent_hashing": "smg", "least_load": "smg", "prefix_hash": "smg"}
        if only.get(self.policy, self.kind) != self.kind:
            raise ValueError(f"policy {self.policy} is a {only[self.policy]} policy; kind is "
                             f"{self.kind}")
        smg_only = sorted(self.model_fields_set & {"load_monitor_interval_seconds",
                                                   "load_metric", "queue_veto", "kv_veto",
                                                   "engine_queue"})
        if self.kind != "smg" and smg_only:
            raise ValueError(f"{', '.join(smg_only)} only apply to kind smg (vllm-router reads "
                             "no engine metrics)")
        if self.kv_veto is not None and self.queue_veto is None:
            raise ValueError("kv_veto needs queue_veto (smg's veto has both thresholds)")
        return self


class AutoscalingConfig(StrictModel):
    """Replicas follow the engine's queue (KEDA on Kubernetes platforms, the operator's KEDA on
    HyperPod). Defaults follow the AWS EKS vLLM autoscaling guide: 1-5 replicas, scale up after
    30 s of a queue, down after 300 s without."""

    min: int = Field(1, ge=1, le=64, description="Fewest engine replicas while active.")
    max: int = Field(5, ge=1, le=64, description="Most engine replicas (GPU capacity, R3).")
    queue_per_replica: float = Field(
        5, gt=0, le=1000,
        description="Target requests waiting per replica: more adds replicas. Waiting means "
        "every batch slot is busy, whatever the GPU.")
    activation: float = Field(
        0, ge=0, description="With scale_to_zero: total waiting above this keeps the endpoint "
        "awake (any request to its router also wakes it).")
    scale_up_window_s: int = Field(30, ge=0, le=3600,
                                   description="Scale up only after this long above target.")
    scale_down_window_s: int = Field(300, ge=0, le=3600,
                                     description="Scale down only after this long below target.")
    polling_interval_s: int = Field(15, ge=5, le=300,
                                    description="How often KEDA runs the query (>= scrape).")
    scale_to_zero: bool = Field(
        False, description="Opt-in: no replica when idle; the plan prints the cold start (node + "
        "image + weights + load). Kubernetes platforms: needs `router:` (its requests wake it).")
    prometheus_server_address: f.HttpUrl | None = Field(
        None,
        description="Prometheus the query runs against; default the stack's own (HyperPod: an "
        "Amazon Managed Prometheus workspace URL; default the workspace the stack creates and "
        "its bundled Prometheus remote-writes to).")
    query: str | None = Field(
        None, min_length=1,
        description="PromQL override; default the endpoint's total queue (one sample).")

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


class EndpointConfig(StrictModel):
    """One OpenAI-compatible endpoint: an engine serving one model on GPUs."""

    name: str = Field(description="Endpoint name; becomes Kubernetes object names (R13, R14).")
    engine: Literal["vllm", "sglang"] = Field(description="Serving engine.")
    profile: Literal["upstream", "sagemaker-dlc"] = Field(
        "upstream", description="Engine image profile; sets port and command (R6)."
    )
    model: f.ModelId = Field(description="Model id, e.g. Qwen/Qwen3-0.6B.")
    served_model_name: f.ServedModelName | None = Field(
        None, description="Name clients send; default the model id's last segment (R5)."
    )
    source: ModelSource = Field(
        default_factory=lambda: HuggingFaceSource(type="huggingface"),
        description="Where the weights come from.",
    )
    image: str | None = Field(None, description="Engine image, pinned by tag or digest.")
    namespace: str = Field("inference", description="Kubernetes namespace.")
    replicas: int = Field(1, ge=0, le=64, description="Engine replicas.")
    gpu: GpuRequest = Field(default_factory=GpuRequest, description="GPUs per replica (R3).")
    engine_args: EngineArgs = Field(default_factory=EngineArgs, description="Engine settings.")
    cache: ModelCache = Field(default_factory=ModelCache, description="Model cache (R18).")
    exposure: Exposure = Field(default_factory=Exposure, description="Client access (R24).")
    api_key: bool = Field(True, description="Generate an API key (Pulumi secret) (R15, R24).")
    probes: Probes = Field(default_factory=Probes, description="Health probes (R1, R2).")
    resources: Resources = Field(default_factory=Resources, description="CPU/memory.")
    env: f.EnvVars = Field(default_factory=dict, description="Extra container env.")
    slos: Slos | None = Field(None, description="Overrides `inference-stacks:slos`.")
    kv_cache: KvCacheConfig | None = Field(
        None, description="HyperPod KV cache tiers; vLLM only (R10, R11)."
    )
    routing: RoutingConfig | None = Field(
        None, description="HyperPod intelligent routing (required for public exposure, R12)."
    )
    router: RouterConfig | None = Field(
        None, description="Put a managed router in front of the replicas (managed setup)."
    )
    autoscaling: AutoscalingConfig | None = Field(
        None, description="Replicas on queue depth (KEDA; HyperPod: the operator's KEDA)."
    )
    model_facts: ModelFactsConfig | None = Field(
        None, description="Facts for models outside the built-in catalog (R9 fit check)."
    )

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str | None) -> str | None:
        return pinned_image(value)

    @property
    def served_name(self) -> str:
        return self.served_model_name or served_name_default(self.model)
