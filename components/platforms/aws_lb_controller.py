"""`AwsLoadBalancerController`: IRSA role with the documented policy + the pinned Helm release.

The role trusts exactly the controller's service account (`kube-system/aws-load-balancer-
controller`) through the cluster's OIDC provider; its permissions are the controller's own
documented policy for the pinned version (`aws_lb_controller_policy.py`). Endpoints' Ingress and
NLB Services must depend on the Helm release: the controller's Service webhook has to be
serving before any Service is created, and without the controller an Ingress never gets an ALB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.component import type_token, with_aliases
from components.iam import irsa_trust_policy, to_json
from components.platforms import aws_lb_controller_policy as lbc

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
IMAGE = "public.ecr.aws/eks/aws-load-balancer-controller"


@dataclass(frozen=True)
class AwsLoadBalancerControllerArgs:
    """Flat args: the cluster it serves and the IRSA identity (OIDC provider ARN + issuer)."""

    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    provider: k8s.Provider
    node_selector: dict[str, str] = field(default_factory=dict)
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def helm_values(cluster_name: str, region: str, vpc_id: Any, role_arn: Any,
                node_selector: dict[str, str]) -> dict[str, Any]:
    """Chart values: cluster, region and VPC given explicitly (no IMDS lookups), IRSA SA."""
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        "image": {"repository": IMAGE, "tag": lbc.CONTROLLER_VERSION},
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        "nodeSelector": dict(node_selector),
        "enableServiceMutatorWebhook": False,  # only Services that ask for the LB class get one
    }


class AwsLoadBalancerController(pulumi.ComponentResource):
    """IAM policy + IRSA role + `aws-load-balancer-controller` Helm release."""

    role_arn: pulumi.Output[str]
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: AwsLoadBalancerControllerArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "AwsLoadBalancerController"), name, None,
                         with_aliases(opts, "inference-stacks:aws:AwsLoadBalancerController"))
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            f"{name}-policy",
            description=f"AWS Load Balancer Controller {lbc.CONTROLLER_VERSION} for "
                        f"{args.cluster_name} (docs/install/iam_policy.json)",
            policy=to_json(lbc.controller_policy()), tags=args.tags, opts=child)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: to_json(irsa_trust_policy(v[0], v[1], NAMESPACE, SERVICE_ACCOUNT)))
        role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, tags=args.tags,
                            opts=child)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-policy", role=role.name,
                                                  policy_arn=policy.arn, opts=child)
        self.role_arn = role.arn
        self.release = k8s.helm.v3.Release(
            name,
            name=lbc.CHART_NAME,
            chart=lbc.CHART_NAME,
            version=lbc.CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=lbc.CHART_REPOSITORY),
            namespace=NAMESPACE,
            values=helm_values(args.cluster_name, args.region, args.vpc_id, role.arn,
                               args.node_selector),
            # Wait for the controller (and its webhook) to be ready before dependants proceed.
            skip_await=False,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider,
                                        depends_on=[attachment, *args.depends_on]),
        )
        self.register_outputs({"role_arn": self.role_arn})
