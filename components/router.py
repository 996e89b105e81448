"""`Router`: a `vllm-router` Deployment + Service (+ RBAC for discovery) in front of replicas.

Usable on any Kubernetes platform: it discovers the endpoint's engine pods by their selector, so
it needs nothing platform-specific. The program (`infra/program.py`) creates it after the
endpoint it fronts (the API key Secret must exist) and points the outputs at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import network_policy
from components import router_manifests as rm
from components.component import type_token
from components.k8s_objects import create_object
from components.spec import ExposureSpec
from components.timeouts import await_timeouts

TYPE_TOKEN = type_token(__name__, "Router")


@dataclass
class RouterArgs:
    """Flat args: the rendered router spec and the cluster's provider."""

    spec: rm.RouterSpec
    provider: k8s.Provider | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    # The fronted engines' startup budget: the router rolls out with them (await timeouts).
    startup_budget_seconds: int | None = None
    # NetworkPolicy inputs: who may connect (load balancer subnets, Prometheus namespaces) and
    # how the router is exposed; the defaults keep it in-cluster.
    traffic: network_policy.TrafficSources | None = None
    exposure: ExposureSpec | None = None


class Router(pulumi.ComponentResource):
    """vllm-router with Kubernetes service discovery of one endpoint's engine pods."""

    base_url: pulumi.Output[str]
    service: str
    port: int
    selector: dict[str, str]

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        spec = args.spec
        base = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                      depends_on=list(args.depends_on),
                                      delete_before_replace=True)
        account = create_object(spec.name, rm.service_account(spec), base)
        role = create_object(spec.name, rm.role(spec), base)
        binding = create_object(spec.name, rm.role_binding(spec), pulumi.ResourceOptions.merge(
            base, pulumi.ResourceOptions(depends_on=[account, role])))
        timeouts = (await_timeouts(args.startup_budget_seconds)
                    if args.startup_budget_seconds is not None else None)
        deployment = create_object(spec.name, rm.deployment(spec), pulumi.ResourceOptions.merge(
            base, pulumi.ResourceOptions(depends_on=[binding], custom_timeouts=timeouts)))
        create_object(spec.name, rm.service(spec), base)
        self.service, self.port, self.selector = spec.name, spec.port, dict(spec.selector)
        # Issue 12: the engines answer only this router; the router's admin routes (same port)
        # only labelled client pods of its namespace. Port-forwards are not affected.
        for policy in network_policy.router_policies(spec, args.traffic, args.exposure):
            create_object(policy["metadata"]["name"], policy, base)
        self.base_url = pulumi.Output.from_input(spec.cluster_url)
        self.register_outputs({"base_url": self.base_url,
                               "deployment": deployment.metadata.apply(  # type: ignore[attr-defined]
                                   lambda m: m["name"])})
