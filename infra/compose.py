"""Compose a validated stack: platform first, then namespaces, endpoints and the outputs contract.

`endpoint_spec` is pure (config + placement -> EndpointSpec); `compose` creates resources and
returns the stack outputs (contract v1, see README) for `pulumi.export` or the offline plan.
"""

from __future__ import annotations

import math
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import engines
from components.endpoint import InferenceEndpoint, InferenceEndpointArgs
from components.gpu_catalog import default_dtype, needs_flashinfer_sampler_off
from components.model_catalog import weights_bytes
from components.router import attach_router
from components.spec import EndpointSpec, ExposureSpec, ModelSourceSpec, ProbeSpec
from infra.config.endpoint import EndpointConfig, HuggingFaceSource, S3Source
from infra.config.rules import model_facts, stack_warnings
from infra.config.stack import StackConfig
from infra.platforms import PLATFORMS
from infra.platforms.base import Placement, PlatformContext

SCHEMA_VERSION = 1
DEFAULT_CACHE = "50Gi"


def cache_size(endpoint: EndpointConfig) -> str:
    """Explicit size, else weights x 1.3 + 5 GiB of headroom for the hub cache, else 50Gi."""
    if endpoint.cache.size:
        return endpoint.cache.size
    facts = model_facts(endpoint)
    if facts is None:
        return DEFAULT_CACHE
    return f"{math.ceil(weights_bytes(facts) / 2**30 * 1.3 + 5)}Gi"


def _source_spec(endpoint: EndpointConfig, has_hf_token: bool) -> ModelSourceSpec:
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


def endpoint_spec(
    endpoint: EndpointConfig, placement: Placement, has_hf_token: bool
) -> EndpointSpec:
    profile = engines.engine_profile(endpoint.engine, endpoint.profile)
    assert profile is not None, "rules.check_endpoint rejects unknown profiles"
    exposure = endpoint.exposure
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
        source=_source_spec(endpoint, has_hf_token),
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
        probes=ProbeSpec(**endpoint.probes.model_dump()),
        api_key_secret=f"{endpoint.name}-api-key" if endpoint.api_key else None,
        extra_env=dict(endpoint.env),
        extra_args=tuple(endpoint.engine_args.extra_args),
        exposure=ExposureSpec(
            type=exposure.type, scheme=exposure.scheme, certificate_arn=exposure.certificate_arn,
            inbound_cidrs=tuple(exposure.inbound_cidrs),
            idle_timeout_seconds=exposure.idle_timeout_seconds,
            group_name=exposure.group_name, hostname=exposure.hostname,
        ),
    )


def endpoint_outputs(spec: EndpointSpec, stack: StackConfig, endpoint: EndpointConfig,
                     component: InferenceEndpoint, platform: PlatformContext) -> dict[str, Any]:
    """One endpoint's entry in the outputs contract (v1)."""
    load_balancer = None
    if spec.exposure.type != "cluster":
        load_balancer = {
            "provider": "aws", "type": spec.exposure.type, "scheme": spec.exposure.scheme,
            "region": platform.aws_region, "hostname": component.hostname,
        }
    return {
        "engine": spec.engine,
        "model": spec.model,
        "served_model_name": spec.served_model_name,
        "base_url": component.base_url,
        "exposure": spec.exposure.label,
        "namespace": spec.namespace,
        "service": spec.name,
        "port": spec.port,
        "api_key": component.api_key,
        "health_path": spec.profile.health_path,
        "metrics_path": spec.profile.metrics_path,
        "gpu": {"type": spec.gpu_type, "count": spec.gpu_count,
                "instance_type": spec.instance_type},
        "replicas": spec.replicas,
        "slos": stack.slos_for(endpoint).model_dump(),
        "selector": spec.selector,
        "load_balancer": load_balancer,
    }


def compose(config: StackConfig) -> dict[str, Any]:
    """Create the platform and every endpoint; return the stack outputs."""
    for warning in stack_warnings(config):
        pulumi.log.warn(warning)
    spec = PLATFORMS[config.platform]
    platform = spec.build(config)
    namespaces = {
        ns: k8s.core.v1.Namespace(
            f"ns-{ns}", metadata={"name": ns, "labels": {"app.kubernetes.io/part-of":
                                                        "inference-stacks"}},
            opts=pulumi.ResourceOptions(provider=platform.provider,
                                        depends_on=platform.depends_on),
        )
        for ns in sorted({e.namespace for e in config.endpoints})
    }
    platform.namespaces = dict(namespaces)
    endpoints: dict[str, Any] = {}
    for endpoint in config.endpoints:
        if platform.deploy_endpoint is not None:
            endpoints[endpoint.name] = platform.deploy_endpoint(endpoint, config, platform)
            continue
        placement = spec.place(endpoint, config.platform_settings)
        rendered = endpoint_spec(endpoint, placement, config.hf_token is not None)
        component = InferenceEndpoint(endpoint.name, InferenceEndpointArgs(
            spec=rendered, provider=platform.provider, hf_token=config.hf_token,
            depends_on=[*platform.depends_on, namespaces[endpoint.namespace]],
        ))
        endpoints[endpoint.name] = endpoint_outputs(rendered, config, endpoint, component,
                                                    platform)
        # A managed endpoint: vllm-router in front, outputs point at it.
        endpoints[endpoint.name] = attach_router(endpoint, config, rendered, component,
                                                 platform.provider, endpoints[endpoint.name])
    return {
        "schema_version": SCHEMA_VERSION,
        "platform": config.platform,
        "kubeconfig": platform.kubeconfig,
        "endpoints": endpoints,
        **platform.outputs,
    }
