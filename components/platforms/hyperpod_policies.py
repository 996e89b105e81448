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


def operator_execution_trust(oidc: Oidc, account_id: str | None = None,
                             region: str | None = None, partition: str = "aws"
                             ) -> dict[str, Any]:
    """SageMaker itself (for this account's SageMaker resources in `region` when given) plus
    the operator's service account, and nothing else."""
    if account_id is not None:
        source = (f"arn:{partition}:sagemaker:{region}:{account_id}:*" if region else None)
        statements = sagemaker_trust(account_id, source, partition)["Statement"]
    else:
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


def keda_policy(prometheus_workspace_arns: list[str] | None = None) -> dict[str, Any]:
    """KEDA scalers the operator's autoScalingSpec uses: CloudWatch, and Amazon Managed
    Prometheus on exactly the stack's workspaces (the one the program creates, or the ones the
    endpoints name); no Prometheus permission at all when no endpoint autoscales on one.

    KEDA's Prometheus scaler only runs instant queries (`aps:QueryMetrics`). CloudWatch metric
    reads have no resource-level permissions, so their Resource is "*".
    """
    statements = [iam.statement(["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics",
                                 "cloudwatch:ListMetrics"], sid="CloudWatchRead")]
    arns = sorted(set(prometheus_workspace_arns or []))
    if arns:
        statements.append(iam.statement(["aps:QueryMetrics"], arns,
                                        sid="PrometheusQueryStackWorkspaces"))
    return iam.policy_document(statements)


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


def sagemaker_trust(account_id: str, source_arn: str | None = None,
                    partition: str = "aws") -> dict[str, Any]:
    """`sagemaker.amazonaws.com` may assume the role only on behalf of this account (and, with
    `source_arn`, only for matching SageMaker resources): the confused-deputy guard."""
    if not account_id.isdigit() or len(account_id) != 12:
        raise ValueError(f"account id must be 12 digits, got {account_id!r}")
    condition: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn is not None:
        if not source_arn.startswith(f"arn:{partition}:sagemaker:"):
            raise ValueError(f"source ARN must be a SageMaker ARN, got {source_arn!r}")
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return iam.policy_document([{
        "Effect": "Allow",
        "Principal": {"Service": SAGEMAKER_SERVICE},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }])


def cluster_source_arn(region: str, account_id: str, partition: str = "aws") -> str:
    """Every HyperPod cluster of the account in the region (the name is not known in advance:
    the role must exist before the cluster)."""
    return f"arn:{partition}:sagemaker:{region}:{account_id}:cluster/*"


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN such as the HyperPod cluster's."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[1], parts[3], parts[4]


# What HyperPod EKS nodes need beyond AmazonSageMakerClusterInstanceRolePolicy, as in AWS's own
# template (aws-samples/awsome-distributed-training, 7.sagemaker-hyperpod-eks
# sagemaker-iam-role-stack.yaml): ENI management for the VPC CNI, ECR pulls, EKS Pod Identity.
VPC_CNI_ACTIONS = (
    "ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups", "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute", "ec2:UnassignPrivateIpAddresses",
)
ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetAuthorizationToken",
                    "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


def instance_node_policy(region: str, account_id: str, eks_cluster_name: str | None = None,
                         partition: str = "aws") -> dict[str, Any]:
    """Inline policy of the HyperPod instance role on an EKS-orchestrated cluster.

    Differences from AWS's template, all narrower: ENI tagging only on this account's and
    region's network interfaces; Pod Identity only for the one EKS cluster when named. ENI
    create/attach and ECR pulls stay "*" (the CNI works on subnets and security groups the
    program does not know here, and HyperPod pulls AWS-owned images from other accounts).
    """
    pod_identity = (f"arn:{partition}:eks:{region}:{account_id}:cluster/{eks_cluster_name}"
                    if eks_cluster_name else "*")
    return iam.policy_document([
        iam.statement(list(VPC_CNI_ACTIONS), sid="VpcCniEni"),
        iam.statement(["ec2:CreateTags"],
                      [f"arn:{partition}:ec2:{region}:{account_id}:network-interface/*"],
                      sid="VpcCniEniTags"),
        iam.statement(list(ECR_PULL_ACTIONS), sid="EcrPull"),
        iam.statement(["eks-auth:AssumeRoleForPodIdentity"], [pod_identity],
                      sid="EksPodIdentity"),
    ])


def instance_role_trust(eks_cluster_arn: str) -> dict[str, Any]:
    """The instance role's trust, from the orchestrating EKS cluster's ARN (same account and
    region as the HyperPod cluster it serves)."""
    partition, region, account = arn_parts(eks_cluster_arn)
    return sagemaker_trust(account, cluster_source_arn(region, account, partition), partition)


def instance_node_policy_of(eks_cluster_arn: str) -> dict[str, Any]:
    partition, region, account = arn_parts(eks_cluster_arn)
    return instance_node_policy(region, account, eks_cluster_arn.rsplit("/", 1)[-1], partition)


def fsx_csi_policy(file_system_ids: list[str], region: str, account_id: str,
                   partition: str = "aws") -> dict[str, Any] | None:
    """FSx CSI controller for statically provisioned volumes on the stack's file systems only,
    instead of AmazonFSxFullAccess; None when no endpoint uses FSx (the add-on, which the
    inference operator requires, then runs with no AWS permissions at all)."""
    if not file_system_ids:
        return None
    arns = [f"arn:{partition}:fsx:{region}:{account_id}:file-system/{fs}"
            for fs in sorted(set(file_system_ids))]
    return iam.policy_document([
        iam.statement(["fsx:DescribeFileSystems"], arns, sid="FsxDescribeStackFileSystems"),
    ])
