"""Cluster stack `k3s-l4` (platform k3s-gcp): network rules (R24), G2 hosts (R25), secrets."""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from typing import Any

import pytest

from components.gpu_catalog import lookup_instance_type
from components.platforms.gcp_network import firewall_rules, is_world
from infra.plan import Plan, read_stack_file
from tests.helpers import ROOT, config_problems, plan, plan_config

STACK = "k3s-l4"


@functools.cache
def cluster_plan() -> Plan:
    return plan(STACK)


def stack_config() -> dict[str, Any]:
    raw, _ = read_stack_file(ROOT / "stacks" / f"Pulumi.{STACK}.yaml")
    prefix = "inference-stacks:"
    return {k.removeprefix(prefix): (v if k.endswith(":platform") else json.loads(v))
            for k, v in raw.items() if k.startswith(prefix)}


def with_settings(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config())
    config["k3s_gcp"].update(changes)
    return config


def of_type(result: Plan, suffix: str) -> list[dict[str, Any]]:
    return [r for r in result.resources if r["type"].endswith(suffix)]


def test_cluster_stack_plans_without_endpoints() -> None:
    result = cluster_plan()
    assert result.outputs["platform"] == "k3s-gcp"
    assert result.outputs["endpoints"] == {}
    cluster = result.outputs["cluster"]
    assert cluster["kubeconfig_secret_id"] == "k3s-l4-kubeconfig"
    assert cluster["runtime_class"] == "nvidia"
    assert cluster["kubernetes_version"] == "1.33"


def test_firewall_never_opens_admin_ports_to_the_world_by_default() -> None:
    firewalls = of_type(cluster_plan(), ":Firewall")
    assert firewalls
    admin_cidrs = stack_config()["k3s_gcp"]["admin_cidrs"]
    for fw in firewalls:
        inputs = fw["inputs"]
        assert not any(is_world(c) for c in inputs.get("sourceRanges") or []), fw["name"]
        ports = {p for allow in inputs["allows"] for p in allow.get("ports", [])}
        if ports & {"22", "6443"} and "sourceRanges" in inputs:
            assert inputs["sourceRanges"] == admin_cidrs
    intra = next(f for f in firewalls if f["name"].endswith("intra-cluster"))["inputs"]
    assert intra["sourceTags"] == intra["targetTags"] == ["k3s-node"]
    assert "sourceRanges" not in intra
    assert {(a["protocol"], p) for a in intra["allows"] for p in a["ports"]} == {
        ("tcp", "6443"), ("tcp", "10250"), ("udp", "8472")}


def test_k3s_api_is_only_on_the_server_and_nodeports_only_when_asked() -> None:
    rules = {r.name: r for r in firewall_rules(("198.51.100.0/24",), open_nodeports=False)}
    assert rules["admin-k3s-api"].target_tags == ("k3s-server",)
    assert "admin-nodeports" not in rules
    rules = {r.name: r for r in firewall_rules(("198.51.100.0/24",), open_nodeports=True)}
    assert rules["admin-nodeports"].source_ranges == ("198.51.100.0/24",)
    assert [r.name for r in firewall_rules((), open_nodeports=True)] == ["intra-cluster"]


def test_world_admin_cidr_needs_an_explicit_stack_setting() -> None:
    problems = config_problems(with_settings(admin_cidrs=["0.0.0.0/0"]))
    assert any("k3s_gcp.admin_cidrs" in p and "R24" in p for p in problems), problems
    result = plan_config(with_settings(admin_cidrs=["0.0.0.0/0"], allow_public_admin=True))
    ranges = [r["inputs"].get("sourceRanges") for r in of_type(result, ":Firewall")]
    assert ["0.0.0.0/0"] in ranges  # the stack said so explicitly


def test_no_admin_cidrs_means_no_admin_rules() -> None:
    result = plan_config(with_settings(admin_cidrs=[]))
    names = [r["name"] for r in of_type(result, ":Firewall")]
    assert names == ["k3s-l4-intra-cluster"]


