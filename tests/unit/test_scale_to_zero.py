"""Scale to zero on Kubernetes platforms, woken by the router: the preview errors, the rendered
ScaledObject (two triggers, the router's exact metrics, against KEDA's CRD), the router settings
that keep it reachable at zero engines, the pure wake-up model and the plan's cold-start budget.
"""

from __future__ import annotations

import pytest

from components import autoscaling, cold_start
from components import router_manifests as rm
from components.autoscaling import AutoscalingSpec, recommend
from tests.contract.crds import validate_custom_resource
from tests.contract.harness import parse_router_argv
from tests.helpers import config_problems, k8s_config, manifest, plan_config

AT = "endpoints[0].autoscaling.scale_to_zero"
SMG_SERIES = ('smg_http_requests_total{namespace="inference", inference_endpoint="qwen3-0-6b", '
              'inference_component="router", path=~"/v1/.+"}')
VLLM_ROUTER_SERIES = (
    'vllm_router_processed_requests_total{namespace="inference", '
    'inference_endpoint="qwen3-0-6b", inference_component="router"}',
    'vllm_router_request_errors_total{namespace="inference", inference_endpoint="qwen3-0-6b", '
    'inference_component="router", error_type="no_available_workers"}')


def scale_to_zero(router: dict | None = None, observability: str | None = "bundled",
                  **auto: object) -> dict:
    extra: dict = {"router": router} if router is not None else {}
    config = k8s_config(autoscaling={"scale_to_zero": True, "max": 3, **auto}, **extra)
    if observability is not None:
        config["observability"] = {"mode": observability}
    return config


def test_scale_to_zero_without_a_router_is_refused_at_preview() -> None:
    problems = config_problems(scale_to_zero())
    assert any(AT in p and "router:" in p and "nothing that stays up" in p
               for p in problems), problems


def test_scale_to_zero_needs_the_router_scraped() -> None:
    problems = config_problems(scale_to_zero({"kind": "smg"}, observability="none",
                                             prometheus_server_address="http://prom:9090"))
    assert any(AT in p and "observability mode none" in p for p in problems), problems


@pytest.mark.parametrize(("kind", "series"), [("smg", (SMG_SERIES,)),
                                               ("vllm-router", VLLM_ROUTER_SERIES)])
def test_a_routed_endpoint_wakes_on_the_routers_demand(kind: str, series: tuple[str]) -> None:
    result = plan_config(scale_to_zero({"kind": kind}))
    scaler = manifest(result, "ScaledObject", "qwen3-0-6b")
    validate_custom_resource(scaler)
    spec = scaler["spec"]
    assert spec["minReplicaCount"] == 0
    assert "fallback" not in spec, "a fallback would count the empty queue as active at zero"
    queue, wake = spec["triggers"]
    assert queue["metadata"]["query"].startswith("sum(vllm:num_requests_waiting{")
    query = wake["metadata"]["query"]
    for s in series:  # the exact series, old ones by their increase, new ones whole
        assert f"increase({s}[2m])" in query and f"({s} unless {s} offset 2m)" in query, query
    assert wake["metadata"]["activationThreshold"] == "0"
    assert int(wake["metadata"]["threshold"]) >= 1_000_000, "the queue alone sizes beyond one"
    for trigger in (queue, wake):
        assert trigger["metadata"]["ignoreNullValues"] == "false"
        assert "vector(" not in trigger["metadata"]["query"]


