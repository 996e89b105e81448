"""The vllm-router component: args, RBAC, Service, API key, outputs, config (managed setup)."""

from __future__ import annotations

import dataclasses

import pytest

from components import router_manifests as rm
from tests.contract.harness import validate_k8s_manifest
from tests.helpers import config_problems, k8s_config, manifest, plan_config

SPEC = rm.RouterSpec(
    endpoint="managed-qwen25-7b", namespace="managed", image=rm.DEFAULT_IMAGE,
    policy="power_of_two", port=8000, engine_port=8000,
    engine_selector={"app.kubernetes.io/instance": "managed-qwen25-7b",
                     "app.kubernetes.io/component": "engine"},
    prometheus_port=29001, api_key_secret="managed-qwen25-7b-api-key",
)


def test_argv_discovers_the_engine_pods_by_selector_in_their_namespace() -> None:
    argv = rm.router_argv(SPEC)
    assert argv[argv.index("--policy") + 1] == "power_of_two"
    assert "--service-discovery" in argv
    start = argv.index("--selector") + 1
    assert argv[start:start + 2] == ["app.kubernetes.io/component=engine",
                                     "app.kubernetes.io/instance=managed-qwen25-7b"]
    assert argv[argv.index("--service-discovery-namespace") + 1] == "managed"
    # The router's default discovery port is 80; the engines listen on the profile's port (R6).
    assert argv[argv.index("--service-discovery-port") + 1] == "8000"
    # Defaults bind loopback; in a pod both servers must listen on all interfaces.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--prometheus-host") + 1] == "0.0.0.0"
    assert argv[argv.index("--prometheus-port") + 1] == "29001"
    assert argv[argv.index("--api-key") + 1] == "$(ROUTER_API_KEY)"


def test_argv_parses_with_the_routers_own_parser() -> None:
    launch = pytest.importorskip(
        "vllm_router.launch_router", reason="pip install vllm-router==0.1.17 for this check")
    args = launch.parse_router_args([a.replace("$(ROUTER_API_KEY)", "k")
                                     for a in rm.router_argv(SPEC)])
    assert args.service_discovery is True
    assert args.selector == dict(SPEC.engine_selector)
    assert (args.policy, args.port, args.prometheus_port) == ("power_of_two", 8000, 29001)
    assert args.service_discovery_port == 8000 and args.api_key == "k"


def test_no_api_key_flag_without_a_key() -> None:
    spec = dataclasses.replace(SPEC, api_key_secret=None)
    assert "--api-key" not in rm.router_argv(spec)
    assert rm.router_container(spec)["env"] == []


def test_api_key_comes_from_the_endpoints_secret_never_inline() -> None:
    container = rm.router_container(SPEC)
    assert container["env"] == [{"name": "ROUTER_API_KEY", "valueFrom": {"secretKeyRef": {
        "name": "managed-qwen25-7b-api-key", "key": "api-key"}}}]


def test_rbac_is_read_only_pods_in_one_namespace_bound_to_the_routers_account() -> None:
    role, binding = rm.role(SPEC), rm.role_binding(SPEC)
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "managed"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list", "watch"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SPEC.name,
                                    "namespace": "managed"}]
    pod = rm.deployment(SPEC)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SPEC.name
    assert pod["automountServiceAccountToken"] is True


def test_service_and_probes() -> None:
    service = rm.service(SPEC)
    assert service["spec"]["selector"] == SPEC.selector
    assert {(p["name"], p["port"]) for p in service["spec"]["ports"]} == {
        ("http", 8000), ("metrics", 29001)}
    container = rm.router_container(SPEC)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/liveness"
    assert container["readinessProbe"]["timeoutSeconds"] >= 5  # R2
    assert SPEC.selector != SPEC.engine_selector  # the Service must not select engines


@pytest.mark.parametrize("obj", rm.objects(SPEC), ids=lambda o: o["kind"])
def test_objects_validate_against_the_kubernetes_schema(obj: dict) -> None:
    validate_k8s_manifest(obj, "1.33")


def routed_config() -> dict:
    config = k8s_config(replicas=2, router={"policy": "cache_aware"})
    second = dict(config["endpoints"][0], name="qwen3-0-6b-b", router={})
    config["endpoints"].append(second)
    return config


def test_compose_puts_the_router_in_front_and_points_the_outputs_at_it() -> None:
    result = plan_config(routed_config())
    outputs = result.outputs["endpoints"]["qwen3-0-6b"]
    assert outputs["service"] == "qwen3-0-6b-router"
    assert outputs["base_url"] == "http://qwen3-0-6b-router.inference.svc.cluster.local:8000"
    assert outputs["selector"] == {"app.kubernetes.io/instance": "qwen3-0-6b-router",
                                   "app.kubernetes.io/component": "router"}
    assert outputs["router"]["policy"] == "cache_aware"
    assert outputs["health_path"] == "/readiness"  # /health is 200 even with no engine
    assert outputs["router"]["engine_service"] == "qwen3-0-6b"
    # The engines stay: two replicas behind their own Service.
    engines = manifest(result, "Deployment", "qwen3-0-6b")
    assert engines["spec"]["replicas"] == 2
    router = manifest(result, "Deployment", "qwen3-0-6b-router")
    args = router["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "app.kubernetes.io/instance=qwen3-0-6b" in args
    for kind in ("Service", "ServiceAccount", "Role", "RoleBinding"):
        manifest(result, kind, "qwen3-0-6b-router")


def test_each_router_gets_its_own_prometheus_port() -> None:
    result = plan_config(routed_config())
    ports = [result.outputs["endpoints"][n]["router"]["metrics_port"]
             for n in ("qwen3-0-6b", "qwen3-0-6b-b")]
    assert ports == [29000, 29001]


def test_endpoints_without_router_are_unchanged() -> None:
    result = plan_config(k8s_config())
    outputs = result.outputs["endpoints"]["qwen3-0-6b"]
    assert outputs["service"] == "qwen3-0-6b" and "router" not in outputs
    assert not [o for o in result.manifests.values() if o["kind"] == "Role"]


def test_default_policy_is_load_aware_and_unknown_policies_are_rejected() -> None:
    from infra.config.endpoint import RouterConfig

    assert RouterConfig().policy == "power_of_two"
    problems = config_problems(k8s_config(router={"policy": "rendezvous_hash"}))
    assert any("router.policy" in p for p in problems), problems


def test_router_image_must_be_pinned() -> None:
    problems = config_problems(k8s_config(router={"image": "vllm/vllm-router:latest"}))
    assert any("router.image" in p and "pinned" in p for p in problems), problems
    pinned = {"image": "vllm/vllm-router:nightly-20260710-b93cbcb"}
    assert config_problems(k8s_config(router=pinned)) == []
