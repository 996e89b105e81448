"""`Router`: a `vllm-router` Deployment + Service (+ RBAC for discovery) in front of replicas.

Usable on any Kubernetes platform: it discovers the endpoint's engine pods by their selector, so
it needs nothing platform-specific. `attach_router` is the composition hook: when an endpoint
has `router` set, it creates the Router after the endpoint (its API key Secret must exist) and
points the endpoint's outputs (`base_url`, `service`, `port`, `selector`) at the router.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components import network_policy
from components import router_manifests as rm
from components.spec import EndpointSpec, ExposureSpec

if TYPE_CHECKING:
    from infra.config.endpoint import EndpointConfig, RouterConfig
    from infra.config.stack import StackConfig

TYPE_TOKEN = "inference-stacks:router:Router"


@dataclass
class RouterArgs:
    """Flat args: the rendered router spec and the cluster's provider."""

    spec: rm.RouterSpec
    provider: k8s.Provider | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    # NetworkPolicy inputs: who may connect (load balancer subnets, Prometheus namespaces) and
    # how the router is exposed; the defaults keep it in-cluster.
    traffic: network_policy.TrafficSources | None = None
    exposure: ExposureSpec | None = None


class Router(pulumi.ComponentResource):
    """vllm-router with Kubernetes service discovery of one endpoint's engine pods."""

    base_url: pulumi.Output[str]

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        spec = args.spec
        base = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                      depends_on=list(args.depends_on),
                                      delete_before_replace=True)
        account = k8s.core.v1.ServiceAccount(
            spec.name, **_body(rm.service_account(spec)), opts=base)
        role = k8s.rbac.v1.Role(spec.name, **_body(rm.role(spec)), opts=base)
        binding = k8s.rbac.v1.RoleBinding(
            spec.name, **_body(rm.role_binding(spec)),
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                depends_on=[account, role])))
        deployment = k8s.apps.v1.Deployment(
            spec.name, **_body(rm.deployment(spec)),
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                depends_on=[binding])))
        k8s.core.v1.Service(spec.name, **_body(rm.service(spec)), opts=base)
        # Issue 12: the engines answer only this router; the router's admin routes (same port)
        # only labelled client pods of its namespace. Port-forwards are not affected.
        for policy in network_policy.router_policies(spec, args.traffic, args.exposure):
            k8s.networking.v1.NetworkPolicy(policy["metadata"]["name"], **_body(policy),
                                            opts=base)
        self.base_url = pulumi.Output.from_input(spec.cluster_url)
        self.register_outputs({"base_url": self.base_url,
                               "deployment": deployment.metadata.apply(lambda m: m["name"])})


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs of a rendered object: top-level keys in snake_case (`roleRef` ->
    `role_ref`); apiVersion/kind come from the resource type. Nested keys stay camelCase."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in obj.items()
            if k not in ("apiVersion", "kind")}


def router_spec(router: RouterConfig, engine: EndpointSpec, prometheus_port: int) -> rm.RouterSpec:
    """The router of one endpoint: same namespace and port, engines found by their selector."""
    return rm.RouterSpec(
        endpoint=engine.name,
        namespace=engine.namespace,
        image=router.image or rm.DEFAULT_IMAGE,
        policy=router.policy,
        port=engine.port,
        engine_port=engine.port,
        engine_selector=dict(engine.selector),
        prometheus_port=prometheus_port,
        replicas=router.replicas,
        api_key_secret=engine.api_key_secret,
        engine_health_path=engine.profile.health_path,
        health_check_interval_seconds=router.health_check_interval_seconds,
    )


def prometheus_port(config: StackConfig, endpoint: EndpointConfig) -> int:
    """Explicit port, else 29000 + the router's position among the stack's routers.

    Distinct by construction, so routers that share a host (hostNetwork, local runs) never hit
    "Address already in use" on the default 29000 (FIELD_NOTES section 7).
    """
    assert endpoint.router is not None
    if endpoint.router.prometheus_port is not None:
        return endpoint.router.prometheus_port
    routed = [e for e in config.endpoints if e.router is not None]
    position = next(i for i, e in enumerate(routed) if e is endpoint)
    return rm.DEFAULT_PROMETHEUS_PORT + position


def attach_router(endpoint: EndpointConfig, config: StackConfig, engine: EndpointSpec,
                  component: pulumi.Resource, provider: k8s.Provider | None,
                  outputs: dict[str, Any]) -> dict[str, Any]:
    """Create the endpoint's router and return its outputs pointed at the router Service."""
    if endpoint.router is None:
        return outputs
    spec = router_spec(endpoint.router, engine, prometheus_port(config, endpoint))
    router = Router(spec.name, RouterArgs(spec=spec, provider=provider, depends_on=[component]))
    return {
        **outputs,
        "base_url": router.base_url,
        "service": spec.name,
        "port": spec.port,
        "selector": spec.selector,
        # The router's /health is 200 even with no engine; /readiness only with a healthy one.
        "health_path": rm.READINESS_PATH,
        "router": {
            "policy": spec.policy,
            "image": spec.image,
            "replicas": spec.replicas,
            "metrics_port": spec.prometheus_port,  # the router's own vllm_router_* metrics
            "discovery": "kubernetes",
            "engine_service": engine.name,
            "engine_selector": engine.selector,
        },
    }
