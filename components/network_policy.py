"""Pure NetworkPolicy builders for the namespaces and pods this program creates (issue 12, 2).

Shape: one default-deny-ingress policy per namespace, then one allow policy per engine and per
router that names exactly who may reach which port:
- an engine behind a vllm-router: only that router's pods, on the engine port;
- an engine without a router, or a router: in-cluster clients (pods of the same namespace
  labelled `inference-stacks/client: "true"`, plus namespaces matching `client_namespaces`) and,
  when exposed by a load balancer, the load balancer's subnets (`load_balancer_cidrs`: the ALB/NLB
  ENIs in IP target mode are the source addresses; the ALB forwards only `/v1`);
- Prometheus (namespaces matching `prometheus_namespaces`, a label selector) to the metrics
  port: the engine's serving port (engines serve /metrics there) and the router's own port.
A router's admin routes (`/add_worker`, `/remove_worker`) share its serving port, so nothing in
another namespace reaches that port unless it was named a client namespace.

kubectl port-forward (smoke checks) enters the pod's network namespace through the kubelet and
is not subject to NetworkPolicy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.router_manifests import RouterSpec
from components.spec import PART_OF, EndpointSpec, ExposureSpec

CLIENT_LABEL = "inference-stacks/client"
# The namespace Prometheus runs in, by the label every namespace carries since Kubernetes 1.22.
DEFAULT_PROMETHEUS_NAMESPACES = {"kubernetes.io/metadata.name": "monitoring"}


@dataclass(frozen=True)
class TrafficSources:
    """Who, outside the endpoint's own pods, may connect (callers fill in the platform facts)."""

    load_balancer_cidrs: tuple[str, ...] = ()
    prometheus_namespaces: Mapping[str, str] | None = field(
        default_factory=lambda: dict(DEFAULT_PROMETHEUS_NAMESPACES))
    client_namespaces: Mapping[str, str] | None = None


def _metadata(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": PART_OF,
                       "app.kubernetes.io/managed-by": "pulumi", **labels}}


def _policy(name: str, namespace: str, pods: Mapping[str, str],
            ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, namespace),
        "spec": {"podSelector": {"matchLabels": dict(pods)} if pods else {},
                 "policyTypes": ["Ingress"],
                 "ingress": ingress},
    }


def _port(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def default_deny_ingress(namespace: str) -> dict[str, Any]:
    """Every pod of the namespace: no ingress unless another policy allows it."""
    return _policy("default-deny-ingress", namespace, {}, [])


def _client_rules(port: int, exposed: bool, sources: TrafficSources) -> list[dict[str, Any]]:
    peers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}]
    if sources.client_namespaces:
        peers.append({"namespaceSelector": {"matchLabels": dict(sources.client_namespaces)}})
    if exposed:
        if not sources.load_balancer_cidrs:
            raise ValueError("an endpoint exposed by a load balancer needs load_balancer_cidrs "
                             "(the subnets its ENIs live in) for its NetworkPolicy")
        peers += [{"ipBlock": {"cidr": cidr}} for cidr in sources.load_balancer_cidrs]
    return [{"from": peers, "ports": _port(port)}]


def _prometheus_rule(port: int, sources: TrafficSources) -> list[dict[str, Any]]:
    if not sources.prometheus_namespaces:
        return []
    peer = {"namespaceSelector": {"matchLabels": dict(sources.prometheus_namespaces)}}
    return [{"from": [peer], "ports": _port(port)}]


def routed_engine_policy(router: RouterSpec, sources: TrafficSources) -> dict[str, Any]:
    """Ingress to the engine pods behind `router`: that router's pods and Prometheus only."""
    rules = [{"from": [{"podSelector": {"matchLabels": dict(router.selector)}}],
              "ports": _port(router.engine_port)}]
    rules += _prometheus_rule(router.engine_port, sources)
    return _policy(f"{router.endpoint}-engine-ingress", router.namespace,
                   router.engine_selector, rules)