def test_vms_are_g2_with_gpus_derived_from_the_machine_type() -> None:
    result = cluster_plan()
    settings = stack_config()["k3s_gcp"]
    instances = of_type(result, "compute/instance:Instance")
    assert len(instances) == 1 + settings["agent_count"]
    catalog = lookup_instance_type(settings["machine_type"])
    assert catalog is not None
    for vm in instances:
        inputs = vm["inputs"]
        assert inputs["machineType"] == settings["machine_type"]
        assert "guestAccelerators" not in inputs  # G2 GPUs come with the machine type
        assert inputs["scheduling"]["onHostMaintenance"] == "TERMINATE"
        assert inputs["shieldedInstanceConfig"]["enableSecureBoot"] is False
        disk = inputs["bootDisk"]["initializeParams"]
        assert disk["image"].endswith(f"/family/{settings['image_family']}")
        assert disk["image"].startswith("projects/deeplearning-platform-release/")
        assert disk["size"] >= settings["model_cache_gb"]
    gpu = result.outputs["cluster"]["gpu"]
    assert (gpu["type"], gpu["per_node"]) == ("L4", catalog.gpu_count)
    assert gpu["total"] == catalog.gpu_count * len(instances)


@pytest.mark.parametrize("machine_type,gpus", [("g2-standard-8", 1), ("g2-standard-24", 2),
                                               ("g2-standard-32", 1), ("g2-standard-96", 8)])
def test_gpu_count_per_vm_follows_the_catalog(machine_type: str, gpus: int) -> None:
    result = plan_config(with_settings(machine_type=machine_type, agent_count=0))
    assert result.outputs["cluster"]["gpu"]["per_node"] == gpus


def test_a3_highgpu_for_l4_is_rejected_naming_the_g2_family() -> None:
    problems = config_problems(with_settings(machine_type="a3-highgpu-1g"))
    message = next(p for p in problems if "k3s_gcp.machine_type" in p)
    assert "1x H100" in message and "g2-standard" in message and "R25" in message


def test_endpoints_belong_in_the_workload_stack() -> None:
    config = stack_config()
    config["endpoints"] = [{"name": "x", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                            "gpu": {"type": "L4"}}]
    problems = config_problems(config)
    assert any("k3s-workload" in p for p in problems), problems


def test_kubeconfig_secret_and_least_privilege_vm_account() -> None:
    result = cluster_plan()
    secrets = {r["inputs"]["secretId"] for r in of_type(result, "secretmanager/secret:Secret")}
    assert secrets == {"k3s-l4-kubeconfig", "k3s-l4-join-token", "k3s-l4-agent-token"}
    grants = {(r["inputs"]["secretId"], r["inputs"]["role"])
              for r in of_type(result, "SecretIamMember")}
    # Which account holds which grant: tests/security/test_k3s_trust.py.
    assert grants == {("k3s-l4-kubeconfig", "roles/secretmanager.secretVersionAdder"),
                      ("k3s-l4-join-token", "roles/secretmanager.secretAccessor"),
                      ("k3s-l4-agent-token", "roles/secretmanager.secretAccessor")}
    project_roles = {r["inputs"]["role"] for r in of_type(result, "IAMMember")}
    assert project_roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter"}
    version = of_type(result, "SecretVersion")[0]["inputs"]
    assert version["secretData"] == "[secret]"  # the join token is a Pulumi secret


def test_server_startup_script_uses_the_static_ip_and_is_valid_bash() -> None:
    result = cluster_plan()
    server = next(r for r in of_type(result, "Instance") if r["name"] == "k3s-l4-server")
    external = result.outputs["cluster"]["server_external_ip"]
    assert server["inputs"]["networkInterfaces"][0]["accessConfigs"] == [{"natIp": external}]
    script = server["inputs"]["metadata"]["startup-script"]
    assert f"SERVER_EXTERNAL_IP={external}" in script and "ROLE=server" in script
    bash = shutil.which("bash")
    assert bash is not None
    proc = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_gcp_resource_names_the_stacks_project() -> None:
    """No ambient `gcp:project`: the section's project is the one source of truth."""
    project = stack_config()["k3s_gcp"]["project"]
    gcp = [r for r in cluster_plan().resources if r["type"].startswith("gcp:")
           and not r["type"].endswith(":SecretVersion")]  # addressed by the secret's full id
    assert gcp
    for resource in gcp:
        assert resource["inputs"].get("project") == project, resource["name"]
