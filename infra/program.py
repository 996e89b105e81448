"""The Pulumi program: validate the whole stack config, then compose and export the outputs.

One path for every platform and endpoint: the platform's resources, a Namespace per endpoint
namespace, each endpoint deployed by its platform at the placement the rules registry resolved,
a router in front where asked, and one outputs contract entry per endpoint.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as runtime_config

from components.endpoint import InferenceEndpoint
from components.router import Router, RouterArgs
from components.spec import PART_OF
from infra.config.base import NAMESPACE, ConfigError
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.contract import EndpointOutput
from infra.platforms import BUILDERS
from infra.platforms.base import EndpointRequest, PlatformContext
from infra.resolve.endpoint import engine_profile, exposure_spec
from infra.resolve.outputs import endpoint_entry, routed_entry, stack_outputs
from infra.resolve.router import prometheus_port, router_spec
from infra.validate.load import load_stack_config
from infra.validate.registry import PLATFORMS
from infra.validate.rules import stack_warnings


def _namespaces(config: StackConfig, platform: PlatformContext) -> dict[str, pulumi.Resource]:
    return {
        ns: k8s.core.v1.Namespace(
            f"ns-{ns}", metadata={"name": ns, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            opts=pulumi.ResourceOptions(provider=platform.provider,
                                        depends_on=platform.depends_on),
        )
        for ns in sorted({e.namespace for e in config.endpoints})
    }


def _with_router(entry: EndpointOutput, endpoint: EndpointConfig, config: StackConfig,
                 deployed: Any, platform: PlatformContext) -> EndpointOutput:
    """A managed endpoint: vllm-router in front of the engines; the outputs point at it."""
    if endpoint.router is None:
        return entry
    # Only engine Deployments can be routed; the rules reject `router` on HyperPod.
    assert isinstance(deployed, InferenceEndpoint)
    engine = deployed.spec
    spec = router_spec(endpoint.router, engine, prometheus_port(config, endpoint))
    router = Router(spec.name, RouterArgs(
        spec=spec, provider=platform.provider, depends_on=[deployed],
        startup_budget_seconds=engine.probes.startup_budget_seconds))
    return routed_entry(entry, spec, router, engine.name, engine.selector)


def compose(config: StackConfig) -> dict[str, Any]:
    """Create the platform and every endpoint; return the stack outputs (contract v1)."""
    for warning in stack_warnings(config):
        pulumi.log.warn(warning)
    rules, builder = PLATFORMS[config.platform], BUILDERS[config.platform]
    platform = builder.build(config)
    namespaces = _namespaces(config, platform)
    entries: dict[str, EndpointOutput] = {}
    for endpoint in config.endpoints:
        placement = rules.place(endpoint, config.platform_settings)
        deployed = builder.deploy(EndpointRequest(
            endpoint, config, placement, platform, namespaces[endpoint.namespace]))
        entry = endpoint_entry(endpoint, config, placement, engine_profile(endpoint),
                               exposure_spec(endpoint), deployed, platform.aws_region)
        entries[endpoint.name] = _with_router(entry, endpoint, config, deployed, platform)
    return stack_outputs(config, platform.kubeconfig, entries, platform.outputs)


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
