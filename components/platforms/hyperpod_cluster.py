"""`HyperPodCluster`: a SageMaker HyperPod cluster orchestrated by an existing EKS cluster.

pulumi-aws has no HyperPod resource, so the cluster is `pulumi_aws_native.sagemaker.Cluster`
(CloudFormation `AWS::SageMaker::Cluster`). Before it: HyperPod's dependency Helm chart (the
chart creates the `aws-hyperpod` namespace, whose name cannot change; AWS installs the release
in kube-system), the lifecycle script in a bucket the stack owns, and an instance execution
role with `AmazonSageMakerClusterInstanceRolePolicy` plus read on that bucket (the managed
policy only covers `sagemaker-*` buckets). Node recovery is Automatic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native
import pulumi_kubernetes as k8s

from components import iam
from components.component import type_token, with_aliases
from components.platforms import hyperpod_policies as hpp

TEMPLATES = Path(__file__).resolve().parent / "templates" / "hyperpod"
LIFECYCLE_PREFIX = "lifecycle"
ON_CREATE = "on_create.sh"
# The dependency chart is not published to a Helm repository: AWS installs it from a checkout
# of aws/sagemaker-hyperpod-cli `helm_chart/HyperPodHelmChart` (chart hyperpod-helm-chart 0.1.0)
# with `helm install hyperpod-dependencies HyperPodHelmChart --namespace kube-system`.
DEPENDENCY_RELEASE = "hyperpod-dependencies"
DEPENDENCY_RELEASE_NAMESPACE = "kube-system"
# Node facts from that chart (helm_chart/HyperPodHelmChart/values.yaml): HyperPod GPU nodes carry
# no `nvidia.com/gpu.present` label (no GPU feature discovery: gpu-operator is disabled), so
# AWS's own NVIDIA device plugin is placed by `node.kubernetes.io/instance-type`, and it
# tolerates `nvidia.com/gpu` and HyperPod's health taint, put on a node its health agents find
# faulty (the node's GPU telemetry matters most then).
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
NODE_HEALTH_TAINT = {"key": "sagemaker.amazonaws.com/node-health-status", "operator": "Equal",
                     "value": "Unschedulable", "effect": "NoSchedule"}


def gpu_node_affinity(instance_types: list[str]) -> dict[str, Any]:
    """Required node affinity for pods that belong on the GPU instance groups' nodes."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{
            "key": INSTANCE_TYPE_LABEL, "operator": "In",
            "values": sorted(set(instance_types))}]}]}}}


@dataclass(frozen=True)
class InstanceGroup:
    """One HyperPod instance group."""

    name: str
    instance_type: str
    count: int
    ebs_volume_gb: int | None = None
    threads_per_core: int = 1


