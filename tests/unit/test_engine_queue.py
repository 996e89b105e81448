"""`router.engine_queue` (opt-in): engines behind smg refuse past their batch slots plus this many
waiting requests (vLLM --max-num-queued-reqs), so smg retries on a replica with room instead of
queueing behind a full one; and the rules where a bound cannot work (SGLang, autoscaling,
vllm-router)."""

from __future__ import annotations

from typing import Any

import pytest

from components.engines import ADMISSION_FLAG
from tests.contract.harness import parse_vllm_argv
from tests.helpers import PINNED_VLLM_ROUTER, config_problems, k8s_config, manifest, plan_config

PROM = "http://prometheus-operated.monitoring.svc:9090"
KEY = "inference-stacks:endpoints[0].router.engine_queue"


def _engine_args(config: dict[str, Any]) -> list[str]:
    deployment = manifest(plan_config(config), "Deployment", "qwen3-0-6b")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def _bound(args: list[str]) -> int | None:
    return int(args[args.index(ADMISSION_FLAG) + 1]) if ADMISSION_FLAG in args else None


@pytest.mark.parametrize(("router", "engine_args", "expected"), [
    ({"engine_queue": 0}, {}, 256),  # max_num_seqs 256 (the default), no waiting room
    ({"engine_queue": 3}, {"max_num_seqs": 16}, 19),
    ({}, {}, None),  # the default: unbounded
    ({"kind": "vllm-router", "image": PINNED_VLLM_ROUTER}, {}, None),
])
def test_the_engine_refuses_past_its_slots_plus_the_queue_and_vllms_parser_agrees(
        router: dict[str, Any], engine_args: dict[str, Any], expected: int | None) -> None:
    args = _engine_args(k8s_config(replicas=2, router=router, engine_args=engine_args))
    assert _bound(args) == expected
    parsed = parse_vllm_argv(args)
    assert parsed.max_num_queued_reqs == expected


def test_an_autoscaled_endpoint_takes_a_bound_above_its_target() -> None:
    auto = {"prometheus_server_address": PROM}
    assert _bound(_engine_args(k8s_config(router={}, autoscaling=auto))) is None
    # Above the autoscaler's target (5, +10% tolerance): honoured.
    args = _engine_args(k8s_config(router={"engine_queue": 6}, autoscaling=auto))
    assert _bound(args) == 256 + 6


def test_the_outputs_say_the_bound() -> None:
    outputs = plan_config(k8s_config(replicas=2, router={"engine_queue": 2})).outputs
    assert outputs["endpoints"]["qwen3-0-6b"]["router"]["engine_queue"] == 2
    outputs = plan_config(k8s_config(replicas=2, router={})).outputs
    assert outputs["endpoints"]["qwen3-0-6b"]["router"]["engine_queue"] is None


@pytest.mark.parametrize(("endpoint", "needle"), [
    ({"router": {"engine_queue": 5}, "autoscaling": {"prometheus_server_address": PROM}},
     f"{KEY}: 5 with autoscaling.queue_per_replica 5: engines refuse past 5 waiting"),
    ({"router": {"engine_queue": 3}, "autoscaling": {"prometheus_server_address": PROM,
                                                     "queue_per_replica": 3, "min": 2,
                                                     "max": 2}},
     "set it to at least 4"),
    ({"router": {"engine_queue": 0}, "engine": "sglang"}, f"{KEY}: 0 with engine sglang"),
    ({"router": {"kind": "vllm-router", "image": PINNED_VLLM_ROUTER, "engine_queue": 0}},
     "engine_queue only apply to kind smg"),
    ({"router": {"engine_queue": -1}}, KEY),
])
def test_a_bound_that_cannot_work_fails_the_plan_at_its_key(endpoint: dict[str, Any],
                                                             needle: str) -> None:
    problems = config_problems(k8s_config(**endpoint))
    assert any(needle in p for p in problems), problems


def test_sglang_behind_smg_is_unbounded_by_default() -> None:
    config = k8s_config(engine="sglang", replicas=2, router={})
    assert not config_problems(config)
    assert ADMISSION_FLAG not in _engine_args(config)


def test_extra_args_cannot_set_the_bound_a_second_way() -> None:
    problems = config_problems(k8s_config(router={}, engine_args={
        "extra_args": [ADMISSION_FLAG, "8"]}))
    assert any("extra_args" in p and ADMISSION_FLAG in p for p in problems), problems


def _router_args(config: dict[str, Any]) -> list[str]:
    deployment = manifest(plan_config(config), "Deployment", "qwen3-0-6b-router")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_smg_retries_a_refused_request_for_about_ten_seconds_only_with_a_bound() -> None:
    pytest.importorskip("smg.router_args", reason="pip install smg==1.13.0 for this check")
    from tests.contract.harness import parse_router_argv

    bounded = parse_router_argv("smg", _router_args(k8s_config(replicas=2,
                                                               router={"engine_queue": 0})))
    assert (bounded.retry_max_retries, bounded.retry_max_backoff_ms) == (12, 2000)
    assert bounded.disable_retries is False
    # Backoff 50 ms x 1.5^n (smg's defaults), capped at 2 s, over 12 tries.
    window = sum(min(bounded.retry_initial_backoff_ms * bounded.retry_backoff_multiplier ** n,
                     bounded.retry_max_backoff_ms) for n in range(bounded.retry_max_retries))
    assert 8_000 < window < 12_000
    unbounded = _router_args(k8s_config(replicas=2, router={}))
    assert "--retry-max-retries" not in unbounded
