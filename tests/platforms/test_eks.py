"""Platform `eks`: the two stacks' plans, placement (R3), and every rejection with its key path."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.platforms.aws_network import subnet_cidrs
from components.platforms.eks import cluster_arn
from infra.config.endpoint import EndpointConfig
from infra.config.platforms.eks import EksSettings
from infra.plan import Plan
from infra.validate.placement import PlacementError
from infra.validate.platforms.eks import first_fit_nodes, place
from tests.helpers import ROOT, config_problems, manifest, plan, plan_config

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


@functools.cache
def cached(stack: str) -> Plan:
    return plan(stack)


def resources(result: Plan, type_token: str) -> list[dict[str, Any]]:
    return [r for r in result.resources if r["type"] == type_token]


def one(result: Plan, type_token: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in resources(result, type_token) if name is None or r["name"] == name]
    assert len(found) == 1, f"{type_token} {name}: {[r['name'] for r in found]}"
    return found[0]["inputs"]


def eks_config(**endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "qwen3-0-6b", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                            "gpu": {"pool": "a10g"}}
    base.update(endpoint)
    return {"platform": "eks",
            "eks": {"region": "us-east-1", "api_public_access_cidrs": ["203.0.113.0/24"],
                    "vpc": {"availability_zone_names": ["us-east-1a", "us-east-1b"]},
                    "gpu_pools": [{"name": "a10g", "instance_types": ["g5.xlarge"]}]},
            "endpoints": [base]}


def with_eks(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(config)
    result["eks"].update(changes)
    return result


PUBLIC = {"type": "alb", "scheme": "internet-facing", "certificate_arn": CERT,
          "inbound_cidrs": ["203.0.113.0/24"]}


# --- The stacks ------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["eks-gpu", "eks-gpu-public"])
def test_cluster_has_api_auth_oidc_logging_private_endpoint_and_kms(stack: str) -> None:
    cluster = one(cached(stack), "eks:index:Cluster")
    assert cluster["version"] == "1.33"
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["endpointPrivateAccess"] is True
    assert cluster["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert set(cluster["enabledClusterLogTypes"]) >= {"api", "audit", "authenticator"}
    assert cluster["encryptionConfigKeyArn"].startswith("arn:aws:kms:")
    assert cluster["skipDefaultNodeGroup"] is True
    assert len(cluster["privateSubnetIds"]) == 2
    key = one(cached(stack), "aws:kms/key:Key")
    assert key["enableKeyRotation"] is True


@pytest.mark.parametrize("stack", ["eks-gpu", "eks-gpu-public"])
def test_node_groups_are_pinned_with_gpu_ami_taint_and_imdsv2(stack: str) -> None:
    result = cached(stack)
    gpu = one(result, "aws:eks/nodeGroup:NodeGroup", "gpu-a10g")
    assert gpu["instanceTypes"] == ["g5.xlarge"]
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    # eks-gpu autoscales: its GPU nodes also join with the Cluster Autoscaler's GPU label.
    accelerator = {"k8s.amazonaws.com/accelerator": "nvidia-a10g"} if stack == "eks-gpu" else {}
    assert gpu["labels"] == {"inference-stacks/pool": "a10g", "nvidia.com/gpu.present": "true",
                             **accelerator}
    system = one(result, "aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert system["instanceTypes"] == ["m6i.large"]
    assert system["taints"] == []
    assert system["amiType"] == "AL2023_x86_64_STANDARD"
    for name in ("gpu-a10g-lt", "eks-system-lt"):
        template = one(result, "aws:ec2/launchTemplate:LaunchTemplate", name)
        assert template["metadataOptions"]["httpTokens"] == "required"
        (volume,) = template["blockDeviceMappings"]
        assert volume["ebs"]["encrypted"] == "true"
    assert one(result, "aws:ec2/launchTemplate:LaunchTemplate", "gpu-a10g-lt")[
        "blockDeviceMappings"][0]["ebs"]["volumeSize"] == 200


def test_node_role_has_only_the_worker_policies() -> None:
    arns = sorted(r["inputs"]["policyArn"] for r in
                  resources(cached("eks-gpu"), "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                  if r["name"].startswith("eks-node-"))
    assert arns == ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]


def test_lb_controller_role_trusts_only_its_service_account() -> None:
    result = cached("eks-gpu-public")
    trust = json.loads(one(result, "aws:iam/role:Role", "aws-lb-controller-role")[
        "assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    conditions = stmt["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == [
        "sts.amazonaws.com", "system:serviceaccount:kube-system:aws-load-balancer-controller"]
    assert stmt["Principal"]["Federated"] == result.outputs["oidc_provider_arn"]
    policy = json.loads(one(result, "aws:iam/policy:Policy")["policy"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "elasticloadbalancing:DescribeListenerAttributes" in actions


def test_helm_releases_are_pinned_and_configured() -> None:
    result = cached("eks-gpu-public")
    controller = one(result, "kubernetes:helm.sh/v3:Release", "aws-lb-controller")
    assert (controller["chart"], controller["version"]) == ("aws-load-balancer-controller",
                                                            "1.14.1")
    values = controller["values"]
    assert values["clusterName"] == result.outputs["cluster_name"]
    assert values["region"] == "us-east-1"
    assert values["vpcId"] == result.outputs["vpc_id"]
    assert values["image"]["tag"] == "v2.14.1"
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == \
        result.outputs["aws_load_balancer_controller"]["role_arn"]
    plugin = one(result, "kubernetes:helm.sh/v3:Release", "gpu-device-plugin")
    assert (plugin["chart"], plugin["version"]) == ("nvidia-device-plugin", "0.17.1")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        plugin["values"]["tolerations"]


def test_internal_alb_ingress() -> None:
    annotations = manifest(cached("eks-gpu"), "Ingress", "qwen3-0-6b")["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    assert "alb.ingress.kubernetes.io/certificate-arn" not in annotations


@pytest.mark.parametrize("name", ["qwen3-0-6b", "qwen3-0-6b-sglang"])
def test_public_alb_ingress_has_tls_redirect_cidrs_and_long_idle_timeout(name: str) -> None:
    annotations = manifest(cached("eks-gpu-public"), "Ingress", name)["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io"
    assert annotations[f"{prefix}/scheme"] == "internet-facing"
    assert annotations[f"{prefix}/certificate-arn"] == CERT
    assert annotations[f"{prefix}/ssl-redirect"] == "443"
    assert annotations[f"{prefix}/inbound-cidrs"] == "203.0.113.0/24"
    assert annotations[f"{prefix}/load-balancer-attributes"] == \
        "idle_timeout.timeout_seconds=300"
    assert annotations[f"{prefix}/target-type"] == "ip"
    assert annotations[f"{prefix}/healthcheck-path"] == "/health"


@pytest.mark.parametrize("stack", ["eks-gpu", "eks-gpu-public"])
def test_engine_pods_are_pinned_to_the_pool_instance_type(stack: str) -> None:
    for obj in cached(stack).manifests.values():
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.xlarge",
                                       "inference-stacks/pool": "a10g"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
            pod["tolerations"]


def test_outputs_contract() -> None:
    outputs = cached("eks-gpu-public").outputs
    assert outputs["platform"] == "eks"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["cluster_name"] == "inference-stacks-eks-gpu-public"
    assert outputs["cluster_arn"] == \
        "arn:aws:eks:us-east-1:123456789012:cluster/inference-stacks-eks-gpu-public"
    assert outputs["region"] == "us-east-1"
    assert outputs["oidc_provider_arn"].startswith("arn:aws:iam::")
    assert outputs["vpc_id"]
    assert outputs["node_pools"]["a10g"]["instance_types"] == ["g5.xlarge"]
    for endpoint in outputs["endpoints"].values():
        assert endpoint["exposure"] == "public"
        assert endpoint["base_url"].startswith("https://")
        assert endpoint["api_key"] == "[secret]"
        assert endpoint["load_balancer"]["scheme"] == "internet-facing"
    internal = cached("eks-gpu").outputs["endpoints"]["qwen3-0-6b"]
    assert internal["exposure"] == "internal"
    assert internal["base_url"].startswith("http://")


def test_new_vpc_subnets_are_tagged_for_the_controller() -> None:
    subnets = {r["name"]: r["inputs"] for r in resources(cached("eks-gpu"),
                                                         "aws:ec2/subnet:Subnet")}
    assert subnets["network-public-0"]["tags"]["kubernetes.io/role/elb"] == "1"
    assert subnets["network-private-1"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert [s["availabilityZone"] for n, s in sorted(subnets.items()) if "private" in n] == \
        ["us-east-1a", "us-east-1b"]


# --- Variants planned from in-memory configs ----------------------------------------------------

def test_existing_vpc_uses_given_subnets_and_tags_them() -> None:
    config = with_eks(eks_config(), vpc={
        "existing_vpc_id": "vpc-0abc", "public_subnet_ids": ["subnet-01", "subnet-02"],
        "private_subnet_ids": ["subnet-03", "subnet-04"]})
    result = plan_config(config)
    assert not resources(result, "aws:ec2/vpc:Vpc")
    assert one(result, "eks:index:Cluster")["privateSubnetIds"] == ["subnet-03", "subnet-04"]
    tags = {(r["inputs"]["resourceId"], r["inputs"]["key"])
            for r in resources(result, "aws:ec2/tag:Tag")}
    assert ("subnet-01", "kubernetes.io/role/elb") in tags
    assert ("subnet-04", "kubernetes.io/role/internal-elb") in tags
    assert result.outputs["vpc_id"] == "vpc-0abc"


def test_karpenter_node_pool_has_the_same_requirements() -> None:
    result = plan_config(with_eks(eks_config(), autoscaling="karpenter"))
    pool = manifest(result, "NodePool", "gpu-a10g")
    requirements = {r["key"]: r["values"] for r in pool["spec"]["template"]["spec"][
        "requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["g5.xlarge"]
    assert requirements["karpenter.k8s.aws/instance-gpu-name"] == ["a10g"]
    assert pool["spec"]["template"]["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]


def test_nlb_exposure_plans() -> None:
    result = plan_config(eks_config(exposure={"type": "nlb"}))
    service = manifest(result, "Service", "qwen3-0-6b-nlb")
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_availability_zones_come_from_the_lookup(tmp_path: Path) -> None:
    """Planned in a child process, as a user runs the plan, with AZs from the invoke."""
    config = eks_config()
    del config["eks"]["vpc"]
    stack_file = tmp_path / "Pulumi.eks-azs.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {
        f"inference-stacks:{k}": v for k, v in config.items()}}), encoding="utf-8")
    out = tmp_path / "plan"
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--config-file", str(stack_file), "--out",
         str(out), "--quiet"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    planned = json.loads((out / "resources.json").read_text(encoding="utf-8"))
    zones = sorted(r["inputs"]["availabilityZone"] for r in planned
                   if r["type"] == "aws:ec2/subnet:Subnet" and "private" in r["name"])
    assert zones == ["us-east-1a", "us-east-1b"]


# --- Rejections --------------------------------------------------------------------------------

def problems_for(config: dict[str, Any]) -> str:
    problems = config_problems(config)
    assert problems, "expected the config to be rejected"
    return "\n".join(problems)


def test_internet_facing_without_certificate_is_rejected() -> None:
    text = problems_for(eks_config(exposure={**PUBLIC, "certificate_arn": None}))
    assert "inference-stacks:endpoints[0].exposure" in text
    assert "certificate_arn" in text


def test_internet_facing_without_cidrs_is_rejected() -> None:
    text = problems_for(eks_config(exposure={**PUBLIC, "inbound_cidrs": []}))
    assert "inbound_cidrs" in text


def test_internet_facing_without_api_key_is_rejected() -> None:
    text = problems_for(eks_config(exposure=PUBLIC, api_key=False))
    assert "inference-stacks:endpoints[0].api_key" in text


def test_pool_instance_type_outside_the_catalog_lists_known_types() -> None:
    config = with_eks(eks_config(), gpu_pools=[{"name": "a10g", "instance_types": ["g5.tiny"]}])
    text = problems_for(config)
    assert "inference-stacks:eks.gpu_pools[0].instance_types" in text
    assert "g5.tiny not in the GPU catalog" in text
    assert "g5.xlarge" in text and "g6e.xlarge" in text and "p5.48xlarge" in text


def test_pool_mixing_gpu_models_is_rejected() -> None:
    config = with_eks(eks_config(), gpu_pools=[
        {"name": "a10g", "instance_types": ["g5.xlarge", "g4dn.xlarge"]}])
    assert "same GPU and GPU count" in problems_for(config)


def test_model_that_does_not_fit_the_pool_gpu_is_rejected() -> None:
    text = problems_for(eks_config(model="Qwen/Qwen3-4B-Instruct-2507",
                                   engine_args={"max_model_len": 262144}))
    assert "inference-stacks:endpoints[0].engine_args.max_model_len" in text
    assert "A10G" in text and "largest max_model_len that fits" in text


def test_unknown_pool_lists_the_pools() -> None:
    text = problems_for(eks_config(gpu={"pool": "h100"}))
    assert "inference-stacks:endpoints[0].gpu.pool" in text
    assert "a10g (g5.xlarge)" in text


def test_instance_type_no_pool_allows_is_rejected() -> None:
    text = problems_for(eks_config(gpu={"instance_type": "g4dn.xlarge"}))
    assert "inference-stacks:endpoints[0].gpu.instance_type" in text
    assert "no GPU pool allows 'g4dn.xlarge'" in text


def test_more_gpus_than_the_instance_has_is_rejected() -> None:
    text = problems_for(eks_config(gpu={"pool": "a10g", "count": 2},
                                   engine_args={"tensor_parallel_size": 2}))
    assert "inference-stacks:endpoints[0].gpu.count" in text


def test_replicas_beyond_pool_capacity_are_rejected() -> None:
    text = problems_for(eks_config(replicas=3))
    assert "inference-stacks:eks.gpu_pools[0].max_size" in text


def test_cache_larger_than_root_volume_is_rejected() -> None:
    text = problems_for(eks_config(cache={"type": "emptydir", "size": "190Gi"}))
    assert "inference-stacks:endpoints[0].cache.size" in text and "root_volume_gib" in text


def test_fsx_is_rejected() -> None:
    assert "only for platform hyperpod" in problems_for(
        eks_config(source={"type": "fsx", "file_system_id": "fs-0123"}))


def test_load_balancer_without_controller_is_rejected() -> None:
    config = with_eks(eks_config(exposure={"type": "alb"}), aws_load_balancer_controller=False)
    assert "inference-stacks:endpoints[0].exposure.type" in problems_for(config)


def test_settings_rejections_have_key_paths() -> None:
    text = problems_for(with_eks(eks_config(), region="mars-1",
                                 admin_principal_arns=["root"],
                                 api_public_access_cidrs=["everyone"]))
    assert "inference-stacks:eks.region" in text
    assert "inference-stacks:eks.admin_principal_arns" in text
    assert "inference-stacks:eks.api_public_access_cidrs" in text
    assert "existing_vpc_id needs private_subnet_ids" in problems_for(
        with_eks(eks_config(), vpc={"existing_vpc_id": "vpc-0abc"}))


# --- Pure pieces -------------------------------------------------------------------------------

def test_place_pins_instance_type_and_pool() -> None:
    settings = EksSettings(region="us-east-1", gpu_pools=[
        {"name": "l4", "instance_types": ["g6.xlarge", "g6.2xlarge"]},
        {"name": "a10g", "instance_types": ["g5.xlarge"]}])
    endpoint = EndpointConfig(name="x", engine="vllm", model="Qwen/Qwen3-0.6B",
                              gpu={"instance_type": "g6.2xlarge"})
    placement = place(endpoint, settings)
    assert placement.node_selector == {"inference-stacks/pool": "l4",
                                       "node.kubernetes.io/instance-type": "g6.2xlarge"}
    assert placement.gpu is not None and placement.gpu.name == "L4"
    by_type = EndpointConfig(name="x", engine="vllm", model="m", gpu={"type": "A10G"})
    assert place(by_type, settings).instance_type == "g5.xlarge"
    ambiguous = EndpointConfig(name="x", engine="vllm", model="m", gpu={"pool": "l4"})
    with pytest.raises(PlacementError, match="name one so pods are pinned"):
        place(ambiguous, settings)


def test_subnet_cidrs_do_not_overlap() -> None:
    public, private = subnet_cidrs("10.0.0.0/16", 3)
    assert private == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert public == ["10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22"]
    with pytest.raises(ValueError, match="too small"):
        subnet_cidrs("10.0.0.0/24", 2)


def test_cluster_arn_keeps_partition_and_account() -> None:
    assert cluster_arn("arn:aws-us-gov:iam::111122223333:role/x", "us-gov-west-1", "c") == \
        "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/c"


def test_s3_source_without_keys_gets_an_engine_role_scoped_to_its_prefix() -> None:
    """IRSA instead of static keys (issue 12): one role per endpoint, trusted by the endpoint's
    own service account only, reading only its bucket prefix; the pods run as that account."""
    config = eks_config(source={"type": "s3", "bucket": "acme-models", "prefix": "qwen3/0.6b"})
    assert config_problems(config) == []
    result = plan_config(config)
    role = one(result, "aws:iam/role:Role", "qwen3-0-6b-identity-role")
    trust = json.loads(role["assumeRolePolicy"])
    condition = json.dumps(trust["Statement"][0]["Condition"])
    assert "system:serviceaccount:inference:qwen3-0-6b-engine" in condition
    policy = json.loads(one(result, "aws:iam/rolePolicy:RolePolicy",
                            "qwen3-0-6b-identity-s3-read")["policy"])
    resources_ = json.dumps(policy)
    assert "arn:aws:s3:::acme-models/qwen3/0.6b/*" in resources_ and '"*"' not in resources_
    account = manifest(result, "ServiceAccount", "qwen3-0-6b-engine")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    pod = manifest(result, "Deployment", "qwen3-0-6b")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "qwen3-0-6b-engine"
    with_keys = eks_config(source={"type": "s3", "bucket": "acme-models",
                                   "credentials_secret": "s3-keys"})
    assert not resources(plan_config(with_keys), "aws:iam/rolePolicy:RolePolicy")


@pytest.mark.parametrize("stack", ["eks-gpu", "eks-gpu-public"])
def test_node_groups_run_the_cluster_kubernetes_version(stack: str) -> None:
    """Node groups had no `version`: an upgraded control plane left the nodes behind."""
    result = cached(stack)
    version = result.kubernetes_version
    groups = resources(result, "aws:eks/nodeGroup:NodeGroup")
    assert groups and all(g["inputs"].get("version") == version for g in groups), \
        {g["name"]: g["inputs"].get("version") for g in groups}


def test_hyperpod_system_node_group_runs_the_cluster_version() -> None:
    result = plan("hyperpod")
    groups = resources(result, "aws:eks/nodeGroup:NodeGroup")
    assert [g["inputs"].get("version") for g in groups] == [result.kubernetes_version]


def test_gpu_pool_starts_with_the_nodes_its_endpoints_need() -> None:
    """A second replica on a pool of desired_size 1 planned clean and stayed Pending: nothing
    scales a managed node group. desired_size is raised to the demand (<= max_size)."""
    result = plan_config(eks_config(replicas=2))
    group = one(result, "aws:eks/nodeGroup:NodeGroup", "gpu-a10g")
    assert group["scalingConfig"] == {"minSize": 1, "desiredSize": 2, "maxSize": 2}
    assert result.outputs["node_pools"]["a10g"]["desired_size"] == 2
    single = plan_config(eks_config())
    assert one(single, "aws:eks/nodeGroup:NodeGroup", "gpu-a10g")["scalingConfig"][
        "desiredSize"] == 1


def test_demand_beyond_max_size_is_rejected_with_karpenter_too() -> None:
    config = with_eks(eks_config(replicas=3), autoscaling="karpenter")
    text = problems_for(config)
    assert "inference-stacks:eks.gpu_pools[0].max_size" in text and "raise max_size to 3" in text


def test_first_fit_packs_replicas_without_splitting_them() -> None:
    assert first_fit_nodes([], 4) == 0
    assert first_fit_nodes([1, 1, 1, 1, 1], 4) == 2
    assert first_fit_nodes([3, 3, 3], 4) == 3  # 12 GPUs, but no node holds two replicas
    assert first_fit_nodes([5, 4, 4], 8) == 2


def test_an_autoscaled_endpoint_needs_its_peak_on_the_pool() -> None:
    """KEDA scales engine pods up to autoscaling.max; the node group's max must hold them."""
    config = eks_config(replicas=1, autoscaling={"min": 1, "max": 3})
    text = problems_for(config)
    assert "inference-stacks:eks.gpu_pools[0].max_size" in text and "raise max_size to 3" in text