@dataclass
class HyperPodClusterArgs:
    """Flat args: names, the orchestrating EKS cluster, networking and instance groups."""

    cluster_name: str
    eks_cluster_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    security_group_ids: pulumi.Input[list[str]]
    instance_groups: list[InstanceGroup]
    # None: no chart checkout yet (preview of a fresh clone): the release is left out.
    dependency_chart_path: str | None
    provider: k8s.Provider | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class HyperPodCluster(pulumi.ComponentResource):
    """Lifecycle bucket + script, execution role, dependency chart, then the HyperPod cluster."""

    arn: pulumi.Output[str]
    name: str

    def __init__(self, name: str, args: HyperPodClusterArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "HyperPodCluster"), name, None,
                         with_aliases(opts, "inference-stacks:hyperpod:HyperPodCluster"))
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(f"{name}-lifecycle", force_destroy=True, opts=child)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-lifecycle", bucket=bucket.id, block_public_acls=True,
            block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
            opts=child)
        script = aws.s3.BucketObjectv2(
            f"{name}-on-create", bucket=bucket.id, key=f"{LIFECYCLE_PREFIX}/{ON_CREATE}",
            content=(TEMPLATES / ON_CREATE).read_text(encoding="utf-8"), opts=child)
        role, role_policies = self._execution_role(name, bucket, args.eks_cluster_arn)
        chart: list[pulumi.Resource] = []
        if args.dependency_chart_path is not None:
            chart.append(k8s.helm.v3.Release(
                f"{name}-dependencies", name=DEPENDENCY_RELEASE, chart=args.dependency_chart_path,
                namespace=DEPENDENCY_RELEASE_NAMESPACE,
                # A local chart whose Chart.yaml pulls remote dependencies at pinned versions
                # (cert-manager, device plugins): `helm dependency update` before installing.
                dependency_update=True,
                # The inference operator comes from its EKS add-on, not from this chart.
                values={"inferenceOperators": {"enabled": False}},
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                            depends_on=args.depends_on)))
        source_uri = bucket.bucket.apply(lambda b: f"s3://{b}/{LIFECYCLE_PREFIX}/")
        cluster = aws_native.sagemaker.Cluster(
            f"{name}-cluster",
            cluster_name=args.cluster_name,
            orchestrator=aws_native.sagemaker.ClusterOrchestratorArgs(
                eks=aws_native.sagemaker.ClusterOrchestratorEksConfigArgs(
                    cluster_arn=args.eks_cluster_arn)),
            instance_groups=[_group(g, role.arn, source_uri) for g in args.instance_groups],
            vpc_config=aws_native.sagemaker.ClusterVpcConfigArgs(
                security_group_ids=args.security_group_ids, subnets=args.subnet_ids),
            node_recovery=aws_native.sagemaker.ClusterNodeRecovery.AUTOMATIC,
            opts=pulumi.ResourceOptions(parent=self,
                                        depends_on=[*chart, script, *role_policies]))
        self.name = args.cluster_name
        self.arn = cluster.cluster_arn
        self.register_outputs({"arn": self.arn})

    def _execution_role(self, name: str, bucket: aws.s3.Bucket, eks_cluster_arn: Any
                        ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        child = pulumi.ResourceOptions(parent=self)
        eks_arn = pulumi.Output.from_input(eks_cluster_arn)
        # Confused-deputy guard: SageMaker may assume the role only for this account's
        # HyperPod clusters in this region (the cluster's own ARN is not known before it).
        role = aws.iam.Role(
            f"{name}-instances",
            assume_role_policy=eks_arn.apply(
                lambda arn: iam.to_json(hpp.instance_role_trust(arn))),
            opts=child)
        managed = aws.iam.RolePolicyAttachment(
            f"{name}-instances-managed", role=role.name,
            policy_arn=iam.managed_policy_arn(hpp.CLUSTER_INSTANCE_POLICY), opts=child)
        lifecycle = aws.iam.RolePolicy(
            f"{name}-instances-lifecycle", role=role.id,
            policy=bucket.arn.apply(lambda arn: iam.to_json(hpp.lifecycle_read_policy(arn))),
            opts=child)
        # What EKS nodes need beyond the managed policy: ENIs for the VPC CNI, ECR pulls, EKS
        # Pod Identity for this one cluster (AWS's HyperPod EKS template, narrowed).
        nodes = aws.iam.RolePolicy(
            f"{name}-instances-nodes", role=role.id,
            policy=eks_arn.apply(
                lambda arn: iam.to_json(hpp.instance_node_policy_of(arn))),
            opts=child)
        return role, [managed, lifecycle, nodes]


def _group(group: InstanceGroup, role_arn: pulumi.Input[str],
           source_uri: pulumi.Input[str]) -> aws_native.sagemaker.ClusterInstanceGroupArgs:
    storage = None
    if group.ebs_volume_gb:
        storage = [aws_native.sagemaker.ClusterInstanceStorageConfigArgs(
            ebs_volume_config=aws_native.sagemaker.ClusterEbsVolumeConfigArgs(
                volume_size_in_gb=group.ebs_volume_gb))]
    return aws_native.sagemaker.ClusterInstanceGroupArgs(
        instance_group_name=group.name,
        instance_type=group.instance_type,
        instance_count=group.count,
        execution_role=role_arn,
        threads_per_core=group.threads_per_core,
        life_cycle_config=aws_native.sagemaker.ClusterLifeCycleConfigArgs(
            source_s3_uri=source_uri, on_create=ON_CREATE),
        instance_storage_configs=storage,
    )
