"""AWS-side checks: the live load balancer agrees with the outputs, and GPU pods sit on the
pinned instance type.

R17: a status update once rewrote stored settings, so a public ALB showed as private and the
stored URL was the internal one. The outputs are the source of truth, and these checks compare
them with what AWS (and the cluster) actually run: the scheme, the targets' health, and (R3)
the node instance type the autoscaler chose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from smoke.outputs import EndpointOutput, StackOutputs
from smoke.reach import K8S_TIMEOUT, kube_core_api, label_selector
from smoke.report import CheckResult, Status

# Output exposure -> the ELBv2 scheme it requires.
SCHEME_FOR_EXPOSURE = {"public": "internet-facing", "internal": "internal"}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


def elbv2_client(region: str | None) -> Any:
    # Imported lazily: only endpoints behind an AWS load balancer need the AWS SDK.
    import boto3
    from botocore.config import Config

    # Bounded timeouts and few retries: a smoke run must not stall on AWS (R20).
    config = Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3})
    return boto3.client("elbv2", region_name=region, config=config)


def find_load_balancer(elbv2: Any, hostname: str) -> dict[str, Any] | None:
    """The load balancer whose DNS name is `hostname` (case-insensitive), or None."""
    wanted = hostname.lower().rstrip(".")
    for page in elbv2.get_paginator("describe_load_balancers").paginate():
        for lb in page["LoadBalancers"]:
            if str(lb.get("DNSName", "")).lower() == wanted:
                return dict(lb)
    return None


Outcome = tuple[Status, str, dict[str, Any]]


def check_scheme(endpoint: EndpointOutput, lb: dict[str, Any]) -> Outcome:
    live = lb.get("Scheme")
    details = {"live_scheme": live, "exposure": endpoint.exposure, "arn": lb["LoadBalancerArn"]}
    wanted = SCHEME_FOR_EXPOSURE.get(endpoint.exposure)
    if wanted is None:
        reason = f"exposure is {endpoint.exposure!r} but the outputs name a load balancer"
        return "fail", reason, details
    if live != wanted:
        return (
            "fail",
            f"live load balancer scheme is {live!r}, outputs say exposure "
            f"{endpoint.exposure!r} (needs {wanted!r}) (R17)",
            details,
        )
    return "pass", f"scheme {live} matches exposure {endpoint.exposure}", details


def check_targets(elbv2: Any, lb: dict[str, Any]) -> Outcome:
    groups = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    if not groups:
        return "fail", "load balancer has no target groups", {}
    states: dict[str, list[str]] = {}
    bad: list[str] = []
    for group in groups:
        name = group["TargetGroupName"]
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        descriptions = health["TargetHealthDescriptions"]
        states[name] = [d["TargetHealth"]["State"] for d in descriptions]
        if not descriptions:
            bad.append(f"{name}: no targets registered")
        for d in descriptions:
            th = d["TargetHealth"]
            if th["State"] != "healthy":
                why = th.get("Reason") or th.get("Description") or ""
                bad.append(f"{name}: {d['Target']['Id']} {th['State']} {why}".rstrip())
    details = {"target_groups": states}
    if bad:
        return "fail", "unhealthy targets: " + "; ".join(bad[:5]), details
    total = sum(len(v) for v in states.values())
    return "pass", f"{total} healthy target(s) in {len(groups)} target group(s)", details


def check_instance_type(core: Any, endpoint: EndpointOutput) -> Outcome:
    """R3: every node hosting an engine pod carries the pinned instance type, under the label
    the outputs name (K3s pins on its own machine-type label; routed endpoints' `selector` is
    the router's, `engine_selector` the engines')."""
    wanted = endpoint.gpu.instance_type
    label = endpoint.gpu.pinning_label or INSTANCE_TYPE_LABEL
    selector = label_selector(endpoint.engine_selector or endpoint.selector)
    pods = core.list_namespaced_pod(
        endpoint.namespace or "", label_selector=selector, _request_timeout=K8S_TIMEOUT
    ).items
    nodes = sorted({p.spec.node_name for p in pods if p.spec and p.spec.node_name})
    if not nodes:
        return "fail", f"no scheduled pods match {selector} in {endpoint.namespace}", {}
    found: dict[str, str | None] = {}
    for node in nodes:
        labels = core.read_node(node, _request_timeout=K8S_TIMEOUT).metadata.labels or {}
        found[node] = labels.get(label)
    wrong = {n: t for n, t in found.items() if t != wanted}
    details = {"nodes": found, "pinned": wanted, "label": label}
    if wrong:
        listed = ", ".join(f"{n}={t}" for n, t in wrong.items())
        return "fail", f"GPU pods on nodes other than {wanted}: {listed} (R3)", details
    return "pass", f"{len(nodes)} node(s) run {wanted}", details


def run_aws_checks(
    outputs: StackOutputs,
    endpoint: EndpointOutput,
    make_elbv2: Callable[[str | None], Any] = elbv2_client,
    make_core: Callable[[str], Any] | None = None,
) -> list[CheckResult]:
    """Load balancer checks (when the outputs describe an AWS one) and the GPU pinning check
    (when the outputs name an instance type). Clients are injectable for tests."""
    results: list[CheckResult] = []
    lb_out = endpoint.load_balancer
    if lb_out is not None and lb_out.provider == "aws":
        results += _load_balancer_checks(endpoint, make_elbv2)
    if endpoint.gpu.instance_type:
        results.append(_instance_type_result(outputs, endpoint, make_core))
    return results


def _load_balancer_checks(
    endpoint: EndpointOutput, make_elbv2: Callable[[str | None], Any]
) -> list[CheckResult]:
    assert endpoint.load_balancer is not None
    name = endpoint.name
    hostname = endpoint.load_balancer.hostname
    if not hostname:
        reason = "no load balancer hostname in outputs yet (not provisioned?)"
        return [CheckResult(name, "lb-scheme", "fail", reason),
                CheckResult(name, "lb-targets", "skip", "no load balancer found")]
    start = time.monotonic()
    try:
        elbv2 = make_elbv2(endpoint.load_balancer.region)
        lb = find_load_balancer(elbv2, hostname)
    except Exception as exc:  # botocore raises many types (credentials, region, endpoint)
        reason = f"AWS: {type(exc).__name__}: {exc}"
        return [CheckResult(name, "lb-scheme", "fail", reason, time.monotonic() - start),
                CheckResult(name, "lb-targets", "skip", "load balancer lookup failed")]
    if lb is None:
        reason = f"no load balancer with DNS name {hostname} in {endpoint.load_balancer.region}"
        return [CheckResult(name, "lb-scheme", "fail", reason, time.monotonic() - start),
                CheckResult(name, "lb-targets", "skip", "no load balancer found")]
    results = [_timed(name, "lb-scheme", lambda: check_scheme(endpoint, lb), start)]
    results.append(_timed(name, "lb-targets", lambda: check_targets(elbv2, lb)))
    return results


def _instance_type_result(
    outputs: StackOutputs, endpoint: EndpointOutput, make_core: Callable[[str], Any] | None
) -> CheckResult:
    name = endpoint.name
    if not outputs.kubeconfig:
        return CheckResult(name, "gpu-instance-type", "skip", "no kubeconfig in outputs")
    if not (endpoint.engine_selector or endpoint.selector) or not endpoint.namespace:
        return CheckResult(name, "gpu-instance-type", "skip", "no selector/namespace in outputs")
    make = make_core or kube_core_api
    kubeconfig = outputs.kubeconfig
    return _timed(name, "gpu-instance-type",
                  lambda: check_instance_type(make(kubeconfig), endpoint))


def _timed(
    endpoint: str,
    check: str,
    fn: Callable[[], Outcome],
    start: float | None = None,
) -> CheckResult:
    start = time.monotonic() if start is None else start
    try:
        status, reason, details = fn()
    except Exception as exc:  # AWS and Kubernetes client errors become a failing row
        status, reason, details = "fail", f"{type(exc).__name__}: {exc}", {}
    return CheckResult(endpoint, check, status, reason, time.monotonic() - start, details)
