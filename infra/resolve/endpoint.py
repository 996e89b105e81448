"""Endpoint config + placement -> `EndpointSpec`, the flat spec every builder consumes."""

from __future__ import annotations

from typing import Any

from components import engines
from components.autoscaling import Scaling, queue_query, router_demand_query
from components.gpu_catalog import default_dtype, needs_flashinfer_sampler_off
from components.spec import EndpointSpec, ModelSourceSpec, ProbeSpec
from infra.config.endpoint import (
    EndpointConfig,
    HuggingFaceSource,
    S3Source,
)
from infra.validate.autoscaling import autoscaling_policy
from infra.validate.engine_queue import engine_queue
from infra.validate.exposure import exposure_spec
from infra.validate.placement import Placement
from infra.validate.sizing import cache_size


def engine_profile(endpoint: EndpointConfig) -> engines.EngineProfile:
    profile = engines.engine_profile(endpoint.engine, endpoint.profile)
    assert profile is not None, "rules.check_endpoint rejects unknown profiles"
    return profile


def source_spec(endpoint: EndpointConfig, has_hf_token: bool) -> ModelSourceSpec:
    source = endpoint.source
    if isinstance(source, HuggingFaceSource):
        wanted = source.use_token is not False and has_hf_token
        token = f"{endpoint.name}-hf-token" if wanted else None
        return ModelSourceSpec("huggingface", hf_token_secret=token, revision=source.revision)
    if isinstance(source, S3Source):
        return ModelSourceSpec(
            "s3", s3_bucket=source.bucket, s3_prefix=source.prefix, s3_region=source.region,
            s3_endpoint_url=source.endpoint_url, s3_credentials_secret=source.credentials_secret,
            s3_stream=source.stream,
        )
    return ModelSourceSpec("fsx", fsx_file_system_id=source.file_system_id,
                           fsx_mount_name=source.mount_name, fsx_path=source.path)


def engine_settings(endpoint: EndpointConfig, placement: Placement) -> dict[str, Any]:
    """Engine-neutral settings with GPU-derived defaults filled in (R4: half without bf16)."""
    settings = endpoint.engine_args.model_dump(exclude={"extra_args"})
    if settings["dtype"] is None and placement.gpu is not None:
        dtype = default_dtype(placement.gpu)
        settings["dtype"] = None if dtype == "auto" else dtype
    return settings


def probe_spec(endpoint: EndpointConfig) -> ProbeSpec:
    return ProbeSpec(**endpoint.probes.model_dump())


def scaling(endpoint: EndpointConfig, stack_prometheus: str | None) -> Scaling | None:
    """The endpoint's KEDA scaling: its policy, the Prometheus it asks (its own setting, else
    the stack's) and the queue query."""
    auto = endpoint.autoscaling
    if auto is None:
        return None
    profile = engine_profile(endpoint)
    address = auto.prometheus_server_address or stack_prometheus
    assert address, "validate/autoscaling.py requires one"
    query = auto.query or queue_query(endpoint.engine, profile.queue_metric, endpoint.namespace,
                                      endpoint.served_name)
    # Scale to zero wakes on the router's demand (validate/autoscaling.py requires a router).
    wake = (router_demand_query(endpoint.router.kind, endpoint.namespace, endpoint.name)
            if auto.scale_to_zero and endpoint.router is not None else None)
    return Scaling(autoscaling_policy(auto), address, query, wake)


def endpoint_spec(
    endpoint: EndpointConfig, placement: Placement, has_hf_token: bool,
    stack_prometheus: str | None = None,
) -> EndpointSpec:
    profile = engine_profile(endpoint)
    tp = endpoint.engine_args.tensor_parallel_size
    return EndpointSpec(
        name=endpoint.name,
        namespace=endpoint.namespace,
        engine=endpoint.engine,
        profile=profile,
        image=endpoint.image or profile.image,
        model=endpoint.model,
        served_model_name=endpoint.served_name,
        engine_settings=engine_settings(endpoint, placement),
        source=source_spec(endpoint, has_hf_token),
        replicas=endpoint.replicas,
        gpu_count=placement.count,
        gpu_type=placement.gpu.name if placement.gpu else None,
        instance_type=placement.instance_type,
        flashinfer_sampler_off=bool(
            placement.gpu and needs_flashinfer_sampler_off(placement.gpu)
        ),
        node_selector=dict(placement.node_selector),
        tolerations=placement.tolerations,
        runtime_class=placement.runtime_class,
        cache_type=endpoint.cache.type,
        cache_size=cache_size(endpoint),
        cache_host_path=endpoint.cache.host_path,
        cache_claim=endpoint.cache.claim_name,
        shm_size=endpoint.resources.shm_size if tp > 1 else None,
        cpu=endpoint.resources.cpu,
        memory=endpoint.resources.memory,
        probes=probe_spec(endpoint),
        api_key_secret=f"{endpoint.name}-api-key" if endpoint.api_key else None,
        extra_env=dict(endpoint.env),
        extra_args=tuple(endpoint.engine_args.extra_args),
        exposure=exposure_spec(endpoint),
        scaling=scaling(endpoint, stack_prometheus),
        engine_queue=engine_queue(endpoint),
    )