@pytest.mark.parametrize("kind", ["smg", "vllm-router"])
def test_the_router_stays_ready_with_zero_engines(kind: str) -> None:
    result = plan_config(scale_to_zero({"kind": kind}))
    container = manifest(result, "Deployment", "qwen3-0-6b-router")["spec"]["template"][
        "spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/liveness"
    args = parse_router_argv(kind, container["args"])
    if kind == "vllm-router":  # holds a request through the cold start instead of a fast 503
        assert args.retry_max_retries == 17 and args.retry_max_backoff_ms == 30000


def test_a_router_without_scale_to_zero_keeps_readiness_on_its_engines() -> None:
    config = k8s_config(router={"kind": "vllm-router"})
    container = manifest(plan_config(config), "Deployment", "qwen3-0-6b-router")["spec"][
        "template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert "--retry-max-retries" not in container["args"]


def test_min_above_one_wakes_to_min_through_the_idle_count() -> None:
    scaler = manifest(plan_config(scale_to_zero({"kind": "smg"}, min=2)), "ScaledObject",
                      "qwen3-0-6b")
    validate_custom_resource(scaler)
    assert (scaler["spec"]["idleReplicaCount"], scaler["spec"]["minReplicaCount"]) == (0, 2)


WAKE = AutoscalingSpec(min_replicas=1, max_replicas=4, queue_per_replica=5, activation=0,
                       scale_up_window_s=0, scale_down_window_s=0, polling_interval_s=15,
                       scale_to_zero=True)


@pytest.mark.parametrize(("total", "demand", "current", "expected", "why"), [
    (None, 0, 0, 0, "at zero the queue is empty (an error) and nobody asks: stay at zero"),
    (None, 1, 0, 1, "one request to the router at zero: KEDA wakes to the minimum"),
    (None, 40, 0, 1, "a burst at zero still wakes to the minimum first; the HPA follows"),
    (None, 3, 1, 1, "cold start: the queue is still missing, the HPA keeps the replica"),
    (None, 0, 1, 1, "cold start, clients gave up: an erroring trigger blocks deactivation"),
    (0, None, 2, 2, "the router is not scraped: no scale-down on missing data"),
    (15, 1, 1, 3, "awake: the queue sizes it, ceil(15 / 5)"),
    (0, 2, 3, 1, "awake and serving with no queue: down to the minimum, not to zero"),
    (0, 0, 3, 0, "idle on both triggers: to zero (after the cooldown)"),
    (None, None, 0, 0, "Prometheus down at zero: no fallback wakes it every few minutes"),
])
def test_the_wake_up_path(total: float | None, demand: float | None, current: int,
                          expected: int, why: str) -> None:
    assert recommend(total, current, WAKE, demand) == expected, why


def test_without_scale_to_zero_a_missing_queue_keeps_the_replicas() -> None:
    policy = AutoscalingSpec(2, 5, 5, 0, 0, 0, 15)
    assert recommend(None, 4, policy) == 4 and recommend(None, 1, policy) == 2


def test_the_plan_prints_the_cold_start_budget_and_warns_past_the_probe_budget() -> None:
    ok = plan_config(scale_to_zero({"kind": "smg"}))
    lines = "\n".join(ok.autoscaling)
    assert "qwen3-0-6b: cold start ~" in lines and "startup probe covers" in lines
    assert "a request to the router at zero -> 1" in lines
    for stage in ("node", "image", "weights", "load"):
        assert f"  {stage} " in lines, lines
    assert not [w for w in ok.warnings if "startup_budget_seconds" in w]
    tight = scale_to_zero({"kind": "smg"})
    tight["endpoints"][0]["probes"] = {"startup_budget_seconds": 60}
    warned = plan_config(tight).warnings
    assert any("qwen3-0-6b" in w and "probes.startup_budget_seconds (60)" in w
               for w in warned), warned


@pytest.mark.parametrize(("node", "cache", "expected"), [
    # Qwen3-0.6B: 0.6e9 x 2 bytes = 1.2 GB; 1 Gbit/s download, 1 GB/s load + 60 s init.
    ("kubernetes", "emptydir", 0 + 0 + 10 + 62),
    ("kubernetes", "pvc", 0 + 0 + 0 + 62),
    ("eks/karpenter", "hostpath", 240 + 120 + 10 + 62),  # a new node: no image, no cache
])
def test_cold_start_estimate(node: str, cache: str, expected: int) -> None:
    cold = cold_start.estimate(node, int(1.2e9), cache=cache, download_in_engine=True,
                               startup_budget_s=1800)
    assert cold.total_s == expected and not cold.over_budget


def test_every_router_kind_has_a_demand_signal() -> None:
    assert set(autoscaling.ROUTER_DEMAND) == set(rm.KINDS)


def test_the_commented_sample_in_k8s_dev_plans_with_observability() -> None:
    """The disabled example in stacks/Pulumi.k8s-dev.yaml, uncommented as its comment says."""
    import yaml

    from tests.helpers import STACKS_DIR as STACKS

    text = (STACKS / "Pulumi.k8s-dev.yaml").read_text()
    block = text[text.index("    # - name: qwen3-0-6b-on-demand"):]
    example = yaml.safe_load("\n".join(line.replace("    # ", "", 1)
                                       for line in block.splitlines()))
    config = {k.removeprefix("inference-stacks:"): v
              for k, v in yaml.safe_load(text)["config"].items()}
    assert any("scale_to_zero" in p for p in config_problems(
        {**config, "endpoints": [*config["endpoints"], *example]}))
    config = {**config, "endpoints": [*config["endpoints"], *example],
              "observability": {"mode": "bundled"}}
    scaler = manifest(plan_config(config), "ScaledObject", "qwen3-0-6b-on-demand")
    assert [t["name"] for t in scaler["spec"]["triggers"]] == ["queue", "router-demand"]
