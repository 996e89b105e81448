"""Batch job config + placement -> `BatchJobSpec`: the engine as its endpoint, plus the Job."""

from __future__ import annotations

import dataclasses

from components.batch_manifests import BatchJobSpec
from infra.config.batch import BatchJobConfig
from infra.resolve.endpoint import endpoint_spec
from infra.validate.placement import Placement


def batch_spec(job: BatchJobConfig, placement: Placement, has_hf_token: bool) -> BatchJobSpec:
    engine = endpoint_spec(job.as_endpoint(), placement, has_hf_token)
    out = job.output
    return BatchJobSpec(
        name=job.name,
        # One engine per pod; the Job's parallelism, not the Deployment's replicas, scales it.
        endpoint=dataclasses.replace(engine, replicas=1),
        input=job.input.location,
        output_claim=out.pvc, output_path=out.path, output_s3=out.s3_uri,
        output_claim_size=out.size, output_storage_class=out.storage_class,
        completions=job.completions, parallelism=job.parallelism, concurrency=job.concurrency,
        backoff_limit_per_index=job.backoff_limit_per_index,
        max_failed_indexes=job.max_failed_indexes, deadline_seconds=job.deadline_seconds,
        ttl_seconds=job.ttl_seconds, service_account=job.service_account,
    )
