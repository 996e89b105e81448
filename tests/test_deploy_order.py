"""The deploy-order check of the plan (infra/plan/graph.py, docs/deploy-order.md).

Each invariant is shown to fail on a tiny broken program run under the recording mock engine,
and to hold on its fixed twin; every stack in stacks/ plans without a violation.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest

from infra.plan import cli
from infra.plan.graph import Expectations, Graph, violations, waves
from infra.plan.mocks import Registration, Wiring, run_under_mocks
from tests.helpers import plan, stack_names

GPU_LABELS = {"nvidia.com/gpu.present": "true"}


def graph_of(program: Callable[[], None]) -> Graph:
    def run() -> dict[str, Any]:
        program()
        return {}

    _, registrations = run_under_mocks(run, {}, [], "test")
    return Graph(registrations)


def broken(program: Callable[[], None], invariant: str,
           expect: Expectations | None = None) -> list[str]:
    prefix = f"{invariant}: "
    return [v.removeprefix(prefix) for v in violations(graph_of(program), expect or Expectations())
            if v.startswith(prefix)]


def _cluster() -> tuple[aws.eks.Cluster, k8s.Provider]:
    cluster = aws.eks.Cluster("cluster", role_arn="arn:aws:iam::1:role/c",
                              vpc_config={"subnet_ids": ["s"]})
    provider = k8s.Provider("k8s", kubeconfig=cluster.name)  # an Output of the cluster
    return cluster, provider


def _gpu_deployment(opts: pulumi.ResourceOptions) -> None:
    container = {"name": "engine", "image": "vllm",
                 "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    k8s.apps.v1.Deployment("engine", spec={
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}}},
        opts=opts)


def _gpu_nodes(cluster: aws.eks.Cluster) -> aws.eks.NodeGroup:
    return aws.eks.NodeGroup("gpu", cluster_name=cluster.name, node_role_arn="arn",
                             subnet_ids=["s"], labels=GPU_LABELS,
                             scaling_config={"min_size": 0, "desired_size": 1, "max_size": 1})


# --- Kubernetes objects use the cluster's provider ------------------------------------------

def test_a_kubernetes_object_on_the_default_provider_fails() -> None:
    problems = broken(lambda: k8s.core.v1.ConfigMap("cm", data={"a": "b"}), "kubernetes-provider")
    assert problems == ["kubernetes:core/v1:ConfigMap cm uses the default Kubernetes provider "
                        "(the ambient kubeconfig), not the stack's cluster provider"]


def test_a_provider_that_does_not_wait_for_the_cluster_fails() -> None:
    def program() -> None:
        aws.eks.Cluster("cluster", role_arn="arn", vpc_config={"subnet_ids": ["s"]})
        provider = k8s.Provider("k8s", kubeconfig="{}")
        k8s.core.v1.ConfigMap("cm", opts=pulumi.ResourceOptions(provider=provider))

    problems = broken(program, "kubernetes-provider")
    assert any("ConfigMap cm: its provider pulumi:providers:kubernetes k8s does not wait for "
               "cluster aws:eks/cluster:Cluster cluster" in p for p in problems)
    assert any("ConfigMap cm does not wait for cluster" in p for p in problems)


def test_objects_on_the_cluster_provider_hold() -> None:
    def program() -> None:
        _, provider = _cluster()
        k8s.core.v1.ConfigMap("cm", opts=pulumi.ResourceOptions(provider=provider))

    assert broken(program, "kubernetes-provider") == []


# --- pods wait for nodes that can run them --------------------------------------------------

def test_gpu_pods_that_do_not_wait_for_gpu_nodes_fail() -> None:
    def program() -> None:
        cluster, provider = _cluster()
        _gpu_nodes(cluster)
        _gpu_deployment(pulumi.ResourceOptions(provider=provider))

    problems = broken(program, "pods-on-nodes")
    assert problems == ["kubernetes:apps/v1:Deployment engine requests GPUs but does not wait "
                        "for GPU nodes (aws:eks/nodeGroup:NodeGroup gpu)"]


def test_gpu_pods_waiting_for_cpu_nodes_only_fail_and_for_gpu_nodes_hold() -> None:
    def program(gpu: bool) -> None:
        cluster, provider = _cluster()
        nodes = _gpu_nodes(cluster)
        cpu = aws.eks.NodeGroup("system", cluster_name=cluster.name, node_role_arn="arn",
                                subnet_ids=["s"],
                                scaling_config={"min_size": 1, "desired_size": 1, "max_size": 1})
        _gpu_deployment(pulumi.ResourceOptions(provider=provider,
                                               depends_on=[nodes if gpu else cpu]))

    assert len(broken(lambda: program(False), "pods-on-nodes")) == 1
    assert broken(lambda: program(True), "pods-on-nodes") == []


def test_gpu_pods_that_do_not_wait_for_the_device_plugin_fail() -> None:
    def program() -> None:
        cluster, provider = _cluster()
        nodes = _gpu_nodes(cluster)
        k8s.helm.v3.Release("plugin", chart="nvidia-device-plugin", version="0.17.1",
                            opts=pulumi.ResourceOptions(provider=provider, depends_on=[nodes]))
        _gpu_deployment(pulumi.ResourceOptions(provider=provider, depends_on=[nodes]))

    assert broken(program, "pods-on-nodes") == [
        "kubernetes:apps/v1:Deployment engine requests GPUs but does not wait for device "
        "plugin kubernetes:helm.sh/v3:Release plugin"]


def test_a_chart_that_waits_for_no_nodes_fails() -> None:
    def program() -> None:
        cluster, provider = _cluster()
        _gpu_nodes(cluster)
        k8s.helm.v3.Release("lb", chart="aws-load-balancer-controller",
                            opts=pulumi.ResourceOptions(provider=provider))

    problems = broken(program, "pods-on-nodes")
    assert problems == ["kubernetes:helm.sh/v3:Release lb creates pods but waits for no nodes "
                        "(aws:eks/nodeGroup:NodeGroup gpu)"]


# --- custom resources wait for their CRD ----------------------------------------------------

def _inference_cr(opts: pulumi.ResourceOptions) -> None:
    k8s.apiextensions.CustomResource(
        "endpoint", api_version="inference.sagemaker.aws.amazon.com/v1",
        kind="InferenceEndpointConfig", metadata={"name": "e"}, spec={}, opts=opts)


def test_a_custom_resource_created_before_its_crd_fails() -> None:
    def program(wait: bool) -> None:
        cluster, provider = _cluster()
        addon = aws.eks.Addon("operator", cluster_name=cluster.name,
                              addon_name="amazon-sagemaker-hyperpod-inference")
        _inference_cr(pulumi.ResourceOptions(provider=provider,
                                             depends_on=[addon] if wait else []))

    problems = broken(lambda: program(False), "crd-before-custom-resource")
    assert problems == [
        "kubernetes:inference.sagemaker.aws.amazon.com/v1:InferenceEndpointConfig endpoint "
        "(inference.sagemaker.aws.amazon.com) does not wait for the "
        "amazon-sagemaker-hyperpod-inference add-on aws:eks/addon:Addon operator: created "
        "before its CRD, deleted after its operator"]
    assert broken(lambda: program(True), "crd-before-custom-resource") == []


# --- EKS add-ons wait for the cluster and nodes ---------------------------------------------

def test_an_addon_without_cluster_or_nodes_fails() -> None:
    def program() -> None:
        cluster, _ = _cluster()
        aws.eks.NodeGroup("system", cluster_name=cluster.name, node_role_arn="arn",
                          subnet_ids=["s"],
                          scaling_config={"min_size": 1, "desired_size": 1, "max_size": 1})
        aws.eks.Addon("cert-manager", cluster_name="by-name-only", addon_name="cert-manager")

    assert broken(program, "addons-after-cluster-and-nodes") == [
        "aws:eks/addon:Addon cert-manager does not wait for cluster aws:eks/cluster:Cluster "
        "cluster",
        "aws:eks/addon:Addon cert-manager waits for no node group to schedule on "
        "(aws:eks/nodeGroup:NodeGroup system)"]


def test_an_addon_after_the_node_group_holds() -> None:
    def program() -> None:
        cluster, _ = _cluster()
        group = aws.eks.NodeGroup("system", cluster_name=cluster.name, node_role_arn="arn",
                                  subnet_ids=["s"],
                                  scaling_config={"min_size": 1, "desired_size": 1,
                                                  "max_size": 1})
        aws.eks.Addon("cert-manager", cluster_name=cluster.name, addon_name="cert-manager",
                      opts=pulumi.ResourceOptions(depends_on=[group]))

    assert broken(program, "addons-after-cluster-and-nodes") == []


# --- pods that run as an IAM role wait for its permissions ----------------------------------

def _irsa_release(wait_for_policy: bool) -> None:
    """An add-on release whose service account takes an IRSA role (as the LB controller's and
    the Cluster Autoscaler's do)."""
    cluster, provider = _cluster()
    system = aws.eks.NodeGroup("system", cluster_name=cluster.name, node_role_arn="arn",
                               subnet_ids=["s"],
                               scaling_config={"min_size": 1, "desired_size": 1, "max_size": 1})
    role = aws.iam.Role("autoscaler", assume_role_policy="{}")
    attachment = aws.iam.RolePolicyAttachment("autoscaler", role=role.name, policy_arn="arn")
    annotations = {"eks.amazonaws.com/role-arn": role.arn}
    k8s.helm.v3.Release(
        "cluster-autoscaler", chart="cluster-autoscaler",
        values={"rbac": {"serviceAccount": {"annotations": annotations}}},
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[
            system, *([attachment] if wait_for_policy else [])]))


