"""The real program under Pulumi's mock engine: security-relevant properties of what it creates."""

from __future__ import annotations

import pytest

from infra.plan.mocks import SECRET
from tests.helpers import containers, k8s_config, manifest, plan, plan_config, stack_names


@pytest.fixture(scope="module")
def dev_plan():
    return plan("k8s-dev")


def test_api_keys_are_secret_outputs_and_secret_in_the_kubernetes_secret(dev_plan) -> None:
    for name, endpoint in dev_plan.outputs["endpoints"].items():
        assert endpoint["api_key"] == SECRET, name
        secret = manifest(dev_plan, "Secret", f"{name}-api-key")
        assert secret["stringData"] == {"api-key": SECRET}
    random_passwords = [r for r in dev_plan.resources if r["type"].startswith("random:")]
    assert len(random_passwords) == len(dev_plan.outputs["endpoints"])


def test_kubeconfig_is_a_secret_output(dev_plan) -> None:
    assert dev_plan.outputs["kubeconfig"] == SECRET
    provider = next(r for r in dev_plan.resources if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == SECRET


def test_api_key_never_appears_in_the_pod_spec(dev_plan) -> None:
    for _, container in containers(dev_plan):
        for env in container["env"]:
            if "KEY" in env["name"]:
                assert "value" not in env and "secretKeyRef" in env["valueFrom"]
        assert not any(a.startswith("plan-") for a in container["args"])


@pytest.mark.parametrize("stack", [s for s in stack_names() if s in ("k8s-dev", "onprem-t4")])
def test_nothing_public_by_default(stack: str) -> None:
    result = plan(stack)
    kinds = {obj["kind"] for obj in result.manifests.values()}
    assert "Ingress" not in kinds
    for obj in result.manifests.values():
        if obj["kind"] == "Service":
            assert obj["spec"]["type"] == "ClusterIP"
    assert {e["exposure"] for e in result.outputs["endpoints"].values()} == {"cluster"}


def test_probes_have_timeouts_of_at_least_5s_and_a_startup_budget(dev_plan) -> None:
    for _, container in containers(dev_plan):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["timeoutSeconds"] >= 5, probe  # R2
            assert "initialDelaySeconds" not in container[probe]  # R1
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800


def test_gpu_pods_are_pinned_and_tolerate_the_gpu_taint(dev_plan) -> None:
    deployment = manifest(dev_plan, "Deployment", "qwen3-0-6b")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.xlarge"}  # R3
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_outputs_follow_contract_v1_and_the_smoke_reader_accepts_them(dev_plan) -> None:
    import json

    from smoke.outputs import parse_outputs

    outputs = dev_plan.outputs
    assert outputs["schema_version"] == 1 and outputs["platform"] == "kubernetes"
    parsed = parse_outputs(json.dumps(outputs), "plan")
    endpoint = parsed.endpoints["qwen3-0-6b"]
    assert endpoint.served_model_name == "Qwen3-0.6B"  # R5: exported exactly
    assert endpoint.base_url == "http://qwen3-0-6b.inference.svc.cluster.local:8000"
    assert endpoint.port == 8000 and endpoint.exposure == "cluster"
    assert endpoint.slos.ttft_p95_ms == 2000
    sglang = parsed.endpoints["qwen3-4b-sglang"]
    assert sglang.port == 30000  # R6: the engine profile's port everywhere
    deployment = manifest(dev_plan, "Deployment", "qwen3-4b-sglang")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 30000
    service = manifest(dev_plan, "Service", "qwen3-4b-sglang")
    assert service["spec"]["ports"][0]["port"] == 30000


def test_public_alb_endpoint_exports_https_url_and_public_exposure() -> None:
    config = k8s_config(exposure={
        "type": "alb", "scheme": "internet-facing", "certificate_arn":
        "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
        "inbound_cidrs": ["203.0.113.0/24"]})
    config["kubernetes"] = {"aws_load_balancer_controller": True, "aws_region": "us-east-1",
                            "load_balancer_cidrs": ["10.0.0.0/16"]}
    result = plan_config(config)
    endpoint = result.outputs["endpoints"]["qwen3-0-6b"]
    assert endpoint["exposure"] == "public"
    assert endpoint["base_url"] == "https://qwen3-0-6b.lb.plan.invalid"
    assert endpoint["load_balancer"]["scheme"] == "internet-facing"
    ingress = manifest(result, "Ingress", "qwen3-0-6b")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24"


def test_hf_token_goes_through_a_secret() -> None:
    config = {**k8s_config(source={"type": "huggingface", "use_token": True}), "hf_token": "hf_x"}
    result = plan_config(config, secret_keys=["inference-stacks:hf_token"])
    secret = manifest(result, "Secret", "qwen3-0-6b-hf-token")
    assert secret["stringData"] == {"token": SECRET}
    env = {e["name"]: e for e in containers(result)[0][1]["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "qwen3-0-6b-hf-token"


def test_components_use_the_type_tokens_and_parent_their_children(dev_plan) -> None:
    by_type = {r["type"] for r in dev_plan.resources}
    assert "inference-stacks:endpoint:InferenceEndpoint" in by_type
    for resource in dev_plan.resources:
        if resource["type"] == "kubernetes:apps/v1:Deployment":
            assert resource["parent"].endswith(
                "inference-stacks:endpoint:InferenceEndpoint::" + resource["name"])


def _deployment_timeouts(result) -> dict[str, dict[str, str]]:
    return {g["name"]: g["custom_timeouts"] for g in result.graph
            if g["type"] == "kubernetes:apps/v1:Deployment"}


@pytest.mark.parametrize(("stack", "budget"), [("k8s-dev", 1800), ("onprem-t4", 3600)])
def test_engine_deployments_wait_their_startup_budget_plus_image_pull(stack: str,
                                                                     budget: int) -> None:
    """Pulumi's default 10-minute await failed the first `pulumi up` of a real model."""
    minutes = f"{(budget + 900) // 60}m"
    timeouts = _deployment_timeouts(plan(stack))
    assert timeouts and all(t == {"create": minutes, "update": minutes}
                            for t in timeouts.values()), timeouts


def test_routers_wait_their_engines_startup_budget_too() -> None:
    result = plan("k3s-l4-bench")
    routers = {n: t for n, t in _deployment_timeouts(result).items() if n.endswith("-router")}
    assert routers and all(t == {"create": "45m", "update": "45m"} for t in routers.values())
