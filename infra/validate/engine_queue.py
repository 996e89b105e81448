"""`router.engine_queue`: how deep an engine behind smg may queue before it refuses (HTTP 503)
and smg retries the request on another replica.

smg's load signals are at most one `--load-monitor-interval` (1 s) old, so between two polls
it keeps sending to a replica that has just filled up; on replicas of unequal capacity that is
where the tail of TTFT comes from (benchmarks/routing/README.md). An engine that refuses past
its batch slots is a signal with no delay: vLLM checks the limit before the response starts, so
the refusal is a plain 503 that smg retries elsewhere. The limit cannot be had twice, though:
a queue held at the engine's bound never grows past it, and the autoscaler scales on that queue.

Opt-in: vLLM 0.32 checks the bound twice, before the response starts and again when it queues
the request, so a streamed request that passes the first check can still be refused by the
second, as an error event in a stream smg cannot retry (1-3 of 240 requests at the bound,
locally). Users trade that for the tail on replicas of unequal capacity.
"""

from __future__ import annotations

from dataclasses import replace

from components.autoscaling import recommend
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.validate.autoscaling import autoscaling_policy


def _at(index: int) -> str:
    return f"{NAMESPACE}:" + key_path("endpoints", index, "router", "engine_queue")


def engine_queue(endpoint: EndpointConfig) -> int | None:
    """The bound the engines get: `router.engine_queue` behind smg (the rules refuse it with
    vllm-router), None = unbounded."""
    router = endpoint.router
    return router.engine_queue if router is not None and router.kind == "smg" else None


def check_engine_queue(config: StackConfig) -> list[Problem]:
    """An explicit bound that no engine can honour, or that would starve the autoscaler."""
    problems = []
    for index, endpoint in enumerate(config.endpoints):
        bound = engine_queue(endpoint)
        if bound is None:
            continue
        if endpoint.engine != "vllm":
            problems.append(Problem(_at(index), (
                f"{bound} with engine {endpoint.engine}: only vLLM refuses before the response "
                "starts (--max-num-queued-reqs), which smg can retry on another replica; "
                "SGLang's --max-queued-requests aborts inside its scheduler. Remove the key")))
        elif endpoint.autoscaling is not None:
            problems += _starves_autoscaler(index, endpoint, bound)
    return problems


def _starves_autoscaler(index: int, endpoint: EndpointConfig, bound: int) -> list[Problem]:
    """With every replica's queue at the bound, the HPA must still ask for one more replica."""
    auto = endpoint.autoscaling
    assert auto is not None
    current = max(auto.min, 1)
    # Room for one more replica, so the question is the queue's alone, not autoscaling.max.
    policy = replace(autoscaling_policy(auto), max_replicas=current + 1)
    if recommend(float(bound * current), current, policy) > current:
        return []
    least = next(q for q in range(bound + 1, 10_000)
                 if recommend(float(q * current), current, policy) > current)
    return [Problem(_at(index), (
        f"{bound} with autoscaling.queue_per_replica {auto.queue_per_replica:g}: engines refuse "
        f"past {bound} waiting, so the queue the autoscaler scales on never reaches its target "
        f"(plus the HPA's 10% tolerance) and no replica is ever added; set it to at least "
        f"{least}, or remove it (unbounded, the default)"))]
