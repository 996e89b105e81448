"""The namespaces the program creates, with what guards the pods in them (issue 12, point 2):
Pod Security Admission labels at the strictest level the engines tolerate, and NetworkPolicies
(default deny, then who may reach which engine or router port) around the program's own engine
pods. Namespaces whose pods an operator owns (HyperPod) get neither: the operator decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import network_policy, pod_security
from components.batch_feeder import DEFAULT_METRICS_PORT
from components.batch_manifests import BatchJobSpec
from components.k8s_objects import create_object
from components.router_manifests import RouterSpec
from components.spec import PART_OF, EndpointSpec
from infra.platforms.base import PlatformContext


def create_namespaces(names: Sequence[str], platform: PlatformContext, kubernetes_version: str,
                      engines: Sequence[EndpointSpec], routers: Mapping[str, RouterSpec],
                      batch_jobs: Sequence[BatchJobSpec],
                      traffic: network_policy.TrafficSources | None
                      ) -> dict[str, pulumi.Resource]:
    """One Namespace per name; with `traffic` (the program runs the pods), PSA labels and the
    namespace's NetworkPolicies, except those each `Router` component creates itself."""
    created: dict[str, pulumi.Resource] = {}
    opts = pulumi.ResourceOptions(provider=platform.provider, depends_on=platform.depends_on)
    for name in sorted(set(names)):
        members = [e for e in engines if e.namespace == name]
        jobs = [j for j in batch_jobs if j.namespace == name]
        labels = {"app.kubernetes.io/part-of": PART_OF}
        if traffic is not None:
            pods = [*members, *(j.endpoint for j in jobs)]
            labels.update(pod_security.namespace_labels(pods, kubernetes_version))
        namespace = k8s.core.v1.Namespace(f"ns-{name}", metadata={"name": name,
                                                                  "labels": labels}, opts=opts)
        created[name] = namespace
        if traffic is None:
            continue
        policy_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            depends_on=[namespace]))
        for policy in _policies(name, members, routers, jobs, traffic):
            create_object(f"netpol-{name}-{policy['metadata']['name']}", policy, policy_opts)
    return created


def _policies(name: str, members: Sequence[EndpointSpec], routers: Mapping[str, RouterSpec],
              jobs: Sequence[BatchJobSpec], traffic: network_policy.TrafficSources
              ) -> list[dict[str, Any]]:
    """Default deny, the engines' and routers' allow policies (minus the Router component's
    own), and Prometheus to each batch job's feeder metrics (its engine serves only the
    feeder, on loopback)."""
    ns_routers = [r for r in routers.values() if r.namespace == name]
    own = {p["metadata"]["name"] for r in ns_routers
           for p in network_policy.router_policies(r, traffic)}
    policies = [p for p in network_policy.namespace_policies(name, members, ns_routers, traffic)
                if p["metadata"]["name"] not in own]
    policies += [network_policy.metrics_only_policy(
        f"{job.name}-batch-metrics", name, {"app.kubernetes.io/instance": job.name,
                                            "app.kubernetes.io/component": "batch"},
        DEFAULT_METRICS_PORT, traffic) for job in jobs]
    return policies