def test_a_release_that_runs_as_a_role_before_its_policy_is_attached_fails() -> None:
    assert broken(lambda: _irsa_release(False), "pods-after-role-permissions") == [
        "kubernetes:helm.sh/v3:Release cluster-autoscaler runs as role aws:iam/role:Role "
        "autoscaler before aws:iam/rolePolicyAttachment:RolePolicyAttachment autoscaler grants "
        "its permissions"]
    assert broken(lambda: _irsa_release(True), "pods-after-role-permissions") == []


def test_the_cluster_autoscaler_waits_for_cluster_nodes_and_its_role_policy() -> None:
    """The EKS stack that autoscales: the release waits for the cluster, the system nodes and
    the attachment of its IRSA role's policy (the order `pulumi up` needs)."""
    result = plan("eks-gpu")
    graph = {(e["type"], e["name"]): e for e in result.graph}
    release = graph[("kubernetes:helm.sh/v3:Release", "cluster-autoscaler")]
    wave_of = {key: entry["wave"] for key, entry in graph.items()}
    for before in [("eks:index:Cluster", "eks"),
                   ("aws:eks/nodeGroup:NodeGroup", "eks-system"),
                   ("aws:iam/role:Role", "cluster-autoscaler-role"),
                   ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                    "cluster-autoscaler-policy")]:
        assert wave_of[before] < release["wave"], before


