"""What a platform is to the composition: a config section, GPU placement, checks, a builder.

The registry in `infra/platforms/__init__.py` maps each `inference-stacks:platform` value to a
`PlatformSpec`, so adding a platform is one entry, not another branch in the program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from components.gpu_catalog import Gpu
from infra.config.base import Problem, StrictModel

if TYPE_CHECKING:
    import pulumi
    import pulumi_kubernetes as k8s

    from infra.config.endpoint import EndpointConfig
    from infra.config.stack import StackConfig

GPU_TAINT_KEY = "nvidia.com/gpu"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class Placement:
    """Where an endpoint's pods run and what GPU they get (R3, R4)."""

    gpu: Gpu | None
    count: int
    instance_type: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()
    runtime_class: str | None = None

    @staticmethod
    def pinned(
        gpu: Gpu | None, count: int, instance_type: str | None,
        extra_selector: dict[str, str] | None = None, runtime_class: str | None = None,
    ) -> Placement:
        """GPU pods pinned to `instance_type` when named (R3) and tolerating the GPU taint."""
        selector = dict(extra_selector or {})
        if instance_type:
            selector[INSTANCE_TYPE_LABEL] = instance_type
        toleration = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
        return Placement(gpu, count, instance_type, selector, (toleration,), runtime_class)


class PlacementError(Exception):
    """A GPU request the platform cannot place; `field` is the key under the endpoint."""

    def __init__(self, field_path: str, message: str):
        self.field_path = field_path
        super().__init__(message)


@dataclass
class PlatformContext:
    """What the platform built, as the endpoints need it."""

    name: str
    provider: k8s.Provider | None
    kubernetes_version: str
    kubeconfig: pulumi.Output[str] | None = None
    aws_region: str | None = None
    load_balancers: bool = False  # an AWS Load Balancer Controller serves Ingress/NLB Services
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)  # set by compose
    # Platforms whose endpoints are not plain Deployments (HyperPod's InferenceEndpointConfig)
    # deploy them here and return the endpoint's outputs contract entry; None = InferenceEndpoint.
    deploy_endpoint: Callable[[EndpointConfig, StackConfig, PlatformContext], dict[str, Any]] | \
        None = None


@dataclass(frozen=True)
class PlatformSpec:
    """A platform: its config section model and the functions the composition calls."""

    name: str
    settings_model: type[StrictModel]
    place: Callable[[EndpointConfig, Any], Placement]
    check: Callable[[StackConfig], list[Problem]]
    build: Callable[[StackConfig], PlatformContext]
    kubernetes_version: Callable[[Any], str]
    # Offline plan: state for resources and results for invokes the mock engine cannot know
    # (cluster kubeconfigs, availability zones), keyed by type token / invoke token.
    plan_state_hooks: Mapping[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)
    plan_call_hooks: Mapping[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)

    @property
    def section(self) -> str:
        """Config key of the platform section: `inference-stacks:<section>`."""
        return self.name.replace("-", "_")
