"""EndpointSpec/RouterSpec of every endpoint of a stack file, as the program resolves them.

The only place tests/security reaches into infra/ (config loading, placement, the router's
spec); if infra/ moves these, this is the one file to update.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.router_manifests import RouterSpec
from components.spec import EndpointSpec
from infra.plan import STACKS_DIR, read_stack_file
from infra.resolve.endpoint import endpoint_spec
from infra.resolve.router import prometheus_port, router_spec
from infra.validate.observability import prometheus_url
from infra.validate.registry import PLATFORMS
from tests.helpers import ASSUMED_SECRETS, load


@dataclass(frozen=True)
class StackSpecs:
    platform: str
    endpoints: list[EndpointSpec]
    routers: list[RouterSpec]


def stack_specs(stack: str) -> StackSpecs:
    raw, _secrets = read_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml",
                                    ASSUMED_SECRETS.get(stack, ()))
    config = load(raw)
    spec = PLATFORMS[config.platform]
    endpoints, routers = [], []
    prometheus = prometheus_url(config)  # what infra/program.py passes: the stack's Prometheus
    for endpoint in config.endpoints:
        placement = spec.place(endpoint, config.platform_settings)
        rendered = endpoint_spec(endpoint, placement, config.hf_token is not None, prometheus)
        endpoints.append(rendered)
        if endpoint.router is not None:
            routers.append(router_spec(endpoint.router, rendered,
                                       prometheus_port(config, endpoint)))
    return StackSpecs(config.platform, endpoints, routers)