# --- nodes wait for their subnets' routes ---------------------------------------------------

def test_nodes_launched_before_their_subnet_is_routed_fail() -> None:
    def program(wait: bool) -> None:
        cluster, _ = _cluster()
        subnet = aws.ec2.Subnet("private", vpc_id="vpc", cidr_block="10.0.0.0/19")
        table = aws.ec2.RouteTable("private", vpc_id="vpc")
        assoc = aws.ec2.RouteTableAssociation("private", subnet_id=subnet.id,
                                              route_table_id=table.id)
        aws.eks.NodeGroup("gpu", cluster_name=cluster.name, node_role_arn="arn",
                          subnet_ids=[subnet.id],
                          scaling_config={"min_size": 1, "desired_size": 1, "max_size": 1},
                          opts=pulumi.ResourceOptions(depends_on=[assoc] if wait else []))

    assert broken(lambda: program(False), "nodes-after-egress") == [
        "aws:eks/nodeGroup:NodeGroup gpu launches in subnet private-id before "
        "aws:ec2/routeTableAssociation:RouteTableAssociation private routes it"]
    assert broken(lambda: program(True), "nodes-after-egress") == []


# --- cloud resources are pinned to the configured region / project --------------------------

REGION = Expectations(aws_region="us-east-1")


def test_an_aws_resource_on_the_default_provider_fails() -> None:
    problems = broken(lambda: aws.s3.Bucket("b"), "cloud-location", REGION)
    assert problems == ["aws:s3/bucket:Bucket b uses the default aws provider (ambient "
                        "environment), not one with region us-east-1"]


