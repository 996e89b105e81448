"""IAM documents for an EKS engine's own role (IRSA): read one bucket prefix, nothing else.

infra/ creates the role (one per endpoint with an S3 source and no static credentials) with
`engine_trust_policy` as its trust and `s3_read_policy` inline, and annotates the endpoint's
service account with `eks.amazonaws.com/role-arn`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.component import type_token
from components.k8s_objects import create_object

# S3 bucket naming rules (3-63 chars, lower-case letters, digits, dots, hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def s3_read_policy(bucket: str, prefix: str = "", partition: str = "aws") -> dict[str, Any]:
    """GetObject under `prefix` and ListBucket limited to it (`s3:prefix` condition).

    An empty prefix means the whole bucket (still only this bucket, still read-only).
    """
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"not an S3 bucket name: {bucket!r}")
    if "*" in prefix or "?" in prefix:
        raise ValueError(f"prefix must be literal, got {prefix!r}")
    clean = prefix.strip("/")
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    objects = f"{bucket_arn}/{clean}/*" if clean else f"{bucket_arn}/*"
    list_statement = iam.statement(["s3:ListBucket"], [bucket_arn], sid="ListModelPrefix",
                                   conditions={"StringLike": {"s3:prefix": [
                                       clean, f"{clean}/*"]}} if clean else None)
    return iam.policy_document([
        list_statement,
        iam.statement(["s3:GetObject"], [objects], sid="ReadModelObjects"),
    ])


def engine_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str,
                        service_account: str) -> dict[str, Any]:
    """IRSA trust bound to the endpoint's one service account (no wildcards)."""
    return iam.irsa_trust_policy(oidc_provider_arn, oidc_issuer, namespace, service_account)


SERVICE_ACCOUNT_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass
class EngineIdentityArgs:
    """Flat args: the endpoint's namespace and name, its bucket/prefix, the cluster's OIDC."""

    namespace: str
    service_account: str
    labels: dict[str, str]
    bucket: str
    prefix: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    provider: k8s.Provider | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class EngineIdentity(pulumi.ComponentResource):
    """An engine's own IAM role (IRSA): read one bucket prefix, trusted by one service account;
    the ServiceAccount the engine pods run as, annotated with the role."""

    role_arn: pulumi.Output[str]
    service_account: pulumi.CustomResource

    def __init__(self, name: str, args: EngineIdentityArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "EngineIdentity"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: iam.to_json(engine_trust_policy(v[0], v[1], args.namespace,
                                                      args.service_account)))
        role = aws.iam.Role(f"{name}-role", assume_role_policy=trust,
                            description=f"Engine {args.namespace}/{args.service_account}: reads "
                                        f"s3://{args.bucket}/{args.prefix.strip('/')}",
                            opts=child)
        aws.iam.RolePolicy(f"{name}-s3-read", role=role.name,
                           policy=iam.to_json(s3_read_policy(args.bucket, args.prefix)),
                           opts=child)
        self.role_arn = role.arn
        account = {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": args.service_account, "namespace": args.namespace,
                         "labels": args.labels,
                         "annotations": {SERVICE_ACCOUNT_ANNOTATION: role.arn}},
            # The EKS pod identity webhook mounts its own projected token for STS; the API
            # token stays unmounted (the pods never call the Kubernetes API).
            "automountServiceAccountToken": False,
        }
        self.service_account = create_object(f"{name}-sa", account, pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=list(args.depends_on)))
        self.register_outputs({"role_arn": self.role_arn})
