"""Endpoint config + placement -> the flat spec HyperPod's `InferenceEndpointConfig` renderer
takes."""

from __future__ import annotations

from components import hyperpod_manifest as hp
from components.autoscaling import queue_query
from infra.config.endpoint import EndpointConfig, FsxSource, HuggingFaceSource, S3Source
from infra.config.platforms.hyperpod import HyperPodSettings
from infra.config.stack import HyperPodStack
from infra.resolve.endpoint import engine_profile, engine_settings, probe_spec
from infra.validate.placement import Placement


def _source(endpoint: EndpointConfig, settings: HyperPodSettings,
            has_hf_token: bool) -> hp.HyperPodSource:
    source, prefetch = endpoint.source, settings.prefetch_models and endpoint.kv_cache is None
    if isinstance(source, S3Source):
        return hp.HyperPodSource("s3", s3_bucket=source.bucket,
                                 s3_region=source.region or settings.region,
                                 location=source.prefix.strip("/") or None, prefetch=prefetch)
    if isinstance(source, FsxSource):
        return hp.HyperPodSource("fsx", fsx_file_system_id=source.file_system_id,
                                 fsx_mount_name=source.mount_name,
                                 location=source.path.strip("/") or None, prefetch=prefetch)
    assert isinstance(source, HuggingFaceSource)
    wanted = source.use_token is not False and has_hf_token
    return hp.HyperPodSource("huggingface", hf_model_id=endpoint.model,
                             hf_token_secret=f"{endpoint.name}-hf-token" if wanted else None,
                             hf_commit=source.revision, prefetch=prefetch)


def hyperpod_endpoint_spec(endpoint: EndpointConfig, placement: Placement,
                           settings: HyperPodSettings,
                           has_hf_token: bool) -> hp.HyperPodEndpointSpec:
    """Engine-neutral endpoint config -> the flat spec the CR renderer takes."""
    profile = engine_profile(endpoint)
    assert placement.instance_type is not None, "place() always pins an ml.* type"
    kv, auto = endpoint.kv_cache, endpoint.autoscaling
    return hp.HyperPodEndpointSpec(
        name=endpoint.name, namespace=endpoint.namespace, profile=profile,
        image=endpoint.image or profile.image, model=endpoint.model,
        served_model_name=endpoint.served_name,
        engine_settings=engine_settings(endpoint, placement),
        source=_source(endpoint, settings, has_hf_token), instance_type=placement.instance_type,
        replicas=endpoint.replicas, gpu_count=placement.count, cpu=endpoint.resources.cpu,
        memory=endpoint.resources.memory, probes=probe_spec(endpoint),
        routing_strategy=endpoint.routing.strategy if endpoint.routing else None,
        kv_cache=hp.HyperPodKvCache(kv.l1, kv.l2_backend, kv.l2_redis_url) if kv else None,
        autoscaling=hp.HyperPodAutoscaling(
            0 if auto.scale_to_zero else auto.min, auto.max,
            # The CRD's pattern has no trailing slash; "" = the stack's own workspace.
            (auto.prometheus_server_address or "").rstrip("/"),
            auto.query or queue_query(endpoint.engine, profile.queue_metric, endpoint.namespace,
                                      endpoint.served_name), auto.queue_per_replica,
            auto.polling_interval_s, auto.scale_down_window_s) if auto else None,
        api_key=endpoint.api_key, extra_env=dict(endpoint.env),
        extra_args=tuple(endpoint.engine_args.extra_args),
    )


def autoscaling_addresses(config: HyperPodStack) -> list[str]:
    """The Amazon Managed Prometheus workspace URLs the endpoints name (without the slash)."""
    return sorted({e.autoscaling.prometheus_server_address.rstrip("/")
                   for e in config.endpoints
                   if e.autoscaling and e.autoscaling.prometheus_server_address})


def needs_amp_workspace(config: HyperPodStack) -> bool:
    """An endpoint autoscales without naming a workspace: the stack creates one."""
    return any(e.autoscaling is not None and e.autoscaling.prometheus_server_address is None
               for e in config.endpoints)
