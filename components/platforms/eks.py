"""`EksCluster`: an EKS control plane with API auth, IRSA, KMS secrets and a system node group.

Shared by platform `eks` and platform `hyperpod` (which needs API auth mode and an OIDC
provider). Node groups are plain `aws.eks.NodeGroup`s with our own launch template rather than
`eks.ManagedNodeGroup`: every input (AMI type, instance types, taints, IMDSv2, volume
encryption) is then a visible resource input in the offline plan, and nothing passes a
component reference through the mock engine. In API auth mode EKS creates the node role's
access entry for managed node groups itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.component import type_token, with_aliases
from components.iam import managed_policy_arn, service_trust_policy, to_json

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                 "AmazonEC2ContainerRegistryReadOnly")
POOL_LABEL = "inference-stacks/pool"
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE",
                 "PreferNoSchedule": "PREFER_NO_SCHEDULE"}


@dataclass(frozen=True)
class NodeGroupSpec:
    """One managed node group: pinned instance types, AMI, labels/taints, sizes, root volume."""

    name: str
    instance_types: list[str]
    ami_type: str
    min_size: int
    desired_size: int
    max_size: int
    root_volume_gib: int
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[tuple[str, str, str]] = field(default_factory=list)  # (key, value, effect)
    capacity_type: str = "ON_DEMAND"
    # Kubernetes version of the nodes: the cluster's. Unset, EKS picks the cluster version at
    # creation and never moves the nodes when the cluster is upgraded.
    kubernetes_version: str | None = None
    # A node autoscaler owns the desired size: `pulumi up` sets it at creation only.
    autoscaled: bool = False


# Pulumi property path of a node group's desired size (what the autoscaler changes).
DESIRED_SIZE = "scalingConfig.desiredSize"


def root_device_name(ami_type: str) -> str:
    """Bottlerocket keeps images and pod storage on its second (data) volume, AL2023 on root."""
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def node_group(
    name: str, cluster_name: pulumi.Input[str], node_role_arn: pulumi.Input[str],
    subnet_ids: pulumi.Input[list[str]], spec: NodeGroupSpec, opts: pulumi.ResourceOptions,
) -> aws.eks.NodeGroup:
    """Launch template (IMDSv2 required, encrypted gp3 volume) + managed node group; an
    autoscaled group's desired size is left to the autoscaler after creation."""
    template = aws.ec2.LaunchTemplate(
        f"{name}-lt",
        description=f"{spec.name}: IMDSv2 only, encrypted {spec.root_volume_gib} GiB volume",
        # Hop limit 1: pods cannot reach the node role's credentials through IMDS; add-ons get
        # their own roles (IRSA) and the LB controller is given region and VPC id explicitly.
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
        block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=root_device_name(spec.ami_type),
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=spec.root_volume_gib, volume_type="gp3", encrypted="true",
                delete_on_termination="true"),
        )],
        opts=opts,
    )
    return aws.eks.NodeGroup(
        name,
        cluster_name=cluster_name,
        node_group_name_prefix=f"{spec.name}-",
        node_role_arn=node_role_arn,
        subnet_ids=subnet_ids,
        instance_types=list(spec.instance_types),
        ami_type=spec.ami_type,
        version=spec.kubernetes_version,
        capacity_type=spec.capacity_type,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=spec.min_size, desired_size=spec.desired_size, max_size=spec.max_size),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        labels={POOL_LABEL: spec.name, **spec.labels},
        taints=[aws.eks.NodeGroupTaintArgs(key=k, value=v, effect=TAINT_EFFECTS[e])
                for k, v, e in spec.taints],
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=template.id, version=template.latest_version.apply(str)),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            ignore_changes=[DESIRED_SIZE])) if spec.autoscaled else opts,
    )


@dataclass(frozen=True)
class EksClusterArgs:
    """Flat args for the control plane, its network, access and the system node group."""

    name: str
    kubernetes_version: str
    region: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    system_nodes: NodeGroupSpec
    admin_principal_arns: list[str] = field(default_factory=list)
    public_access_cidrs: list[str] = field(default_factory=list)
    log_types: list[str] = field(default_factory=lambda: ["api", "audit", "authenticator"])
    tags: dict[str, str] = field(default_factory=dict)
    # Pin the VPC CNI add-on (HyperPod needs >= 1.18.3); None = EKS's default for the version.
    vpc_cni_addon_version: str | None = None
    # Pulumi `protect` and EKS deletion protection on the control plane (and everything
    # `eks.Cluster` creates inside it, which inherits `protect`) and its secrets key. Node
    # groups stay unprotected: they hold no state, and changing a pool replaces its group.
    protect: bool = True


