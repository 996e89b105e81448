"""IAM builders and the AWS Load Balancer Controller's documented policy (pinned version)."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from components import iam
from components.platforms import aws_lb_controller_policy as lbc

ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"

# Every action of docs/install/iam_policy.json at v2.14.1, so a version bump shows as a diff.
EXPECTED_ACTIONS = sorted([
    "iam:CreateServiceLinkedRole",
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
    "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
    "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
    "iam:ListServerCertificates", "iam:GetServerCertificate",
    "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource",
    "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
    "shield:DeleteProtection",
    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
    "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup",
    "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyCapacityReservation", "elasticloadbalancing:ModifyIpPools",
    "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates", "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
])


def test_irsa_trust_is_bound_to_exactly_one_service_account() -> None:
    doc = iam.irsa_trust_policy(PROVIDER, f"https://{ISSUER}/", "kube-system",
                                "aws-load-balancer-controller")
    (stmt,) = doc["Statement"]
    assert stmt["Principal"] == {"Federated": PROVIDER}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {"StringEquals": {
        f"{ISSUER}:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller",
        f"{ISSUER}:aud": "sts.amazonaws.com",
    }}


@pytest.mark.parametrize(("namespace", "account"), [("kube-system", "*"), ("*", "x"), ("", "x")])
def test_irsa_trust_rejects_wildcards_and_blanks(namespace: str, account: str) -> None:
    with pytest.raises(ValueError, match="exact namespace and service account"):
        iam.irsa_trust_policy(PROVIDER, ISSUER, namespace, account)


def test_service_trust_and_managed_arns() -> None:
    doc = iam.service_trust_policy("ec2.amazonaws.com")
    assert doc["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert iam.managed_policy_arn("AmazonEKSWorkerNodePolicy") == \
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    assert iam.to_json(doc) == iam.to_json(json.loads(iam.to_json(doc)))


def test_controller_policy_lists_exactly_the_documented_actions() -> None:
    assert iam.actions_of(lbc.controller_policy()) == EXPECTED_ACTIONS


def test_controller_policy_has_describe_listener_attributes() -> None:
    """Without it the controller never reconciles an Ingress (field failure)."""
    actions = iam.actions_of(lbc.controller_policy())
    assert "elasticloadbalancing:DescribeListenerAttributes" in actions
    assert "elasticloadbalancing:ModifyListenerAttributes" in actions


def test_controller_policy_has_no_service_wildcards_and_scoped_mutations() -> None:
    doc = lbc.controller_policy()
    assert not [a for a in iam.actions_of(doc) if "*" in a]
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids)) == 16
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    # Deleting and modifying load balancers and security groups only when the controller's
    # cluster tag is on the resource.
    for sid in ("ManageOwnedLoadBalancer", "ManageOwnedSecurityGroup"):
        assert by_sid[sid]["Condition"] == {
            "Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    assert by_sid["ElbServiceLinkedRole"]["Condition"] == {
        "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}


def test_pinned_versions_are_consistent() -> None:
    assert lbc.CONTROLLER_VERSION == "v2.14.1"
    assert lbc.CHART_VERSION.split(".")[1:] == lbc.CONTROLLER_VERSION.lstrip("v").split(".")[1:]


@pytest.mark.cloud
@pytest.mark.skipif(os.environ.get("INFERENCE_STACKS_ONLINE") != "1",
                    reason="needs network: set INFERENCE_STACKS_ONLINE=1 to compare with GitHub")
def test_policy_matches_upstream_at_the_pinned_tag() -> None:
    url = ("https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/"
           f"{lbc.CONTROLLER_VERSION}/docs/install/iam_policy.json")
    with urllib.request.urlopen(url, timeout=30) as response:
        upstream = json.loads(response.read())
    ours = [{k: v for k, v in s.items() if k != "Sid"} for s in lbc.controller_policy()[
        "Statement"]]
    normalized = [{**s, "Action": s["Action"] if isinstance(s["Action"], list) else [s["Action"]]}
                  for s in upstream["Statement"]]
    assert ours == normalized