def test_an_aws_provider_in_another_region_fails_and_the_configured_one_holds() -> None:
    def program(region: str) -> None:
        provider = aws.Provider("aws", region=region)
        aws.s3.Bucket("b", opts=pulumi.ResourceOptions(provider=provider))

    assert broken(lambda: program("eu-west-1"), "cloud-location", REGION) == [
        "aws:s3/bucket:Bucket b uses provider pulumi:providers:aws aws with region "
        "'eu-west-1', not 'us-east-1'"]
    assert broken(lambda: program("us-east-1"), "cloud-location", REGION) == []


def test_gcp_resources_need_the_configured_project_and_zone() -> None:
    expect = Expectations(gcp_project="proj-12345", gcp_region="us-central1",
                          gcp_zone="us-central1-a")

    def program(project: str | None, zone: str) -> None:
        gcp.compute.Disk("d", project=project, zone=zone, size=10)

    assert broken(lambda: program(None, "us-central1-a"), "cloud-location", expect) == [
        "gcp:compute/disk:Disk d takes project None from the ambient gcloud config, not the "
        "configured 'proj-12345'"]
    assert broken(lambda: program("proj-12345", "us-east1-b"), "cloud-location", expect) == [
        "gcp:compute/disk:Disk d takes zone 'us-east1-b' from its own input, not the "
        "configured 'us-central1-a'"]
    assert broken(lambda: program("proj-12345", "us-central1-a"), "cloud-location",
                  expect) == []

    def via_provider() -> None:
        provider = gcp.Provider("gcp", project="proj-12345", zone="us-central1-a")
        gcp.compute.Disk("d", zone="us-central1-a", size=10,
                         opts=pulumi.ResourceOptions(provider=provider))

    assert broken(via_provider, "cloud-location", expect) == []


# --- the graph itself: no dangling edge, no cycle, waves ------------------------------------

def _reg(name: str, deps: list[str]) -> Registration:
    return Registration("aws:s3/bucket:Bucket", name, None, True, {},
                        Wiring(f"urn:{name}", dependencies=deps))


def test_dangling_edges_and_cycles_are_violations() -> None:
    graph = Graph([_reg("a", ["urn:b"]), _reg("b", ["urn:a"]), _reg("c", ["urn:gone"])])
    problems = violations(graph, Expectations())
    assert "graph: aws:s3/bucket:Bucket c waits on urn:gone, which this program never " \
           "registers" in problems
    assert any(p.startswith("graph: dependency cycle: aws:s3/bucket:Bucket a -> ")
               for p in problems)


def test_waves_put_every_resource_after_what_it_waits_on() -> None:
    graph = Graph([_reg("a", []), _reg("b", ["urn:a"]), _reg("c", ["urn:a", "urn:b"])])
    assert [[n.name for n in wave] for wave in waves(graph)] == [["a"], ["b"], ["c"]]


def test_waves_of_a_stack_never_wait_on_a_later_wave() -> None:
    result = plan("eks-gpu")
    wave = {(r["type"], r["name"]): r["wave"] for r in result.graph}
    by_label = {f"{r['type']} {r['name']}": r for r in result.graph}
    for entry in result.graph:
        if entry["wave"] is None:
            continue
        for dep in entry["depends_on"]:
            other = by_label[dep]
            if other["wave"] is not None:
                assert wave[(other["type"], other["name"])] < entry["wave"], (entry, dep)
    assert "## Wave 0" in result.order and "all hold" in result.order


# --- every stack, and the CLI ---------------------------------------------------------------

@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_keeps_every_deploy_order_invariant(stack: str) -> None:
    assert plan(stack).violations == []


def test_the_cli_exits_1_with_one_line_per_violation(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    real = cli.plan_stack

    def with_violation(*args: Any) -> Any:
        result = real(*args)
        result.violations = ["pods-on-nodes: A does not wait for B", "graph: C waits on D"]
        return result

    monkeypatch.setattr(cli, "plan_stack", with_violation)
    args = argparse.Namespace(stack="onprem-t4", config_file=None, out=tmp_path, quiet=True,
                              secret=[])
    assert cli.run_plan(args) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == ["  pods-on-nodes: A does not wait for B", "  graph: C waits on D"]
    assert (tmp_path / "graph.json").is_file() and (tmp_path / "order.md").is_file()