class EksCluster(pulumi.ComponentResource):
    """KMS key, `eks.Cluster` (API auth, OIDC, logging), node role, system nodes, k8s provider."""

    name: str
    arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    provider: k8s.Provider
    system_node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: EksClusterArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "EksCluster"), name, None,
                         with_aliases(opts, "inference-stacks:aws:EksCluster"))
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        # Losing the key makes every Secret of the cluster unreadable: protected as the cluster.
        key = aws.kms.Key(
            f"{name}-secrets", description=f"EKS {args.name}: envelope encryption of Secrets",
            enable_key_rotation=True, deletion_window_in_days=30, tags=args.tags, opts=kept)
        aws.kms.Alias(f"{name}-secrets", name=f"alias/{args.name}-eks-secrets",
                      target_key_id=key.key_id, opts=child)
        cluster = eks.Cluster(
            name,
            name=args.name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            public_subnet_ids=args.public_subnet_ids,
            private_subnet_ids=args.private_subnet_ids,
            node_associate_public_ip_address=False,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=_admin_entries(args.admin_principal_arns),
            create_oidc_provider=True,
            enabled_cluster_log_types=list(args.log_types),
            endpoint_private_access=True,
            # R24: the API is public only to the configured CIDRs; none = private endpoint only.
            endpoint_public_access=bool(args.public_access_cidrs),
            public_access_cidrs=list(args.public_access_cidrs) or None,
            encryption_config_key_arn=key.arn,
            # The VPC CNI enforces NetworkPolicies only when asked (the program's namespaces
            # carry default-deny policies, issue 12); HyperPod pins the add-on version.
            vpc_cni_options=eks.VpcCniOptionsArgs(addon_version=args.vpc_cni_addon_version,
                                                  enable_network_policy=True),
            skip_default_node_group=True,
            # Managed node groups use the EKS-created cluster security group.
            skip_default_security_groups=True,
            deletion_protection=args.protect,
            tags=args.tags,
            opts=kept,
        )
        self.name = args.name
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_issuer = cluster.oidc_issuer
        self.cluster_security_group_id = cluster.cluster_security_group_id
        role = aws.iam.Role(f"{name}-node", assume_role_policy=to_json(
            service_trust_policy("ec2.amazonaws.com")), tags=args.tags, opts=child)
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=role.name,
                                         policy_arn=managed_policy_arn(policy), opts=child)
            for policy in NODE_POLICIES
        ]
        self.node_role_arn = role.arn
        # Partition and account from an ARN this stack creates anyway (no extra lookup).
        self.arn = role.arn.apply(lambda a: cluster_arn(a, args.region, args.name))
        self.node_role_name = role.name
        self.system_node_group = node_group(
            f"{name}-{args.system_nodes.name}", args.name, role.arn, args.private_subnet_ids,
            dataclasses.replace(args.system_nodes, kubernetes_version=args.kubernetes_version),
            pulumi.ResourceOptions(parent=self, depends_on=[cluster, *attachments]))
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]))
        self.cluster = cluster
        self.register_outputs({
            "name": self.name, "arn": self.arn, "kubeconfig": self.kubeconfig,
            "oidc_provider_arn": self.oidc_provider_arn, "oidc_issuer": self.oidc_issuer,
            "node_role_arn": self.node_role_arn,
        })


def cluster_arn(any_arn_in_account: str, region: str, name: str) -> str:
    """`arn:<partition>:eks:<region>:<account>:cluster/<name>` from another ARN's fields."""
    parts = any_arn_in_account.split(":")
    return f"arn:{parts[1]}:eks:{region}:{parts[4]}:cluster/{name}"


def _admin_entries(principal_arns: list[str]) -> dict[str, eks.AccessEntryArgs] | None:
    """Cluster-admin access entries, keyed by a stable name derived from the ARN."""
    if not principal_arns:
        return None
    return {
        "admin-" + hashlib.sha256(arn.encode()).hexdigest()[:10]:
        eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={"cluster-admin": eks.AccessPolicyAssociationArgs(
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"))},
        )
        for arn in principal_arns
    }
