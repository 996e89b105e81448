"""Exposure rules that keep the README's promise for public endpoints (R24, issue 12):
- what a load balancer may put in front of an engine or router (`exposure_problems`: an NLB
  cannot filter paths, so it never fronts the engine's unauthenticated routes publicly, nor a
  router's credential-free admin routes);
- a router behind a load balancer is refused until the load balancer is wired to the router
  (today it would bypass the router while the outputs point at the router, breaking R17);
- client and admin CIDRs parsed strictly (host bits named) and never the whole world unless the
  stack opts in explicitly, as `k3s_gcp.allow_public_admin` does;
- internal exposure without an API key is allowed, with a warning in the plan summary.
"""

from __future__ import annotations

from components.cidrs import world_cidr_problems
from components.manifests import exposure_problems
from components.spec import ExposureSpec
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig
from infra.config.stack import EksStack, HyperPodStack, KubernetesStack, StackConfig


def exposure_spec(endpoint: EndpointConfig) -> ExposureSpec:
    """How clients reach the endpoint (R23, R24): one definition for every platform."""
    e = endpoint.exposure
    return ExposureSpec(
        type=e.type, scheme=e.scheme, certificate_arn=e.certificate_arn,
        inbound_cidrs=tuple(e.inbound_cidrs), idle_timeout_seconds=e.idle_timeout_seconds,
        group_name=e.group_name, hostname=e.hostname,
    )


def _at(index: int, *parts: str) -> str:
    return f"{NAMESPACE}:" + key_path("endpoints", index, *parts)


def check_exposure(config: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    for index, endpoint in enumerate(config.endpoints):
        exposure = exposure_spec(endpoint)
        routed = endpoint.router is not None
        for text in exposure_problems(exposure, routed=routed):
            problems.append(Problem(_at(index, "exposure", "type"), text))
        if routed and exposure.type != "cluster":
            problems.append(Problem(_at(index, "router"), (
                f"together with exposure {exposure.type}: the load balancer would reach the "
                "engines, not the router, while the outputs name the router (R17); use exposure "
                "cluster for routed endpoints")))
        if exposure.type != "cluster" and not endpoint.exposure.allow_world:
            for text in world_cidr_problems(exposure.inbound_cidrs):
                problems.append(Problem(_at(index, "exposure", "inbound_cidrs"), (
                    f"{text}; list your clients' CIDRs, or set exposure.allow_world: true if the "
                    "endpoint really is for the whole internet (R24)")))
    problems += _api_cidrs(config)
    # Without the controller there is no load balancer (the platform rules say so already).
    if isinstance(config, KubernetesStack) and \
            config.platform_settings.aws_load_balancer_controller and \
            not config.platform_settings.load_balancer_cidrs:
        problems += [Problem(_at(i, "exposure", "type"), (
            f"{e.exposure.type!r} needs {NAMESPACE}:kubernetes.load_balancer_cidrs (the VPC "
            "CIDR the load balancer's ENIs use), so the engine's NetworkPolicy admits it"))
            for i, e in enumerate(config.endpoints) if e.exposure.type != "cluster"]
    return problems


def _api_cidrs(config: StackConfig) -> list[Problem]:
    if not isinstance(config, EksStack | HyperPodStack):
        return []
    settings = config.platform_settings
    if settings.allow_public_api:
        return []
    section = "eks" if isinstance(config, EksStack) else "hyperpod"
    return [Problem(f"{NAMESPACE}:{section}.api_public_access_cidrs", (
        f"{text}; list your admins' CIDRs, or set {section}.allow_public_api: true if you "
        "really mean it (R24)")) for text in world_cidr_problems(settings.api_public_access_cidrs)]


def exposure_warnings(config: StackConfig) -> list[str]:
    """Allowed, but worth hearing: internal endpoints without a key."""
    warnings = []
    for index, endpoint in enumerate(config.endpoints):
        if endpoint.exposure.type != "cluster" and not endpoint.api_key:
            warnings.append(f"{_at(index, 'api_key')}: false on a {endpoint.exposure.type} "
                            "load balancer: anyone in the VPC can use the endpoint")
    return warnings
