"""Pure builders for IAM policy documents and trust policies (no Pulumi, no AWS calls).

Why this exists: every IAM role this program creates must be least-privilege and reviewable in
the offline plan. IRSA roles (the AWS Load Balancer Controller here; KEDA and the HyperPod
inference operator on platform hyperpod) trust exactly one Kubernetes service account of one
cluster's OIDC provider, never `system:serviceaccount:*`. Documents are plain dicts so tests can
assert on them and `json.dumps` them into `aws.iam.Policy` / `aws.iam.Role` inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"
STS_AUDIENCE = "sts.amazonaws.com"


def statement(
    actions: Sequence[str],
    resources: str | Sequence[str] = "*",
    conditions: Mapping[str, Mapping[str, Any]] | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """One Allow statement; `resources` "*" stays a string like the AWS documents write it."""
    body: dict[str, Any] = {}
    if sid:
        body["Sid"] = sid
    body["Effect"] = "Allow"
    body["Action"] = list(actions)
    body["Resource"] = resources if isinstance(resources, str) else list(resources)
    if conditions:
        body["Condition"] = {op: dict(values) for op, values in conditions.items()}
    return body


def policy_document(statements: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": [dict(s) for s in statements]}


def actions_of(document: Mapping[str, Any]) -> list[str]:
    """Every action a policy document allows (sorted, unique), for tests and review."""
    found: set[str] = set()
    for stmt in document.get("Statement", []):
        if stmt.get("Effect") != "Allow":
            continue
        action = stmt.get("Action", [])
        found.update([action] if isinstance(action, str) else action)
    return sorted(found)


def oidc_issuer_host(issuer: str) -> str:
    """`https://oidc.eks.../id/X` -> `oidc.eks.../id/X` (the condition key prefix IAM expects)."""
    return issuer.removeprefix("https://").rstrip("/")


def irsa_trust_policy(
    oidc_provider_arn: str, oidc_issuer_host_name: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Trust for IAM roles for service accounts, bound to exactly one service account.

    Both `sub` (the one namespace/service account) and `aud` (STS) are StringEquals, so no other
    pod in the cluster, and no other audience, can assume the role.
    """
    host = oidc_issuer_host(oidc_issuer_host_name)
    if not namespace or not service_account or "*" in namespace + service_account:
        raise ValueError("IRSA trust needs one exact namespace and service account, no wildcards")
    return policy_document([{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{host}:aud": STS_AUDIENCE,
        }},
    }])


def service_trust_policy(*services: str) -> dict[str, Any]:
    """Trust for AWS services (e.g. `ec2.amazonaws.com` for node roles)."""
    return policy_document([{
        "Effect": "Allow",
        "Principal": {"Service": list(services) if len(services) > 1 else services[0]},
        "Action": "sts:AssumeRole",
    }])


def to_json(document: Mapping[str, Any]) -> str:
    """Stable JSON (sorted keys) so a re-run never shows a spurious policy diff."""
    return json.dumps(document, sort_keys=True)


def managed_policy_arn(name: str, partition: str = "aws") -> str:
    """ARN of an AWS managed policy, e.g. AmazonEKSWorkerNodePolicy."""
    return f"arn:{partition}:iam::aws:policy/{name}"
