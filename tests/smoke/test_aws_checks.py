"""AWS checks against moto's mock AWS (marked `moto`), and the GPU pinning check (R3) against a
fake Kubernetes API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from kubernetes.client import V1Node, V1ObjectMeta, V1Pod, V1PodSpec
from moto import mock_aws

from smoke.aws_checks import check_instance_type, run_aws_checks
from smoke.outputs import StackOutputs, parse_outputs
from smoke.report import CheckResult

REGION = "us-west-2"


def _outputs(exposure: str, hostname: str | None, **extra: Any) -> StackOutputs:
    endpoint = {
        "engine": "vllm", "model": "m", "served_model_name": "m", "port": 8000,
        "base_url": f"https://{hostname}", "exposure": exposure, "namespace": "ns",
        "selector": {"app": "m"},
        "load_balancer": {"provider": "aws", "type": "alb", "region": REGION,
                          "scheme": "internet-facing", "hostname": hostname},
        **extra,
    }
    doc = {"schema_version": 1, "platform": "eks", "endpoints": {"m": endpoint}}
    return parse_outputs(json.dumps(doc), "t")


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A VPC with an ALB per scheme, each with one target group and one instance target."""
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
                   for i, az in ((1, "a"), (2, "b"))]
        made: dict[str, Any] = {"ec2": ec2, "elbv2": elbv2}
        for scheme in ("internet-facing", "internal"):
            lb = elbv2.create_load_balancer(Name=f"lb-{scheme}", Subnets=subnets, Scheme=scheme,
                                            Type="application")["LoadBalancers"][0]
            tg = elbv2.create_target_group(Name=f"tg-{scheme}", Protocol="HTTP", Port=8000,
                                           VpcId=vpc, TargetType="instance")["TargetGroups"][0]
            elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                  DefaultActions=[{"Type": "forward",
                                                   "TargetGroupArn": tg["TargetGroupArn"]}])
            instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                         SubnetId=subnets[0])["Instances"][0]["InstanceId"]
            elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                                   Targets=[{"Id": instance}])
            made[scheme] = {"dns": lb["DNSName"], "instance": instance,
                            "tg": tg["TargetGroupArn"]}
        yield made


@pytest.mark.moto
def test_matching_scheme_and_healthy_targets_pass(aws: dict[str, Any]) -> None:
    outputs = _outputs("public", aws["internet-facing"]["dns"])
    results = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))
    assert results["lb-scheme"].status == "pass", results["lb-scheme"].reason
    assert results["lb-targets"].status == "pass", results["lb-targets"].reason
    assert "1 healthy target(s)" in results["lb-targets"].reason


@pytest.mark.moto
def test_scheme_mismatch_fails_with_r17(aws: dict[str, Any]) -> None:
    # Outputs say public, but the live ALB is internal (the R17 incident, inverted).
    outputs = _outputs("public", aws["internal"]["dns"].upper())  # DNS names are case-blind
    result = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))["lb-scheme"]
    assert result.status == "fail"
    assert "live load balancer scheme is 'internal'" in result.reason
    assert "(R17)" in result.reason


@pytest.mark.moto
def test_unhealthy_target_fails_with_its_state(aws: dict[str, Any]) -> None:
    aws["ec2"].stop_instances(InstanceIds=[aws["internal"]["instance"]])
    outputs = _outputs("internal", aws["internal"]["dns"])
    results = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))
    assert results["lb-scheme"].status == "pass"
    assert results["lb-targets"].status == "fail"
    assert aws["internal"]["instance"] in results["lb-targets"].reason
    assert "unused" in results["lb-targets"].reason


@pytest.mark.moto
def test_no_registered_targets_fails(aws: dict[str, Any]) -> None:
    aws["elbv2"].deregister_targets(TargetGroupArn=aws["internal"]["tg"],
                                    Targets=[{"Id": aws["internal"]["instance"]}])
    outputs = _outputs("internal", aws["internal"]["dns"])
    result = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))["lb-targets"]
    assert result.status == "fail"
    assert "no targets registered" in result.reason


@pytest.mark.moto
def test_unknown_hostname_fails_and_skips_targets(aws: dict[str, Any]) -> None:
    outputs = _outputs("public", "gone-123.us-west-2.elb.amazonaws.com")
    results = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))
    assert results["lb-scheme"].status == "fail"
    assert "no load balancer with DNS name gone-123" in results["lb-scheme"].reason
    assert results["lb-targets"].status == "skip"


