"""The Pulumi program: validate the whole stack config, then compose and export the outputs.

One path for every platform and endpoint: the platform's resources, a Namespace per endpoint
namespace, each endpoint deployed by its platform at the placement the rules registry resolved,
a router in front where asked, and one outputs contract entry per endpoint.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.batch import BatchJob, BatchJobArgs
from components.batch_manifests import BatchJobSpec
from components.endpoint import InferenceEndpoint
from components.network_policy import TrafficSources
from components.observability import Observability, ObservabilityArgs
from components.observability_manifests import EndpointLike
from components.router import Router, RouterArgs
from components.router_manifests import RouterSpec
from infra.config.base import NAMESPACE, ConfigError
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.contract import BatchJobOutput, EndpointOutput
from infra.platforms import BUILDERS
from infra.platforms.base import EndpointRequest, PlatformContext
from infra.platforms.namespaces import create_namespaces
from infra.resolve.batch import batch_spec
from infra.resolve.endpoint import endpoint_spec, engine_profile
from infra.resolve.outputs import batch_entry, endpoint_entry, routed_entry, stack_outputs
from infra.resolve.router import prometheus_port, router_spec
from infra.validate.exposure import exposure_spec
from infra.validate.load import config_warnings, load_stack_config
from infra.validate.observability import observability_config, prometheus_url
from infra.validate.registry import PLATFORMS


def _with_router(entry: EndpointOutput, endpoint: EndpointConfig, deployed: Any,
                 router: RouterSpec | None, platform: PlatformContext,
                 traffic: TrafficSources | None) -> EndpointOutput:
    """A managed endpoint: vllm-router in front of the engines; the outputs point at it."""
    if router is None:
        return entry
    # Only engine Deployments can be routed; the rules reject `router` on HyperPod.
    assert isinstance(deployed, InferenceEndpoint)
    component = Router(router.name, RouterArgs(
        spec=router, provider=platform.provider, depends_on=[deployed], traffic=traffic,
        startup_budget_seconds=deployed.spec.probes.startup_budget_seconds))
    return routed_entry(entry, router, component, deployed.spec.name, deployed.spec.selector)


def compose(config: StackConfig) -> dict[str, Any]:
    """Create the platform and every endpoint; return the stack outputs (contract v1)."""
    for warning in config_warnings(config):
        pulumi.log.warn(warning)
    rules, builder = PLATFORMS[config.platform], BUILDERS[config.platform]
    platform = builder.build(config)
    settings, has_token = config.platform_settings, config.hf_token is not None
    placements = {e.name: rules.place(e, settings) for e in config.endpoints}
    prometheus = prometheus_url(config)
    specs = {e.name: endpoint_spec(e, placements[e.name], has_token, prometheus)
             for e in config.endpoints} if builder.engine_pods else {}
    routers = {e.name: router_spec(e.router, specs[e.name], prometheus_port(config, e))
               for e in config.endpoints if e.router is not None and e.name in specs}
    batch_specs = {j.name: batch_spec(j, rules.place(j.as_endpoint(), settings), has_token)
                   for j in config.batch_jobs}
    traffic = TrafficSources(load_balancer_cidrs=platform.load_balancer_cidrs) \
        if builder.engine_pods else None
    namespaces = create_namespaces(
        [e.namespace for e in config.endpoints] + [j.namespace for j in config.batch_jobs],
        platform, rules.kubernetes_version(settings),
        list(specs.values()), routers, list(batch_specs.values()), traffic)
    entries: dict[str, EndpointOutput] = {}
    monitored: list[EndpointLike] = []
    for endpoint in config.endpoints:
        placement = placements[endpoint.name]
        deployed = builder.deploy(EndpointRequest(
            endpoint, config, placement, platform, namespaces[endpoint.namespace],
            specs.get(endpoint.name)))
        monitored.append(deployed.engine_target)
        entry = endpoint_entry(endpoint, config, placement, engine_profile(endpoint),
                               exposure_spec(endpoint), deployed, platform.aws_region)
        entries[endpoint.name] = _with_router(entry, endpoint, deployed,
                                              routers.get(endpoint.name), platform, traffic)
    batch = {name: _batch_job(spec, config, platform, namespaces[spec.namespace])
             for name, spec in batch_specs.items()}
    monitoring = _observability(config, platform, monitored, list(routers.values()),
                                list(batch_specs.values()), list(namespaces.values()))
    return stack_outputs(config, platform.kubeconfig, entries, batch,
                         {"observability": monitoring, **platform.outputs})


def _observability(config: StackConfig, platform: PlatformContext, engines: list[EndpointLike],
                   routers: list[RouterSpec], batch_jobs: list[BatchJobSpec],
                   namespaces: list[pulumi.Resource]) -> dict[str, Any]:
    """Monitoring of every engine and router: scrape targets, GPU telemetry, rules, dashboards."""
    settings = observability_config(config)
    if settings.mode == "none":
        return {"mode": "none"}
    slos = {e.name: config.slos_for(e).ttft_p95_ms for e in config.endpoints}
    extra = platform.monitoring
    args = ObservabilityArgs.from_config(
        settings, engines, routers, slos, provider=platform.provider,
        depends_on=[*platform.depends_on, *extra.depends_on, *namespaces],
        batch_jobs=batch_jobs)
    args.platform_remote_write = extra.remote_write
    args.prometheus_service_account_annotations = dict(
        extra.prometheus_service_account_annotations)
    if extra.dcgm_node_selector is not None:
        args.gpu_node_selector = dict(extra.dcgm_node_selector)
    args.dcgm_affinity, args.dcgm_tolerations = dict(extra.dcgm_affinity), \
        list(extra.dcgm_tolerations)
    args.extra_outputs = dict(extra.outputs)
    return Observability("observability", args).outputs


def _batch_job(spec: BatchJobSpec, config: StackConfig, platform: PlatformContext,
               namespace: pulumi.Resource) -> BatchJobOutput:
    """A batch job's Indexed Job on the GPU pool, placed as its engine would be as an endpoint."""
    BatchJob(f"batch-{spec.name}", BatchJobArgs(
        spec=spec, provider=platform.provider, hf_token=config.hf_token,
        depends_on=[*platform.depends_on, namespace]))
    return batch_entry(spec.name, spec.namespace, spec.input, spec.output_location,
                       spec.status_location)


def raw_config_from_pulumi() -> dict[str, Any]:
    """All `inference-stacks:*` config of the running program (under Pulumi or mocks)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):]: v for k, v in merged.items() if k.startswith(prefix)}


def build_stack() -> dict[str, Any]:
    """Validate config (every problem, before any resource) and compose the stack."""
    return compose(load_stack_config(raw_config_from_pulumi()))


def main() -> None:
    """Entry point under `pulumi up/preview`: config mistakes end the run without a traceback."""
    try:
        outputs = build_stack()
    except ConfigError as exc:
        header = f"stack config has {len(exc.problems)} problem(s):"
        raise pulumi.RunError("\n".join([header, *(f"  {p}" for p in exc.problems)])) from None
    for key, value in outputs.items():
        pulumi.export(key, value)
