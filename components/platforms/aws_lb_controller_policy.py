"""The AWS Load Balancer Controller's documented IAM policy for the pinned controller version.

Source: kubernetes-sigs/aws-load-balancer-controller `docs/install/iam_policy.json` at tag
`v2.14.1` (the release the Amazon EKS user guide's "Install AWS Load Balancer Controller with
Helm" page references). Same statements, same order, same conditions; the only additions are
`Sid`s naming each statement's purpose, which IAM ignores for evaluation. When the pinned
controller version changes, replace this module with the policy from the new tag and re-run
`tests/unit/test_iam.py`, which lists every action so the diff is reviewable.

Field lesson: policies copied from older tags lack
`elasticloadbalancing:DescribeListenerAttributes`, and the controller then fails to reconcile any
Ingress ("AccessDenied ... DescribeListenerAttributes"; the ALB never gets an address). The test
asserts it is present.
"""

from __future__ import annotations

from typing import Any

from components.iam import policy_document, statement

CONTROLLER_VERSION = "v2.14.1"
# eks-charts `aws-load-balancer-controller` chart versions track the controller's minor/patch
# since chart 1.5 (chart 1.14.1 ships appVersion v2.14.1); the image tag is pinned as well.
CHART_VERSION = "1.14.1"
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
CHART_NAME = "aws-load-balancer-controller"

_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
_OWNED = {"Null": {f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}  # resource carries the tag
_TAGGING_NEW = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "false"}}  # request sets the tag
# Tag edits that do not touch the cluster tag, on resources that carry it.
_RETAG_OWNED = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "true",
                         f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}
_SG_ARN = "arn:aws:ec2:*:*:security-group/*"
_LB_AND_TG_ARNS = (
    "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
)

# --- Discovery: read-only calls to find subnets, security groups, certificates, LBs ---------
_DESCRIBE = statement([
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:GetCoipPoolUsage",
    "ec2:DescribeCoipPools",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
], sid="Discovery")

# --- Integrations: TLS certificates, Cognito, WAF and Shield on the ALB ---------------------
_INTEGRATIONS = statement([
    "cognito-idp:DescribeUserPoolClient",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "iam:ListServerCertificates",
    "iam:GetServerCertificate",
    "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState",
    "shield:DescribeProtection",
    "shield:CreateProtection",
    "shield:DeleteProtection",
], sid="CertificatesWafShield")

STATEMENTS: tuple[dict[str, Any], ...] = (
    # --- Service-linked role for Elastic Load Balancing (first LB in an account) ------------
    statement(["iam:CreateServiceLinkedRole"], conditions={
        "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        sid="ElbServiceLinkedRole"),
    _DESCRIBE,
    _INTEGRATIONS,
    # --- Security groups: the controller's own frontend/backend SGs and node SG rules -------
    statement(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
              sid="SecurityGroupIngress"),
    statement(["ec2:CreateSecurityGroup"], sid="CreateSecurityGroup"),
    statement(["ec2:CreateTags"], _SG_ARN, {
        "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **_TAGGING_NEW},
        sid="TagNewSecurityGroup"),
    statement(["ec2:CreateTags", "ec2:DeleteTags"], _SG_ARN, _RETAG_OWNED,
              sid="RetagOwnedSecurityGroup"),
    statement(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
               "ec2:DeleteSecurityGroup"], conditions=_OWNED, sid="ManageOwnedSecurityGroup"),
    # --- Load balancers, listeners, rules and target groups ---------------------------------
    statement(["elasticloadbalancing:CreateLoadBalancer",
               "elasticloadbalancing:CreateTargetGroup"], conditions=_TAGGING_NEW,
              sid="CreateTaggedLoadBalancer"),
    statement(["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
               "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"],
              sid="ListenersAndRules"),
    statement(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
              _LB_AND_TG_ARNS, _RETAG_OWNED, sid="RetagOwnedLoadBalancer"),
    statement(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [
        "arn:aws:elasticloadbalancing:*:*:listener/net/*/*/*",
        "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
        "arn:aws:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
        "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
    ], sid="TagListenersAndRules"),
    statement([
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:SetIpAddressType",
        "elasticloadbalancing:SetSecurityGroups",
        "elasticloadbalancing:SetSubnets",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:ModifyListenerAttributes",
        "elasticloadbalancing:ModifyCapacityReservation",
        "elasticloadbalancing:ModifyIpPools",
    ], conditions=_OWNED, sid="ManageOwnedLoadBalancer"),
    statement(["elasticloadbalancing:AddTags"], _LB_AND_TG_ARNS, {
        "StringEquals": {"elasticloadbalancing:CreateAction": [
            "CreateTargetGroup", "CreateLoadBalancer"]},
        **_TAGGING_NEW,
    }, sid="TagOnCreate"),
    # --- Targets: register pod IPs (target type ip) -----------------------------------------
    statement(["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
              "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*", sid="RegisterTargets"),
    statement([
        "elasticloadbalancing:SetWebAcl",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:AddListenerCertificates",
        "elasticloadbalancing:RemoveListenerCertificates",
        "elasticloadbalancing:ModifyRule",
        "elasticloadbalancing:SetRulePriorities",
    ], sid="ModifyListenersAndRules"),
)


def controller_policy() -> dict[str, Any]:
    """The full policy document for `CONTROLLER_VERSION`."""
    return policy_document(STATEMENTS)
