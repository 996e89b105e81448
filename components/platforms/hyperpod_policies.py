"""Pure IAM documents and service-account facts for platform hyperpod (no Pulumi).

Service accounts and role requirements are the ones the `amazon-sagemaker-hyperpod-inference`
EKS add-on uses, from aws/sagemaker-hyperpod-cli
`helm_chart/HyperPodHelmChart/charts/inference-operator/migration/helm_to_addon.sh` (the
official Helm-to-add-on migration) and the SageMaker developer guide pages
`sagemaker-hyperpod-model-deployment-setup` / `-ts-cli`. Every IRSA trust is bound to exactly
one service account (`components/iam.py:irsa_trust_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import iam

OPERATOR_NAMESPACE = "hyperpod-inference-system"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
# The add-on's operator service account (the Helm chart used ...-operator-controller-manager).
OPERATOR_SERVICE_ACCOUNT = "hyperpod-inference-controller-manager"
ALB_SERVICE_ACCOUNT = "aws-load-balancer-controller"  # in OPERATOR_NAMESPACE (add-on installs it)
KEDA_SERVICE_ACCOUNT = "keda-operator"  # in OPERATOR_NAMESPACE
S3_CSI_NAMESPACE, S3_CSI_SERVICE_ACCOUNT = "kube-system", "s3-csi-driver-sa"
FSX_CSI_NAMESPACE, FSX_CSI_SERVICE_ACCOUNT = "kube-system", "fsx-csi-controller-sa"

# Managed policies (names from the SageMaker developer guide and the migration script).
CLUSTER_INSTANCE_POLICY = "AmazonSageMakerClusterInstanceRolePolicy"
INFERENCE_ACCESS_POLICY = "AmazonSageMakerHyperPodInferenceAccess"
FSX_FULL_ACCESS_POLICY = "AmazonFSxFullAccess"
# The add-on only accepts an execution role whose name starts with this.
EXECUTION_ROLE_PREFIX = "SageMakerHyperPodInference"
IAM_ROLE_NAME_MAX = 64


@dataclass(frozen=True)
class Oidc:
    """The EKS cluster's IAM OIDC provider (plain strings; callers apply() over Outputs)."""

    provider_arn: str
    issuer: str

    def trust(self, namespace: str, service_account: str) -> dict[str, Any]:
        return iam.irsa_trust_policy(self.provider_arn, self.issuer, namespace, service_account)


def execution_role_name(cluster_name: str) -> str:
    """`SageMakerHyperPodInference-<cluster>`, within IAM's 64 characters."""
    name = f"{EXECUTION_ROLE_PREFIX}-{cluster_name}"[:IAM_ROLE_NAME_MAX]
    return name.rstrip("-")


def operator_execution_trust(oidc: Oidc) -> dict[str, Any]:
    """SageMaker itself plus the operator's service account, and nothing else."""
    statements = iam.service_trust_policy(SAGEMAKER_SERVICE)["Statement"]
    statements += oidc.trust(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)["Statement"]
    return iam.policy_document(statements)


def tls_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """What the operator does with its TLS certificate bucket (migration script's inline policy)."""
    objects = f"{bucket_arn}/*"
    same_account = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    return iam.policy_document([
        iam.statement(["s3:GetObject"], [objects], sid="TLSBucketGetObjectAccess"),
        iam.statement(["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"], [objects],
                      conditions=same_account, sid="TLSBucketWriteAccess"),
        iam.statement(["s3:ListBucket"], [bucket_arn], sid="TLSBucketList"),
    ])


def lifecycle_read_policy(bucket_arn: str) -> dict[str, Any]:
    """Instance groups read their lifecycle scripts; the managed policy covers only sagemaker-*."""
    return iam.policy_document([
        iam.statement(["s3:ListBucket"], [bucket_arn], sid="LifecycleList"),
        iam.statement(["s3:GetObject"], [f"{bucket_arn}/*"], sid="LifecycleRead"),
    ])


def model_read_policy(bucket_names: list[str]) -> dict[str, Any] | None:
    """Mountpoint S3 CSI driver: read-only on exactly the stack's model buckets."""
    if not bucket_names:
        return None
    buckets = [f"arn:aws:s3:::{b}" for b in sorted(set(bucket_names))]
    return iam.policy_document([
        iam.statement(["s3:ListBucket"], buckets, sid="ModelBucketList"),
        iam.statement(["s3:GetObject"], [f"{b}/*" for b in buckets], sid="ModelBucketRead"),
    ])


def keda_policy() -> dict[str, Any]:
    """KEDA scalers the operator's autoScalingSpec uses: CloudWatch and Amazon Managed Prometheus.

    CloudWatch metric reads have no resource-level permissions, so Resource is "*".
    """
    return iam.policy_document([
        iam.statement(["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics",
                       "cloudwatch:ListMetrics"], sid="CloudWatchRead"),
        iam.statement(["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels",
                       "aps:GetMetricMetadata"], sid="PrometheusQuery"),
    ])


def addon_configuration(
    execution_role_arn: str, tls_bucket: str, hyperpod_cluster_arn: str,
    alb_role_arn: str, keda_role_arn: str,
) -> dict[str, Any]:
    """`configurationValues` of the `amazon-sagemaker-hyperpod-inference` add-on.

    Keys as in the developer guide's add-on troubleshooting page and helm_to_addon.sh: the add-on
    installs its own ALB controller and KEDA in OPERATOR_NAMESPACE with these IRSA roles. The
    cluster ARN is passed explicitly because auto-detection fails when the operator lands on a
    node outside the HyperPod instance groups.
    """
    return {
        "executionRoleArn": execution_role_arn,
        "tlsCertificateS3Bucket": tls_bucket,
        "hyperpodClusterArn": hyperpod_cluster_arn,
        "alb": {"enabled": True,
                "serviceAccount": {"create": True, "roleArn": alb_role_arn}},
        "keda": {"enabled": True,
                 "auth": {"aws": {"irsa": {"enabled": True, "roleArn": keda_role_arn}}}},
    }
