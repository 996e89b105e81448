"""The namespaces the program creates, with what guards the pods in them (issue 12, point 2):
Pod Security Admission labels at the strictest level the engines tolerate, and NetworkPolicies
(default deny, then who may reach which engine or router port) around the program's own engine
pods. Namespaces whose pods an operator owns (HyperPod) get neither: the operator decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import network_policy, pod_security
from components.k8s_objects import create_object
from components.router_manifests import RouterSpec
from components.spec import PART_OF, EndpointSpec
from infra.platforms.base import PlatformContext


def create_namespaces(names: Sequence[str], platform: PlatformContext, kubernetes_version: str,
                      engines: Sequence[EndpointSpec], routers: Mapping[str, RouterSpec],
                      traffic: network_policy.TrafficSources | None
                      ) -> dict[str, pulumi.Resource]:
    """One Namespace per name; with `traffic` (the program runs the pods), PSA labels and the
    namespace's NetworkPolicies, except those each `Router` component creates itself."""
    created: dict[str, pulumi.Resource] = {}
    opts = pulumi.ResourceOptions(provider=platform.provider, depends_on=platform.depends_on)
    for name in sorted(set(names)):
        members = [e for e in engines if e.namespace == name]
        labels = {"app.kubernetes.io/part-of": PART_OF}
        if traffic is not None:
            labels.update(pod_security.namespace_labels(members, kubernetes_version))
        namespace = k8s.core.v1.Namespace(f"ns-{name}", metadata={"name": name,
                                                                  "labels": labels}, opts=opts)
        created[name] = namespace
        if traffic is None or not members:
            continue
        ns_routers = [r for r in routers.values() if r.namespace == name]
        own = {p["metadata"]["name"] for r in ns_routers
               for p in network_policy.router_policies(r, traffic)}
        for policy in network_policy.namespace_policies(name, members, ns_routers, traffic):
            if policy["metadata"]["name"] in own:
                continue
            create_object(f"netpol-{name}-{policy['metadata']['name']}", policy,
                          pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                              depends_on=[namespace])))
    return created
