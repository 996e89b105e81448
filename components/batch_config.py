"""Config model of one `batch_jobs` list entry in the stack config (issue 17).

The engine-side fields (`gpu`, `source`, `cache`, `engine_settings`) have the same meaning as an
endpoint's; they are typed loosely here (dicts) so the program validates them with the endpoint's
own models when it resolves an entry into a `BatchJobSpec` (via an `EndpointSpec`), and there is
one definition of each. Locations: `input.url` (`s3://`, `http(s)://`) or `input.pvc` +
`input.path`; results go to `output.pvc`/`output.path`, optionally copied to `output.s3_uri`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchInputConfig(_Strict):
    url: str | None = Field(default=None, pattern=r"^(s3|https?)://",
                            description="s3:// or http(s):// URL of the JSONL batch file.")
    pvc: str | None = Field(default=None, description="Claim holding the batch file.")
    path: str | None = Field(default=None, description="Path of the batch file in `pvc`.")

    @model_validator(mode="after")
    def _one_source(self) -> BatchInputConfig:
        if (self.url is None) == (self.pvc is None) or (self.pvc is None) != (self.path is None):
            raise ValueError("give either input.url, or input.pvc together with input.path")
        return self

    @property
    def location(self) -> str:
        """The location form `BatchJobSpec.input` takes."""
        return self.url or f"pvc://{self.pvc}/{str(self.path).strip('/')}"


class BatchOutputConfig(_Strict):
    pvc: str = Field(description="Claim the results are written to (one directory per shard).")
    path: str = Field(default="", description="Directory inside the claim; '' for its root.")
    size: str | None = Field(default=None, pattern=r"^\d+(Mi|Gi|Ti)$",
                             description="Create the claim with this size; omit to use an "
                                         "existing claim.")
    storage_class: str | None = Field(default=None,
                                      description="Storage class of a created claim.")
    s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+",
                               description="Also copy each shard's results here at the end.")


class BatchJobConfig(_Strict):
    name: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$",
                      description="Job name (DNS label; pods and outputs use it).")
    engine: Literal["vllm", "sglang"] = Field(description="Engine serving the requests.")
    model: str = Field(description="Hugging Face id or path, as for endpoints.")
    served_model_name: str | None = Field(
        default=None, description="Name request bodies use; default: as for endpoints.")
    gpu: dict[str, Any] = Field(default_factory=dict,
                                description="GPU type/count, as an endpoint's `gpu`.")
    source: dict[str, Any] | None = Field(default=None,
                                          description="Weights source, as an endpoint's.")
    cache: dict[str, Any] | None = Field(default=None,
                                         description="Model cache, as an endpoint's.")
    engine_settings: dict[str, Any] = Field(default_factory=dict,
                                            description="Engine settings, as an endpoint's.")
    input: BatchInputConfig = Field(description="Where the OpenAI batch JSONL file is.")
    output: BatchOutputConfig = Field(description="Where results and status files go.")
    completions: int = Field(default=1, ge=1, le=1000,
                             description="Shards: the file is split over this many indexes.")
    parallelism: int = Field(default=1, ge=1,
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
    service_account: str | None = Field(
        default=None, description="Service account with S3 access (IRSA/Pod Identity) for "
                                  "s3:// input or output.")

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
