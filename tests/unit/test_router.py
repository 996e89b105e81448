"""The vllm-router component: args, RBAC, Service, API key, outputs, config (managed setup)."""

from __future__ import annotations

import dataclasses

import pytest

from components import router_manifests as rm
from tests.contract.harness import validate_k8s_manifest
from tests.helpers import (
    PINNED_VLLM_ROUTER,
    config_problems,
    k8s_config,
    manifest,
    plan_config,
)

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
    # The benchmark's winner (benchmarks/routing/README.md): smg, power_of_two on the engines'
    # requests, veto at 1 waiting request, engine metrics read every second.
    default = RouterConfig()
    assert (default.kind, default.load_metric, default.queue_veto) == ("smg", "requests", 1)
    assert default.load_monitor_interval_seconds == 1 and default.kv_veto is None
    problems = config_problems(k8s_config(router={"policy": "rendezvous_hash"}))
    assert any("router.policy" in p for p in problems), problems


# Not a real image: the shape of a digest pin, for configs that are only planned.


def test_router_image_must_be_pinned() -> None:
    problems = config_problems(k8s_config(router={"image": "vllm/vllm-router:latest"}))
    assert any("router.image" in p and "pinned" in p for p in problems), problems
    nightly = {"image": "vllm/vllm-router:nightly-20260710-b93cbcb"}
    problems = config_problems(k8s_config(router=nightly))
    assert any("router.image" in p and "crane digest" in p for p in problems), problems
    assert config_problems(k8s_config(router={"image": PINNED_VLLM_ROUTER})) == []


# --- smg: the queue-aware router (kind smg) ---------------------------------------------------

SMG = dataclasses.replace(SPEC, kind="smg", image=rm.SMG_IMAGE, queue_veto=1)


def test_smg_argv_parses_with_smgs_own_parser() -> None:
    pytest.importorskip("smg.router_args", reason="pip install smg==1.13.0 for this check")
    from tests.contract.harness import parse_router_argv

    args = parse_router_argv("smg", rm.router_argv(SMG))
    assert args.service_discovery is True and args.selector == dict(SMG.engine_selector)
    assert args.service_discovery_namespace == "managed" and args.service_discovery_port == 8000
    assert (args.policy, args.port, args.prometheus_port) == ("power_of_two", 8000, 29001)
    assert args.prometheus_host == "0.0.0.0" and args.host == "0.0.0.0"
    assert args.power_of_two_load_metric == "requests"
    assert args.load_monitor_interval == 1
    # The veto: queue depth at 1 waiting request; KV only when the cache is full.
    assert args.worker_overload_protection is True
    assert args.worker_overload_waiting_requests == 1
    assert args.worker_overload_token_usage == 1.0
    assert args.api_key == "placeholder-ROUTER_API_KEY"
    assert args.disable_tokenizer_autoload is True


def test_smg_without_a_queue_veto_switches_its_default_veto_off() -> None:
    pytest.importorskip("smg.router_args", reason="pip install smg==1.13.0 for this check")
    from tests.contract.harness import parse_router_argv

    spec = dataclasses.replace(SMG, queue_veto=None, policy="round_robin")
    argv = rm.router_argv(spec)
    assert "--disable-worker-overload-protection" in argv
    assert "--power-of-two-load-metric" not in argv  # power_of_two only
    assert parse_router_argv("smg", argv).worker_overload_protection is False


def test_abbreviated_or_unknown_router_flags_are_rejected() -> None:
    pytest.importorskip("smg.router_args", reason="pip install smg==1.13.0 for this check")
    from tests.contract.harness import parse_router_argv

    with pytest.raises(AssertionError, match="full flag name"):
        parse_router_argv("smg", ["--load-monitor", "1"])
    with pytest.raises(AssertionError, match="smg rejects"):
        parse_router_argv("smg", ["--power-of-two-load-metric", "kv"])


def test_vllm_router_args_have_no_smg_knobs() -> None:
    argv = rm.router_argv(dataclasses.replace(SPEC, queue_veto=1))
    assert not [a for a in argv if "overload" in a or "load-monitor" in a]
    assert rm.router_container(SPEC)["command"] == ["vllm-router"]


def test_smg_container_command_image_and_labels() -> None:
    container = rm.router_container(SMG)
    assert container["command"] == ["python3", "-m", "smg.launch_router"]  # image ENTRYPOINT
    assert container["image"] == "lightseekorg/smg:1.13.0"
    deployment = rm.deployment(SMG)
    assert deployment["metadata"]["annotations"]["inference-stacks/router"] == "smg"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "smg"
    # Same readiness semantics as vllm-router: 503 until an engine is healthy.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert rm.role(SMG)["rules"] == rm.role(SPEC)["rules"]  # pods get/list/watch, one namespace


@pytest.mark.parametrize("obj", rm.objects(SMG), ids=lambda o: o["kind"])
def test_smg_objects_validate_against_the_kubernetes_schema(obj: dict) -> None:
    validate_k8s_manifest(obj, "1.33")


def test_router_spec_rejects_unknown_kinds_and_metrics() -> None:
    with pytest.raises(ValueError, match="kind"):
        dataclasses.replace(SPEC, kind="envoy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="load metric"):
        dataclasses.replace(SMG, load_metric="kv")


def test_compose_renders_smg_with_its_knobs_and_outputs() -> None:
    config = k8s_config(replicas=2, router={"kind": "smg", "queue_veto": 2,
                                            "load_monitor_interval_seconds": 5})
    result = plan_config(config)
    router = result.outputs["endpoints"]["qwen3-0-6b"]["router"]
    assert router["kind"] == "smg" and router["image"] == rm.SMG_IMAGE
    assert router["workers_path"] == "/readiness"
    assert router["worker_health_metric"] == "smg_worker_health"
    assert (router["load_monitor_interval_seconds"], router["queue_veto"]) == (5, 2)
    args = manifest(result, "Deployment", "qwen3-0-6b-router")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert args[args.index("--worker-overload-waiting-requests") + 1] == "2"
    assert args[args.index("--load-monitor-interval") + 1] == "5"
    assert "app.kubernetes.io/instance=qwen3-0-6b" in args


def test_vllm_router_outputs_say_their_kind() -> None:
    config = k8s_config(replicas=2, router={"kind": "vllm-router", "image": PINNED_VLLM_ROUTER})
    router = plan_config(config).outputs["endpoints"]["qwen3-0-6b"]["router"]
    assert router["kind"] == "vllm-router" and router["image"] == PINNED_VLLM_ROUTER
    assert router["worker_health_metric"] == "vllm_router_worker_health"
    assert router["queue_veto"] is None


@pytest.mark.parametrize(("router", "where"), [
    ({"kind": "vllm-router", "queue_veto": 2}, "only apply to kind smg"),
    ({"kind": "vllm-router", "policy": "least_load"}, "smg policy"),
    ({"kind": "smg", "policy": "consistent_hash"}, "vllm-router policy"),
    ({"kind": "smg", "queue_veto": 0}, "queue_veto"),
    ({"kind": "smg", "kv_veto": 1.5}, "kv_veto"),
    ({"kind": "smg", "queue_veto": None, "kv_veto": 0.9}, "kv_veto needs queue_veto"),
    ({"kind": "smg", "load_monitor_interval_seconds": 0}, "load_monitor_interval_seconds"),
    ({"kind": "haproxy"}, "router.kind"),
])
def test_router_config_rules(router: dict, where: str) -> None:
    problems = config_problems(k8s_config(router=router))
    assert any(where in p for p in problems), problems
