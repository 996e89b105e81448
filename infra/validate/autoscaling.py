"""Rules for `endpoints[].autoscaling`: where the queue query runs and what each platform can
honour. The plan summary prints what the policy does at a few queue depths."""

from __future__ import annotations

import re

from components.autoscaling import AutoscalingSpec
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import AutoscalingConfig
from infra.config.stack import StackConfig
from infra.validate.observability import observability_config, prometheus_url

_AMP = re.compile(r"^https://aps-workspaces\.[a-z0-9-]+\.amazonaws\.com/workspaces/ws-[a-zA-Z0-9-]+"
                  r"/?$")


def _at(index: int, *parts: str) -> str:
    return f"{NAMESPACE}:" + key_path("endpoints", index, "autoscaling", *parts)


def _hyperpod_address(config: StackConfig, index: int, address: str | None) -> list[Problem]:
    """The operator's KEDA queries an Amazon Managed Prometheus workspace: the one named, or
    the one the stack creates, which only the bundled Prometheus can remote-write to."""
    if address is None:
        mode = observability_config(config).mode
        if mode == "bundled":
            return []
        return [Problem(_at(index, "prometheus_server_address"), (
            f"missing, and {NAMESPACE}:observability.mode is {mode!r}: HyperPod's operator "
            "scales on an Amazon Managed Prometheus workspace that the engines' metrics reach. "
            "Set this key to your workspace (https://aps-workspaces.<region>.amazonaws.com/"
            "workspaces/ws-...), or use observability mode 'bundled', which creates one and "
            "remote-writes to it"))]
    if not _AMP.match(address):
        return [Problem(_at(index, "prometheus_server_address"), (
            f"{address!r}: HyperPod's operator queries an Amazon Managed Prometheus "
            "workspace (https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-...)"))]
    return []


def check_autoscaling(config: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    for index, endpoint in enumerate(config.endpoints):
        auto = endpoint.autoscaling
        if auto is None:
            continue
        if endpoint.replicas != 1:
            problems.append(Problem(
                f"{NAMESPACE}:" + key_path("endpoints", index, "replicas"),
                f"{endpoint.replicas} together with autoscaling: the replica count is KEDA's; "
                "remove replicas and set autoscaling.min"))
        address = auto.prometheus_server_address
        if config.platform == "hyperpod":
            problems += _hyperpod_address(config, index, address)
            continue
        if address is None and prometheus_url(config) is None:
            problems.append(Problem(_at(index, "prometheus_server_address"), (
                "missing, and the stack has no Prometheus of its own (observability mode "
                f"{observability_config(config).mode}): KEDA needs the Prometheus that scrapes "
                "the engines, e.g. http://prometheus-operated.monitoring.svc:9090")))
        if auto.scale_to_zero:
            problems += _scale_to_zero(config, index)
    return problems


def _scale_to_zero(config: StackConfig, index: int) -> list[Problem]:
    """Kubernetes platforms: the engine's queue metric disappears with its last replica, so the
    wake-up signal is the router's demand, which needs a router and a Prometheus scraping it."""
    endpoint = config.endpoints[index]
    if endpoint.router is None:
        return [Problem(_at(index, "scale_to_zero"), (
            f"true without a router on platform {config.platform}: the engine's queue metric "
            "disappears with its last replica, so nothing that stays up would wake it; add "
            "`router:` to the endpoint (its request rate wakes it) or keep min >= 1 without "
            "scale_to_zero"))]
    mode = observability_config(config).mode
    if mode == "none":
        return [Problem(_at(index, "scale_to_zero"), (
            f"true with observability mode {mode}: the wake-up signal is the router's request "
            "count, which only the stack's ServiceMonitor scrapes; set observability mode "
            "bundled or existing"))]
    return []


def autoscaling_policy(auto: AutoscalingConfig) -> AutoscalingSpec:
    return AutoscalingSpec(
        min_replicas=auto.min, max_replicas=auto.max, queue_per_replica=auto.queue_per_replica,
        activation=auto.activation, scale_up_window_s=auto.scale_up_window_s,
        scale_down_window_s=auto.scale_down_window_s, polling_interval_s=auto.polling_interval_s,
        scale_to_zero=auto.scale_to_zero)
