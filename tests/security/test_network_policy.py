"""Issue 12, point 2: NetworkPolicy builders, checked against each stack's rendered pods."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from components import network_policy as npol
from tests.contract.harness import validate_k8s_manifest
from tests.helpers import plan, stack_names
from tests.security.stack_specs import stack_specs

VPC = "10.0.0.0/16"
SOURCES = npol.TrafficSources(load_balancer_cidrs=(VPC,))
PROMETHEUS = {"peer_namespace": "monitoring", "peer_labels": {"app": "prometheus"}}
STRANGER = {"peer_namespace": "other", "peer_labels": {"app": "anything"}}


@functools.cache
def _plan(stack: str):  # type: ignore[no-untyped-def]
    return plan(stack)


def _pod_labels(stack: str) -> list[tuple[str, dict[str, str], list[int]]]:
    """(namespace, pod template labels, container ports) of every rendered Deployment."""
    found = []
    for obj in _plan(stack).manifests.values():
        if obj["kind"] != "Deployment":
            continue
        template = obj["spec"]["template"]
        ports = [p["containerPort"] for c in template["spec"]["containers"]
                 for p in c.get("ports", [])]
        found.append((obj["metadata"]["namespace"], template["metadata"]["labels"], ports))
    return found


def _policies(stack: str) -> list[dict[str, Any]]:
    specs = stack_specs(stack)
    result: list[dict[str, Any]] = []
    for namespace in sorted({e.namespace for e in specs.endpoints}):
        result += npol.namespace_policies(namespace, specs.endpoints, specs.routers, SOURCES)
    return result




@pytest.mark.parametrize("stack", stack_names())
def test_policies_are_valid_kubernetes_objects(stack: str) -> None:
    for policy in _policies(stack):
        validate_k8s_manifest(policy, "1.33")


@pytest.mark.parametrize("stack", stack_names())
def test_every_rendered_pod_is_selected_and_strangers_are_refused(stack: str) -> None:
    specs = stack_specs(stack)
    if specs.platform in ("hyperpod", "k3s-gcp"):
        pytest.skip(f"{specs.platform}: pods are the operator's or there are none")
    policies = _policies(stack)
    for namespace, labels, ports in _pod_labels(stack):
        allow = [p for p in policies if npol.selects(p, namespace, labels)
                 and p["metadata"]["name"] != "default-deny-ingress"]
        assert len(allow) == 1, (namespace, labels)
        assert any(npol.selects(p, namespace, labels) and p["metadata"]["name"]
                   == "default-deny-ingress" for p in policies)
        for port in ports:
            assert not npol.allows(policies, namespace, labels, port, **STRANGER), (labels, port)


@pytest.mark.parametrize("stack", stack_names())
def test_routed_engines_take_traffic_only_from_their_router(stack: str) -> None:
    specs = stack_specs(stack)
    policies = _policies(stack)
    for router in specs.routers:
        engine = next(e for e in specs.endpoints if e.name == router.endpoint)
        labels = engine.labels
        assert npol.allows(policies, engine.namespace, labels, engine.port,
                           peer_namespace=router.namespace, peer_labels=router.labels)
        # A client pod of the namespace goes through the router, not around it.
        client = {npol.CLIENT_LABEL: "true"}
        assert not npol.allows(policies, engine.namespace, labels, engine.port,
                               peer_namespace=engine.namespace, peer_labels=client)
        assert npol.allows(policies, router.namespace, router.labels, router.port,
                           peer_namespace=router.namespace, peer_labels=client)
        # The router's admin routes share its port: no other namespace reaches it.
        assert not npol.allows(policies, router.namespace, router.labels, router.port,
                               **STRANGER)
        assert npol.allows(policies, router.namespace, router.labels, router.prometheus_port,
                           **PROMETHEUS)
        assert not npol.allows(policies, router.namespace, router.labels,
                               router.prometheus_port, **STRANGER)


@pytest.mark.parametrize("stack", stack_names())
def test_prometheus_reaches_engine_metrics_and_load_balancers_reach_exposed_ports(
    stack: str,
) -> None:
    specs = stack_specs(stack)
    policies = _policies(stack)
    routed = {r.endpoint for r in specs.routers}
    for engine in specs.endpoints:
        assert npol.allows(policies, engine.namespace, engine.labels, engine.port, **PROMETHEUS)
        exposed = engine.exposure.type != "cluster" and engine.name not in routed
        assert npol.allows(policies, engine.namespace, engine.labels, engine.port,
                           peer_namespace="", peer_labels={}, peer_ip_in=VPC) is exposed


def test_prometheus_namespace_is_selectable_and_can_be_turned_off(
) -> None:
    specs = stack_specs("k3s-l4-bench")
    engine, router = specs.endpoints[-1], specs.routers[-1]
    custom = npol.TrafficSources(prometheus_namespaces={"team": "observability"})
    policy = npol.engine_policy(engine, custom, router)
    assert {"namespaceSelector": {"matchLabels": {"team": "observability"}}} in [
        peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    off = npol.engine_policy(engine, npol.TrafficSources(prometheus_namespaces=None), router)
    assert len(off["spec"]["ingress"]) == 1


def test_exposed_endpoint_without_load_balancer_cidrs_is_an_error() -> None:
    specs = stack_specs("eks-gpu-public")
    with pytest.raises(ValueError, match="load_balancer_cidrs"):
        npol.engine_policy(specs.endpoints[0], npol.TrafficSources())


def test_default_deny_selects_every_pod() -> None:
    deny = npol.default_deny_ingress("inference")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}


def test_router_component_renders_the_engine_and_router_policies() -> None:
    """The Router component instantiates its own policies (in the stack's plan)."""
    specs = stack_specs("k3s-l4-bench")
    rendered = [o for o in _plan("k3s-l4-bench").manifests.values()
                if o["kind"] == "NetworkPolicy"]
    for router in specs.routers:
        expected = npol.router_policies(router)
        for policy in expected:
            match = [o for o in rendered if o["metadata"]["name"] == policy["metadata"]["name"]
                     and o["metadata"]["namespace"] == router.namespace]
            assert match and match[0]["spec"] == policy["spec"], policy["metadata"]["name"]
        engine = next(e for e in specs.endpoints if e.name == router.endpoint)
        # Without any namespace-wide default deny, the rendered policies alone already keep
        # everyone but the router away from the engines.
        assert not npol.allows(rendered, engine.namespace, engine.labels, engine.port,
                               peer_namespace=engine.namespace,
                               peer_labels={npol.CLIENT_LABEL: "true"})
        assert npol.allows(rendered, engine.namespace, engine.labels, engine.port,
                           peer_namespace=router.namespace, peer_labels=router.labels)


def test_an_alb_exposed_router_admits_the_load_balancer_subnets_only_when_given() -> None:
    from components.spec import ExposureSpec

    router = stack_specs("k3s-l4-bench").routers[0]
    alb = ExposureSpec(type="alb", scheme="internal")
    with pytest.raises(ValueError, match="load_balancer_cidrs"):
        npol.router_policies(router, npol.TrafficSources(), alb)
    policies = npol.router_policies(router, SOURCES, alb)
    assert npol.allows(policies, router.namespace, router.labels, router.port,
                       peer_namespace="", peer_labels={}, peer_ip_in=VPC)
    assert not npol.allows(policies, router.namespace, router.labels, router.port, **STRANGER)
