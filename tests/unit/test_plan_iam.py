"""iam.md: the plan's reviewable list of every IAM trust policy and permission."""

from __future__ import annotations

import json

from infra.plan.iam import iam_report


def test_roles_trust_attachments_and_statements_are_listed() -> None:
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                            "Principal": {"Federated": "arn:oidc"},
                            "Condition": {"StringEquals": {"x:sub": "system:serviceaccount:a:b"}}}]}
    policy = {"Statement": [{"Sid": "Describe", "Effect": "Allow",
                             "Action": ["elasticloadbalancing:DescribeListenerAttributes"],
                             "Resource": "*"}]}
    resources = [
        {"type": "aws:iam/role:Role", "name": "ctl", "inputs": {"assumeRolePolicy":
                                                               json.dumps(trust)}},
        {"type": "aws:iam/policy:Policy", "name": "ctl-policy",
         "inputs": {"policy": json.dumps(policy), "description": "controller"}},
        {"type": "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "name": "a",
         "inputs": {"role": "ctl", "policyArn": "arn:aws:iam::1:policy/ctl-policy"}},
    ]
    report = iam_report(resources)
    assert report is not None
    assert "## Role `ctl`" in report and "system:serviceaccount:a:b" in report
    assert "- `arn:aws:iam::1:policy/ctl-policy`" in report
    assert "Allow `Describe`: `elasticloadbalancing:DescribeListenerAttributes`" in report


def test_no_iam_no_report() -> None:
    assert iam_report([{"type": "kubernetes:core/v1:Service", "name": "s", "inputs": {}}]) is None
