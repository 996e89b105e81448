"""What a platform contributes to the program: its resources and how its endpoints deploy.

The builder registry (`infra/platforms/__init__.py`) maps each platform to a `PlatformBuilder`.
Every endpoint takes the same path in `infra/program.py`: placement from the rules registry,
then the platform's `deploy` with an explicit `EndpointRequest`, then one outputs entry. Most
platforms deploy `InferenceEndpoint` (the default); HyperPod deploys its operator's resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.endpoint import InferenceEndpoint, InferenceEndpointArgs
from components.observability_manifests import RemoteWrite
from components.platforms.keda import Keda, KedaArgs
from components.spec import EndpointSpec
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.resolve.endpoint import endpoint_spec
from infra.resolve.outputs import DeployedEndpoint
from infra.validate.placement import Placement


@dataclass
class PlatformMonitoring:
    """What a platform adds to the stack's monitoring (bundled mode): nothing by default."""

    # A remote-write target of the platform's own (HyperPod: its AMP workspace, url an Output)
    # and the annotations of the Prometheus service account (the IRSA role that may write).
    remote_write: RemoteWrite | None = None
    prometheus_service_account_annotations: dict[str, Any] = field(default_factory=dict)
    # GPU exporter placement where the nodes carry no nvidia.com/gpu.present label; None keeps
    # the config's node_selector.
    dcgm_node_selector: dict[str, str] | None = None
    dcgm_affinity: dict[str, Any] = field(default_factory=dict)
    dcgm_tolerations: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # beside the observability outputs
    depends_on: list[pulumi.Resource] = field(default_factory=list)


@dataclass
class PlatformContext:
    """What the platform built, as the endpoints need it."""

    name: str
    provider: k8s.Provider | None
    kubeconfig: pulumi.Output[str] | None = None
    aws_region: str | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Source addresses of the load balancers (ALB/NLB in IP mode: their subnets' CIDRs), which
    # the engines' NetworkPolicies admit on the serving port when an endpoint is exposed.
    load_balancer_cidrs: tuple[Any, ...] = ()
    monitoring: PlatformMonitoring = field(default_factory=PlatformMonitoring)


def keda_if_autoscaled(config: StackConfig, provider: k8s.Provider | None,
                       node_selector: dict[str, str] | None = None,
                       depends_on: list[pulumi.Resource] | None = None) -> list[pulumi.Resource]:
    """KEDA when any endpoint autoscales: what ScaledObjects must wait for ([] otherwise)."""
    if not any(e.autoscaling for e in config.endpoints):
        return []
    keda = Keda("keda", KedaArgs(provider=provider, node_selector=dict(node_selector or {}),
                                 depends_on=list(depends_on or [])))
    return [keda.release]


@dataclass(frozen=True)
class EndpointRequest:
    """Everything a platform needs to deploy one endpoint; nothing is read from elsewhere."""

    endpoint: EndpointConfig
    stack: StackConfig
    placement: Placement
    platform: PlatformContext
    namespace: pulumi.Resource  # the endpoint's Namespace, created by the program
    spec: EndpointSpec | None = None  # resolved by the program where the platform runs engines

    @property
    def depends_on(self) -> list[pulumi.Resource]:
        return [*self.platform.depends_on, self.namespace]


def deploy_engines(request: EndpointRequest,
                   extra_depends_on: Sequence[pulumi.Resource] = ()) -> InferenceEndpoint:
    """The endpoint as engine Deployment + Service (+ load balancer): every Kubernetes platform."""
    spec = request.spec or endpoint_spec(request.endpoint, request.placement,
                                         request.stack.hf_token is not None)
    return InferenceEndpoint(request.endpoint.name, InferenceEndpointArgs(
        spec=spec, provider=request.platform.provider, hf_token=request.stack.hf_token,
        depends_on=[*request.depends_on, *extra_depends_on],
    ))


@dataclass(frozen=True)
class PlatformBuilder:
    """A platform's resources (`build`) and its endpoint deployment (`deploy`)."""

    build: Callable[[Any], PlatformContext]
    deploy: Callable[[EndpointRequest], DeployedEndpoint] = deploy_engines
    # The program's engine pods, so it labels namespaces for Pod Security Admission and puts
    # NetworkPolicies around them; False where an operator owns the pods (HyperPod).
    engine_pods: bool = True
