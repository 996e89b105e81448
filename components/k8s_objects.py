"""The one way a rendered Kubernetes object (a plain dict from a builder) becomes a resource.

Builders return objects as `kubectl apply` would take them; components hand them to
`create_object`, which picks the typed pulumi-kubernetes class from apiVersion/kind and turns
the top-level keys into constructor arguments (`stringData` -> `string_data`, `roleRef` ->
`role_ref`). Nested keys stay camelCase, as the typed classes accept them.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

CONSTRUCTORS: dict[tuple[str, str], Any] = {
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}


def constructor_kwargs(obj: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs of a rendered object; apiVersion/kind come from the resource class."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in obj.items()
            if k not in ("apiVersion", "kind")}


def create_object(name: str, obj: dict[str, Any],
                  opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Instantiate `obj` with the typed resource class of its apiVersion and kind; objects of
    a CRD (an API group with a dot that is not Kubernetes' own) become `CustomResource`s."""
    key = (str(obj["apiVersion"]), str(obj["kind"]))
    if key in CONSTRUCTORS:
        typed: pulumi.CustomResource = CONSTRUCTORS[key](name, **constructor_kwargs(obj),
                                                          opts=opts)
        return typed
    group = key[0].rsplit("/", 1)[0] if "/" in key[0] else ""
    if "." not in group or group.endswith("k8s.io"):
        raise KeyError(f"no resource class for {key[0]} {key[1]}; add it to CONSTRUCTORS")
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    custom: pulumi.CustomResource = k8s.apiextensions.CustomResource(
        name, api_version=key[0], kind=key[1], **body, opts=opts)
    return custom