def engine_policy(spec: EndpointSpec, sources: TrafficSources,
                  router: RouterSpec | None = None) -> dict[str, Any]:
    """Ingress to one endpoint's engine pods: its router only, or its clients; Prometheus."""
    if router is not None:
        if router.namespace != spec.namespace or router.engine_selector != spec.selector:
            raise ValueError(f"router {router.name} does not front endpoint {spec.name}")
        return routed_engine_policy(router, sources)
    rules = _client_rules(spec.port, spec.exposure.type != "cluster", sources)
    rules += _prometheus_rule(spec.port, sources)
    return _policy(f"{spec.name}-engine-ingress", spec.namespace, spec.selector, rules)


def router_policies(router: RouterSpec, sources: TrafficSources | None = None,
                    exposure: ExposureSpec | None = None) -> list[dict[str, Any]]:
    """The policies the `Router` component creates itself: its engines take traffic only from
    it, and it only from labelled client pods of its namespace, the load balancer's subnets
    when `exposure` is alb (then `sources.load_balancer_cidrs` is required), and Prometheus."""
    sources = sources or TrafficSources()
    return [routed_engine_policy(router, sources),
            router_policy(router, exposure or ExposureSpec(), sources)]


def router_policy(spec: RouterSpec, exposure: ExposureSpec,
                  sources: TrafficSources) -> dict[str, Any]:
    """Ingress to one router's pods: clients (incl. the ALB) on its port, Prometheus on both
    its serving port (engine metrics it relays) and its own metrics port."""
    exposed = exposure.type != "cluster"
    rules = _client_rules(spec.port, exposed, sources)
    rules += _prometheus_rule(spec.prometheus_port, sources)
    return _policy(f"{spec.name}-ingress", spec.namespace, spec.selector, rules)


def namespace_policies(namespace: str, endpoints: Sequence[EndpointSpec],
                       routers: Sequence[RouterSpec], sources: TrafficSources
                       ) -> list[dict[str, Any]]:
    """Default deny plus one allow policy per engine and router of `namespace`."""
    by_endpoint = {r.endpoint: r for r in routers if r.namespace == namespace}
    policies = [default_deny_ingress(namespace)]
    for spec in endpoints:
        if spec.namespace != namespace:
            continue
        router = by_endpoint.get(spec.name)
        policies.append(engine_policy(spec, sources, router))
        if router is not None:
            policies.append(router_policy(router, spec.exposure, sources))
    return policies


def selects(policy: Mapping[str, Any], namespace: str, labels: Mapping[str, str]) -> bool:
    """Does `policy` apply to a pod with `labels` in `namespace` (matchLabels only)?"""
    if policy["metadata"]["namespace"] != namespace:
        return False
    wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def allows(policies: Sequence[Mapping[str, Any]], namespace: str, labels: Mapping[str, str],
           port: int, *, peer_namespace: str, peer_labels: Mapping[str, str],
           peer_namespace_labels: Mapping[str, str] | None = None,
           peer_ip_in: str | None = None) -> bool:
    """Would a pod (or ipBlock `peer_ip_in`) reach `port` of the pod `labels` in `namespace`?

    A small evaluator of the subset of NetworkPolicy these builders emit (matchLabels, ipBlock
    by exact CIDR), so tests can ask reachability questions of a stack's rendered policies.
    """
    applying = [p for p in policies if selects(p, namespace, labels)
                and "Ingress" in p["spec"]["policyTypes"]]
    if not applying:
        return True  # no policy selects the pod: Kubernetes allows everything
    ns_labels = dict(peer_namespace_labels or {})
    ns_labels.setdefault("kubernetes.io/metadata.name", peer_namespace)
    for policy in applying:
        for rule in policy["spec"].get("ingress", []):
            if not any(p.get("port") == port for p in rule.get("ports", [])):
                continue
            for peer in rule.get("from", []):
                if "ipBlock" in peer:
                    if peer_ip_in is not None and peer["ipBlock"]["cidr"] == peer_ip_in:
                        return True
                    continue
                if peer_ip_in is not None:
                    continue
                pod_sel = (peer.get("podSelector") or {}).get("matchLabels")
                ns_sel = (peer.get("namespaceSelector") or {}).get("matchLabels")
                if "namespaceSelector" not in peer and peer_namespace != namespace:
                    continue
                if ns_sel is not None and not all(ns_labels.get(k) == v
                                                  for k, v in ns_sel.items()):
                    continue
                if pod_sel is not None and not all(peer_labels.get(k) == v
                                                   for k, v in pod_sel.items()):
                    continue
                return True
    return False