def test_missing_hostname_fails_without_calling_aws() -> None:
    def no_aws(region: str | None) -> Any:
        raise AssertionError("AWS must not be called")

    outputs = _outputs("public", None)
    results = _by_name(run_aws_checks(outputs, outputs.endpoints["m"], make_elbv2=no_aws))
    assert results["lb-scheme"].status == "fail"
    assert "no load balancer hostname" in results["lb-scheme"].reason


class FakeCore:
    def __init__(self, pod_nodes: list[str | None], node_types: dict[str, str]) -> None:
        self.pods = [V1Pod(spec=V1PodSpec(containers=[], node_name=n)) for n in pod_nodes]
        self.node_types = node_types

    def list_namespaced_pod(self, namespace: str, label_selector: str, **_: Any) -> Any:
        assert (namespace, label_selector) == ("ns", "app=m")
        return SimpleNamespace(items=self.pods)

    def read_node(self, name: str, **_: Any) -> V1Node:
        labels = {"node.kubernetes.io/instance-type": self.node_types[name]}
        return V1Node(metadata=V1ObjectMeta(name=name, labels=labels))


def test_instance_type_pinned_passes_and_wrong_type_fails() -> None:
    endpoint = _outputs("public", "x", gpu={"type": "A10G", "count": 1,
                                            "instance_type": "g5.xlarge"}).endpoints["m"]
    ok = FakeCore(["n1", "n1", None], {"n1": "g5.xlarge"})
    assert check_instance_type(ok, endpoint)[0] == "pass"
    bad = FakeCore(["n1", "n2"], {"n1": "g5.xlarge", "n2": "g4dn.xlarge"})
    status, reason, details = check_instance_type(bad, endpoint)
    assert status == "fail"
    assert "n2=g4dn.xlarge (R3)" in reason
    assert details["nodes"] == {"n1": "g5.xlarge", "n2": "g4dn.xlarge"}


def test_instance_type_check_skips_without_kubeconfig() -> None:
    outputs = _outputs("public", None, gpu={"instance_type": "g5.xlarge"})
    results = _by_name(run_aws_checks(outputs, outputs.endpoints["m"]))
    assert results["gpu-instance-type"].status == "skip"
    assert "no kubeconfig" in results["gpu-instance-type"].reason


class LabelledCore:
    """Pods by label selector, nodes with arbitrary labels (K3s sets instance-type=k3s)."""

    def __init__(self, pods: dict[str, list[str]], nodes: dict[str, dict[str, str]]) -> None:
        self.pods, self.nodes = pods, nodes

    def list_namespaced_pod(self, namespace: str, label_selector: str, **_: Any) -> Any:
        return SimpleNamespace(items=[V1Pod(spec=V1PodSpec(containers=[], node_name=n))
                                      for n in self.pods.get(label_selector, [])])

    def read_node(self, name: str, **_: Any) -> V1Node:
        return V1Node(metadata=V1ObjectMeta(name=name, labels=self.nodes[name]))


K3S_NODE = {"node.kubernetes.io/instance-type": "k3s",
            "inference-stacks/machine-type": "g2-standard-8"}


def test_k3s_pinning_is_checked_on_the_label_the_outputs_name() -> None:
    """K3s labels every node instance-type=k3s; the program pins on the machine-type label."""
    endpoint = _outputs("cluster", None, gpu={
        "type": "L4", "count": 1, "instance_type": "g2-standard-8",
        "pinning_label": "inference-stacks/machine-type"}).endpoints["m"]
    core = LabelledCore({"app=m": ["gpu-0"]}, {"gpu-0": K3S_NODE})
    status, reason, details = check_instance_type(core, endpoint)
    assert status == "pass", reason
    assert details["label"] == "inference-stacks/machine-type"


def test_routed_endpoints_are_checked_on_the_engines_nodes_not_the_routers() -> None:
    endpoint = _outputs("cluster", None, selector={"app": "router"},
                        engine_selector={"app": "engine"},
                        gpu={"type": "A10G", "count": 1, "instance_type": "g5.xlarge"}
                        ).endpoints["m"]
    core = LabelledCore({"app=router": ["system-0"], "app=engine": ["gpu-0"]},
                        {"system-0": {"node.kubernetes.io/instance-type": "m5.large"},
                         "gpu-0": {"node.kubernetes.io/instance-type": "g5.xlarge"}})
    status, reason, _ = check_instance_type(core, endpoint)
    assert status == "pass", reason
    wrong = LabelledCore({"app=router": ["system-0"], "app=engine": ["system-0"]},
                         core.nodes)
    assert check_instance_type(wrong, endpoint)[0] == "fail"
