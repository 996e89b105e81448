"""Issue 12, point 4: HyperPod instance role, SageMaker trust conditions, FSx, engine IRSA."""

from __future__ import annotations

import json

import pytest

from components import engine_iam, iam
from components.platforms import hyperpod_policies as hpp
from tests.helpers import plan

ACCOUNT, REGION = "111122223333", "us-east-1"
OIDC = hpp.Oidc("arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X",
                "https://oidc.eks.us-east-1.amazonaws.com/id/X")


def test_instance_node_policy_matches_aws_template_actions_and_no_more() -> None:
    doc = hpp.instance_node_policy(REGION, ACCOUNT, "hp-eks")
    expected = set(hpp.VPC_CNI_ACTIONS) | set(hpp.ECR_PULL_ACTIONS) | {
        "ec2:CreateTags", "eks-auth:AssumeRoleForPodIdentity"}
    assert set(iam.actions_of(doc)) == expected
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["VpcCniEniTags"]["Resource"] == [
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*"]
    assert by_sid["EksPodIdentity"]["Resource"] == [
        f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/hp-eks"]
    assert not [a for a in iam.actions_of(doc) if a.endswith(":*") or a == "*"]


def test_sagemaker_trust_has_confused_deputy_conditions() -> None:
    doc = hpp.sagemaker_trust(ACCOUNT, hpp.cluster_source_arn(REGION, ACCOUNT))
    (stmt,) = doc["Statement"]
    assert stmt["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert stmt["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/*"}
    with pytest.raises(ValueError):
        hpp.sagemaker_trust("*")
    with pytest.raises(ValueError):
        hpp.sagemaker_trust(ACCOUNT, "arn:aws:s3:::x")


def test_operator_execution_trust_conditions_sagemaker_and_binds_one_service_account() -> None:
    doc = hpp.operator_execution_trust(OIDC, ACCOUNT, REGION)
    service = [s for s in doc["Statement"] if "Service" in s["Principal"]]
    assert len(service) == 1
    assert service[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert service[0]["Condition"]["ArnLike"]["aws:SourceArn"] == \
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:*"


def test_planned_execution_role_trust_carries_the_conditions() -> None:
    result = plan("hyperpod")
    role = next(r for r in result.resources if r["type"] == "aws:iam/role:Role"
                and r["name"] == "hyperpod-operator-execution")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    service = [s for s in trust["Statement"] if "Service" in s["Principal"]]
    assert service and all("aws:SourceAccount" in s["Condition"]["StringEquals"]
                           for s in service)


def test_fsx_csi_gets_no_role_without_fsx_and_never_full_access() -> None:
    result = plan("hyperpod")
    names = [r["name"] for r in result.resources if r["type"] == "aws:iam/role:Role"]
    assert "hyperpod-operator-fsx-csi" not in names
    attached = {r["inputs"]["policyArn"] for r in result.resources
                if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    assert not [a for a in attached if a.endswith("/AmazonFSxFullAccess")]


def test_fsx_csi_policy_is_scoped_to_the_stacks_file_systems() -> None:
    assert hpp.fsx_csi_policy([], REGION, ACCOUNT) is None
    doc = hpp.fsx_csi_policy(["fs-0123", "fs-0123"], REGION, ACCOUNT)
    assert doc is not None
    (stmt,) = doc["Statement"]
    assert stmt["Action"] == ["fsx:DescribeFileSystems"]
    assert stmt["Resource"] == [f"arn:aws:fsx:{REGION}:{ACCOUNT}:file-system/fs-0123"]


def test_engine_s3_read_is_one_bucket_one_prefix_read_only() -> None:
    doc = engine_iam.s3_read_policy("models", "/qwen3/0.6b/")
    assert set(iam.actions_of(doc)) == {"s3:ListBucket", "s3:GetObject"}
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ReadModelObjects"]["Resource"] == ["arn:aws:s3:::models/qwen3/0.6b/*"]
    assert by_sid["ListModelPrefix"]["Resource"] == ["arn:aws:s3:::models"]
    assert by_sid["ListModelPrefix"]["Condition"] == {
        "StringLike": {"s3:prefix": ["qwen3/0.6b", "qwen3/0.6b/*"]}}
    whole = engine_iam.s3_read_policy("models")
    assert {s["Sid"]: s for s in whole["Statement"]}["ReadModelObjects"]["Resource"] == [
        "arn:aws:s3:::models/*"]


@pytest.mark.parametrize(("bucket", "prefix"), [("Models", ""), ("m", ""), ("models", "a/*"),
                                                ("arn:aws:s3:::models", "")])
def test_engine_s3_read_refuses_wildcards_and_bad_names(bucket: str, prefix: str) -> None:
    with pytest.raises(ValueError):
        engine_iam.s3_read_policy(bucket, prefix)


def test_engine_trust_is_one_service_account() -> None:
    doc = engine_iam.engine_trust_policy(OIDC.provider_arn, OIDC.issuer, "inference", "qwen")
    cond = doc["Statement"][0]["Condition"]["StringEquals"]
    assert cond["oidc.eks.us-east-1.amazonaws.com/id/X:sub"] == \
        "system:serviceaccount:inference:qwen"
    with pytest.raises(ValueError):
        engine_iam.engine_trust_policy(OIDC.provider_arn, OIDC.issuer, "inference", "*")
