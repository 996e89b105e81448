"""IAM documents for an EKS engine's own role (IRSA): read one bucket prefix, nothing else.

infra/ creates the role (one per endpoint with an S3 source and no static credentials) with
`engine_trust_policy` as its trust and `s3_read_policy` inline, and annotates the endpoint's
service account with `eks.amazonaws.com/role-arn`.
"""

from __future__ import annotations

import re
from typing import Any

from components import iam

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
