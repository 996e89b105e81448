"""`InferenceOperator`: the HyperPod inference operator as the EKS add-on, with what it needs.

The add-on `amazon-sagemaker-hyperpod-inference` (the current route; the Helm chart
`hyperpod-inference-operator` is the older one and is not used) refuses to start without the
S3 Mountpoint CSI driver, the FSx CSI driver and cert-manager, so those are EKS add-ons here
too, created first. Its execution role name must start with `SageMakerHyperPodInference`; the
ALB controller and KEDA it installs get IRSA roles bound to their exact service accounts.
Versions are the ones AWS's troubleshooting guide and helm_to_addon.sh install.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.component import type_token, with_aliases
from components.platforms import hyperpod_policies as hpp

# aws/sagemaker-hyperpod-cli helm_to_addon.sh and the developer guide page
# sagemaker-hyperpod-model-deployment-ts-cli (add-on install commands).
ADDON_VERSIONS: dict[str, str] = {
    "aws-mountpoint-s3-csi-driver": "v1.14.1-eksbuild.1",
    "aws-fsx-csi-driver": "v1.6.0-eksbuild.1",
    "cert-manager": "v1.18.2-eksbuild.2",
    "amazon-sagemaker-hyperpod-inference": "v1.0.0-eksbuild.1",
}
INFERENCE_ADDON = "amazon-sagemaker-hyperpod-inference"


@dataclass
class InferenceOperatorArgs:
    """Flat args: the EKS cluster, its OIDC provider, the HyperPod cluster, policies, versions."""

    name_prefix: str
    eks_cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    hyperpod_cluster_arn: pulumi.Input[str]
    alb_controller_policy_json: str
    model_buckets: list[str] = field(default_factory=list)
    # FSx file systems the stack's endpoints mount; empty = the FSx CSI add-on gets no role.
    fsx_file_system_ids: list[str] = field(default_factory=list)
    addon_versions: dict[str, str] = field(default_factory=lambda: dict(ADDON_VERSIONS))
    # Amazon Managed Prometheus workspaces KEDA may query (autoScalingSpec's serverAddress).
    prometheus_workspace_arns: pulumi.Input[list[str]] = field(default_factory=list)
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class InferenceOperator(pulumi.ComponentResource):
    """Roles, the TLS certificate bucket, dependency add-ons and the inference add-on."""

    namespace: str
    addon: aws.eks.Addon
    tls_bucket: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InferenceOperatorArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "InferenceOperator"), name, None,
                         with_aliases(opts, "inference-stacks:hyperpod:InferenceOperator"))
        self._args = args
        self.namespace = hpp.OPERATOR_NAMESPACE
        bucket = aws.s3.Bucket(f"{name}-tls", force_destroy=True,
                               opts=pulumi.ResourceOptions(parent=self))
        aws.s3.BucketPublicAccessBlock(
            f"{name}-tls", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.tls_bucket = bucket.bucket
        execution = self._execution_role(name, bucket)
        alb = self._irsa_role(f"{name}-alb", hpp.OPERATOR_NAMESPACE, hpp.ALB_SERVICE_ACCOUNT,
                              args.alb_controller_policy_json)
        keda = self._irsa_role(
            f"{name}-keda", hpp.OPERATOR_NAMESPACE, hpp.KEDA_SERVICE_ACCOUNT,
            pulumi.Output.from_input(args.prometheus_workspace_arns).apply(
                lambda arns: iam.to_json(hpp.keda_policy(list(arns)))))
        dependencies = self._dependency_addons(name)
        config = pulumi.Output.all(execution.arn, bucket.bucket, args.hyperpod_cluster_arn,
                                   alb.arn, keda.arn).apply(
            lambda v: iam.to_json(hpp.addon_configuration(*v)))
        self.addon = aws.eks.Addon(
            f"{name}-addon", cluster_name=args.eks_cluster_name, addon_name=INFERENCE_ADDON,
            addon_version=args.addon_versions[INFERENCE_ADDON], configuration_values=config,
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[*args.depends_on, *dependencies]))
        self.execution_role_arn = execution.arn
        self.register_outputs({"namespace": self.namespace, "tls_bucket": self.tls_bucket,
                               "execution_role_arn": self.execution_role_arn})

    def _trust(self, namespace: str, service_account: str) -> pulumi.Output[str]:
        return pulumi.Output.all(self._args.oidc_provider_arn, self._args.oidc_issuer).apply(
            lambda v: iam.to_json(hpp.Oidc(v[0], v[1]).trust(namespace, service_account)))

    def _execution_role(self, name: str, bucket: aws.s3.Bucket) -> aws.iam.Role:
        """Role name prefix and managed policy are what the add-on validates."""
        def render(values: list[Any]) -> str:
            provider_arn, issuer, cluster_arn = (str(v) for v in values)
            partition, region, account = hpp.arn_parts(cluster_arn)
            return iam.to_json(hpp.operator_execution_trust(
                hpp.Oidc(provider_arn, issuer), account, region, partition))

        # SageMaker may assume it only for this account's resources in the cluster's region.
        trust = pulumi.Output.all(self._args.oidc_provider_arn, self._args.oidc_issuer,
                                  self._args.hyperpod_cluster_arn).apply(render)
        role = aws.iam.Role(
            f"{name}-execution", name=hpp.execution_role_name(self._args.name_prefix),
            assume_role_policy=trust, opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-access", role=role.name,
            policy_arn=iam.managed_policy_arn(hpp.INFERENCE_ACCESS_POLICY),
            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(
            f"{name}-execution-tls", role=role.id,
            policy=bucket.arn.apply(lambda arn: iam.to_json(hpp.tls_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self))
        return role

    def _irsa_role(self, name: str, namespace: str, service_account: str,
                   policy_json: pulumi.Input[str] | None) -> aws.iam.Role:
        role = aws.iam.Role(name, assume_role_policy=self._trust(namespace, service_account),
                            opts=pulumi.ResourceOptions(parent=self))
        if policy_json is not None:
            aws.iam.RolePolicy(name, role=role.id, policy=policy_json,
                               opts=pulumi.ResourceOptions(parent=self))
        return role

    def _fsx_role(self, name: str) -> aws.iam.Role | None:
        """Scoped to the stack's file systems (not AmazonFSxFullAccess); none without FSx."""
        ids = sorted(set(self._args.fsx_file_system_ids))
        if not ids:
            return None
        role = aws.iam.Role(
            f"{name}-fsx-csi",
            assume_role_policy=self._trust(hpp.FSX_CSI_NAMESPACE, hpp.FSX_CSI_SERVICE_ACCOUNT),
            opts=pulumi.ResourceOptions(parent=self))

        def render(cluster_arn: str) -> str:
            partition, region, account = hpp.arn_parts(cluster_arn)
            return iam.to_json(hpp.fsx_csi_policy(ids, region, account, partition) or {})

        aws.iam.RolePolicy(
            f"{name}-fsx-csi", role=role.id,
            policy=pulumi.Output.from_input(self._args.hyperpod_cluster_arn).apply(render),
            opts=pulumi.ResourceOptions(parent=self))
        return role

    def _dependency_addons(self, name: str) -> list[pulumi.Resource]:
        """S3 Mountpoint CSI, FSx CSI and cert-manager: the operator will not start without them."""
        args = self._args
        model_policy = hpp.model_read_policy(args.model_buckets)
        s3_role = self._irsa_role(f"{name}-s3-csi", hpp.S3_CSI_NAMESPACE,
                                  hpp.S3_CSI_SERVICE_ACCOUNT,
                                  iam.to_json(model_policy) if model_policy else None)
        fsx_role = self._fsx_role(name)
        roles: dict[str, aws.iam.Role | None] = {
            "aws-mountpoint-s3-csi-driver": s3_role, "aws-fsx-csi-driver": fsx_role,
            "cert-manager": None,
        }
        return [
            aws.eks.Addon(
                f"{name}-{addon}", cluster_name=args.eks_cluster_name, addon_name=addon,
                addon_version=args.addon_versions[addon],
                service_account_role_arn=role.arn if role is not None else None,
                resolve_conflicts_on_create="OVERWRITE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on))
            for addon, role in roles.items()
        ]
