"""One `inference-stacks:batch_jobs` entry: an OpenAI batch file run on the GPU pool.

The engine side (model, GPU, source, cache, engine args, image, probes) uses the endpoint's own
models, so a batch job is placed, checked and rendered exactly as an endpoint would be
(`as_endpoint`). Locations: `input.url` (`s3://`, `http(s)://`) or `input.pvc` + `input.path`;
results go to `output.pvc`/`output.path`, optionally copied to `output.s3_uri`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config import formats as f
from infra.config.base import StrictModel
from infra.config.endpoint import (
    EndpointConfig,
    EngineArgs,
    GpuRequest,
    HuggingFaceSource,
    ModelCache,
    ModelSource,
    Probes,
    Resources,
    pinned_image,
)


class BatchInputConfig(StrictModel):
    url: str | None = Field(default=None, pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
                            r"(/[A-Za-z0-9._/=+-]*)?|https?://[^\s\"'`$\\]+)$",
                            description="s3:// or http(s):// URL of the JSONL batch file.")
    pvc: f.DnsSubdomain | None = Field(default=None, description="Claim holding the batch file.")
    path: f.RelativeOrAbsolutePath | None = Field(
        default=None, description="Path of the batch file in `pvc`.")

    @model_validator(mode="after")
    def _one_source(self) -> BatchInputConfig:
        if (self.url is None) == (self.pvc is None) or (self.pvc is None) != (self.path is None):
            raise ValueError("give either input.url, or input.pvc together with input.path")
        return self

    @property
    def location(self) -> str:
        """The location form `BatchJobSpec.input` takes."""
        return self.url or f"pvc://{self.pvc}/{str(self.path).strip('/')}"


class BatchOutputConfig(StrictModel):
    pvc: f.DnsSubdomain = Field(
        description="Claim the results are written to (one directory per shard).")
    path: f.S3Prefix = Field(default="", description="Directory inside the claim; '' for its root.")
    size: str | None = Field(default=None, pattern=r"^\d+(Mi|Gi|Ti)$",
                             description="Create the claim with this size; omit to use an "
                                         "existing claim.")
    storage_class: f.DnsSubdomain | None = Field(default=None,
                                      description="Storage class of a created claim.")
    s3_uri: str | None = Field(default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
                               r"(/[A-Za-z0-9._/=+-]*)?$",
                               description="Also copy each shard's results here at the end.")


class BatchJobConfig(StrictModel):
    name: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$",
                      description="Job name (DNS label; pods and outputs use it).")
    namespace: str = Field("batch", description="Kubernetes namespace of the Job.")
    engine: Literal["vllm", "sglang"] = Field(description="Engine serving the requests.")
    profile: Literal["upstream", "sagemaker-dlc"] = Field(
        "upstream", description="Engine image profile, as an endpoint's.")
    model: f.ModelId = Field(description="Model id, as an endpoint's.")
    served_model_name: f.ServedModelName | None = Field(
        default=None, description="Name request bodies use; default: as for endpoints.")
    image: str | None = Field(None, description="Engine image, pinned by tag or digest.")
    gpu: GpuRequest = Field(default_factory=GpuRequest, description="GPUs per shard (R3).")
    source: ModelSource = Field(
        default_factory=lambda: HuggingFaceSource(type="huggingface"),
        description="Where the weights come from, as an endpoint's.")
    cache: ModelCache = Field(default_factory=ModelCache, description="Model cache (R18).")
    engine_args: EngineArgs = Field(default_factory=EngineArgs,
                                    description="Engine settings, as an endpoint's.")
    probes: Probes = Field(default_factory=Probes, description="Engine load budget (R1).")
    resources: Resources = Field(default_factory=Resources, description="CPU/memory.")
    env: f.EnvVars = Field(default_factory=dict, description="Extra engine env.")
    input: BatchInputConfig = Field(description="Where the OpenAI batch JSONL file is.")
    output: BatchOutputConfig = Field(description="Where results and status files go.")
    completions: int = Field(default=1, ge=1, le=1000,
                             description="Shards: the file is split over this many indexes.")
    parallelism: int = Field(default=1, ge=1, le=64,
                             description="Shards running at once (GPU pods at once).")
    concurrency: int = Field(default=8, ge=1, le=1024,
                             description="Requests in flight per shard.")
    backoff_limit_per_index: int = Field(default=2, ge=0, le=20,
                                         description="Retries per shard (resuming each time).")
    max_failed_indexes: int | None = Field(default=None, ge=0,
                                           description="Failed shards that fail the whole Job.")
    deadline_seconds: int | None = Field(default=None, ge=60,
                                         description="activeDeadlineSeconds of the Job.")
    ttl_seconds: int | None = Field(default=None, ge=0,
                                    description="Delete the finished Job after this long.")
    service_account: f.DnsSubdomain | None = Field(
        default=None, description="Service account with S3 access (IRSA/Pod Identity) for "
                                  "s3:// input or output.")

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str | None) -> str | None:
        return pinned_image(value)

    def as_endpoint(self) -> EndpointConfig:
        """The engine of each shard, as the endpoint it is (placed and checked the same way).

        No API key: the engine is reached only by the feeder in the same pod, on loopback."""
        return EndpointConfig(
            name=self.name, engine=self.engine, profile=self.profile, model=self.model,
            served_model_name=self.served_model_name, source=self.source, image=self.image,
            namespace=self.namespace, replicas=self.parallelism, gpu=self.gpu,
            engine_args=self.engine_args, cache=self.cache, api_key=False, probes=self.probes,
            resources=self.resources, env=self.env)

    @model_validator(mode="after")
    def _shards(self) -> BatchJobConfig:
        if self.parallelism > self.completions:
            raise ValueError(f"parallelism {self.parallelism} exceeds completions "
                             f"{self.completions}")
        if self.max_failed_indexes is not None and self.max_failed_indexes > self.completions:
            raise ValueError("max_failed_indexes exceeds completions")
        if self.parallelism > 1 and self.output.size and self.output.storage_class is None:
            # Shards running at once may land on different nodes: the created claim is
            # ReadWriteMany, which the default (block) storage classes cannot provide.
            raise ValueError("parallelism > 1 with a created claim needs output.storage_class "
                             "(a ReadWriteMany class: EFS, Filestore, NFS)")
        return self
