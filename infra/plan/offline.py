"""Offline plan: the real program under the mock engine, written out for review.

No cloud credentials and no Pulumi CLI: reads `stacks/Pulumi.<stack>.yaml` (or any file), runs
the program with Pulumi's mocks and writes `resources.json`, `manifests/` (one YAML per
Kubernetes object) and `outputs.json`, all with secrets redacted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.autoscaling import recommend
from infra.config.base import NAMESPACE, ConfigError, Problem
from infra.config.endpoint import EndpointConfig
from infra.config.stack import EksStack, HyperPodStack, K3sGcpStack, StackConfig
from infra.plan.capacity import capacity_lines
from infra.plan.cold_start import cold_starts
from infra.plan.graph import Expectations, Graph, graph_document, order_markdown, violations
from infra.plan.hooks import hooks_for
from infra.plan.iam import iam_report
from infra.plan.mocks import SECRET, Registration, redact, run_under_mocks
from infra.program import compose
from infra.validate.autoscaling import autoscaling_policy
from infra.validate.load import config_warnings, load_stack_config
from infra.validate.registry import PLATFORMS

ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = ROOT / "stacks"
# Stands in for `secure:` values, which only the Pulumi CLI can decrypt.
SECRET_PLACEHOLDER = "plan-placeholder-secret"


@dataclass
class Plan:
    stack: str
    platform: str
    kubernetes_version: str
    outputs: dict[str, Any]
    resources: list[dict[str, Any]]
    manifests: dict[str, dict[str, Any]]
    warnings: list[str]
    # The deploy-order graph (graph.json) and the invariants it breaks (docs/deploy-order.md).
    graph: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    order: str = ""
    autoscaling: list[str] = field(default_factory=list)
    # What holds the endpoints' peak: GPU node bounds and autoscaler, or stated capacity.
    capacity: tuple[str, list[str]] = ("", [])


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path, assume_secrets: tuple[str, ...] = ()
                    ) -> tuple[dict[str, str], list[str]]:
    """Pulumi config of a stack file as the engine passes it: strings, JSON for objects.

    `assume_secrets`: keys to plan as if `pulumi config set --secret KEY ...` had been run (a
    placeholder value), for secrets a fresh clone does not have (`hf_token`).
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), f"not valid YAML: {exc}")]) from None
    raw = document.get("config") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError([Problem(str(path), "expected a top-level `config:` mapping")])
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER
            secret_keys.append(full)
        elif isinstance(value, str):
            config[full] = value
        else:
            config[full] = json.dumps(value)
    for key in assume_secrets:
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        if full not in config:
            config[full] = SECRET_PLACEHOLDER
            secret_keys.append(full)
    return config, secret_keys


def _api_version_kind(type_token: str) -> tuple[str, str] | None:
    """`kubernetes:apps/v1:Deployment` -> ("apps/v1", "Deployment"); None if not an object."""
    match = re.match(r"^kubernetes:([^:]+):([A-Za-z]+)$", type_token)
    if match is None or match.group(1).startswith(("helm.sh", "yaml")):
        return None
    group_version = match.group(1).removeprefix("core/")
    return group_version, match.group(2)


def manifests_of(registrations: list[Registration]) -> dict[str, dict[str, Any]]:
    """Kubernetes objects keyed by file name `<kind>-<namespace>-<name>.yaml`."""
    result: dict[str, dict[str, Any]] = {}
    for reg in registrations:
        api = _api_version_kind(reg.type)
        if api is None or not reg.custom:
            continue
        body = redact({k: v for k, v in reg.inputs.items() if k not in ("apiVersion", "kind")})
        obj = {"apiVersion": api[0], "kind": api[1], **body}
        meta = obj.get("metadata") or {}
        parts = [api[1], meta.get("namespace") or "", meta.get("name") or reg.name]
        filename = "-".join(p for p in parts if p).lower() + ".yaml"
        result[filename] = obj
    return result


def expectations(config: StackConfig) -> Expectations:
    """Where the config says the stack lives: every cloud resource must be pinned there."""
    if isinstance(config, EksStack | HyperPodStack):
        return Expectations(aws_region=config.platform_settings.region)
    if isinstance(config, K3sGcpStack):
        settings = config.platform_settings
        return Expectations(gcp_project=settings.project, gcp_region=settings.region,
                            gcp_zone=settings.zone)
    return Expectations()


def plan_stack(config: dict[str, str], secret_keys: list[str], stack: str) -> Plan:
    """Validate the config once, run the program on it under mocks and collect the plan."""
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    stack_config = load_stack_config(raw)  # raises ConfigError before anything runs
    state_hooks, call_hooks = hooks_for(stack_config.platform)
    outputs, registrations = run_under_mocks(
        lambda: compose(stack_config), config, secret_keys, stack, state_hooks, call_hooks)
    resources = [
        {"type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
         "inputs": redact(r.inputs), **({"protect": True} if r.wiring.protect else {})}
        # Registration order depends on async scheduling; sort so plans diff cleanly.
        for r in sorted(registrations, key=lambda r: (r.type, r.name))
    ]
    version = PLATFORMS[stack_config.platform].kubernetes_version(stack_config.platform_settings)
    autoscaling = [d for e in stack_config.endpoints if (d := describe(e)) is not None]
    cold_lines, cold_warnings = cold_starts(stack_config)
    graph = Graph(registrations)
    broken = violations(graph, expectations(stack_config))
    return Plan(stack, stack_config.platform, version, outputs, resources,
                manifests_of(registrations), config_warnings(stack_config) + cold_warnings,
                graph=graph_document(graph), violations=broken,
                order=order_markdown(stack, graph, broken), autoscaling=autoscaling + cold_lines,
                capacity=capacity_lines(stack_config))


def write_plan(plan: Plan, out_dir: Path) -> None:
    """resources.json, outputs.json and manifests/ (replacing an older plan in `out_dir`)."""
    manifests_dir = out_dir / "manifests"
    manifests_dir.mkdir(parents=True, exist_ok=True)
    for old in manifests_dir.glob("*.yaml"):
        old.unlink()
    (out_dir / "resources.json").write_text(
        json.dumps(plan.resources, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "outputs.json").write_text(
        json.dumps(plan.outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "graph.json").write_text(
        json.dumps(plan.graph, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "order.md").write_text(plan.order, encoding="utf-8")
    for filename, obj in sorted(plan.manifests.items()):
        (manifests_dir / filename).write_text(
            yaml.safe_dump(obj, sort_keys=True, default_flow_style=False), encoding="utf-8")
    iam = iam_report(plan.resources)
    iam_path = out_dir / "iam.md"
    if iam is not None:
        iam_path.write_text(iam, encoding="utf-8")
    elif iam_path.exists():
        iam_path.unlink()


def summary(plan: Plan, out_dir: Path | None) -> str:
    """Human summary: resources by type, endpoints, batch jobs, warnings."""
    lines = [f"Plan for stack {plan.stack!r} (platform {plan.platform}): "
             f"{len(plan.resources)} resources, {len(plan.manifests)} Kubernetes objects"]
    counts = Counter(r["type"] for r in plan.resources)
    lines += [f"  {n:3d}  {t}" for t, n in sorted(counts.items())]
    endpoints = plan.outputs.get("endpoints")
    if isinstance(endpoints, dict) and endpoints:
        lines.append("Endpoints:")
        for name, ep in endpoints.items():
            gpu = ep.get("gpu") or {}
            pinned = f" on {gpu['instance_type']}" if gpu.get("instance_type") else ""
            key = "API key" if ep.get("api_key") == SECRET else "no API key"
            lines.append(
                f"  {name}: {ep['engine']} serving {ep['served_model_name']!r} ({ep['model']}), "
                f"{ep['replicas']} x {gpu.get('count')} {gpu.get('type')}{pinned}, "
                f"exposure {ep['exposure']}, {key}, {ep['base_url']}")
    elif endpoints == SECRET:
        lines.append("Endpoints: [secret]")
    batch_jobs = plan.outputs.get("batch_jobs")
    if isinstance(batch_jobs, dict) and batch_jobs:
        lines.append("Batch jobs (follow with `python -m smoke batch --stack NAME --wait`):")
        lines += [f"  {name}: Job {job['namespace']}/{job['job']}, input {job['input']}, "
                  f"results {job['output']}" for name, job in batch_jobs.items()]
    if plan.autoscaling:
        lines.append("Autoscaling (KEDA on the engines' queue; replicas at total queue depths):")
        lines += [f"  {line}" for line in plan.autoscaling]
    heading, capacity = plan.capacity
    if capacity:
        lines.append(heading)
        lines += [f"  {line}" for line in capacity]
    lines += monitoring_lines(plan.outputs.get("observability"))
    lines.append(protected_line(plan.resources))
    roles = sum(1 for r in plan.resources if r["type"] == "aws:iam/role:Role")
    if roles:
        lines.append(f"IAM: {roles} roles; every trust policy and permission is in iam.md")
    lines += [f"warning: {w}" for w in plan.warnings]
    if out_dir is not None:
        lines.append(f"Wrote {out_dir}/resources.json, outputs.json, graph.json, order.md and "
                     f"{len(plan.manifests)} manifests in {out_dir}/manifests/")
    return "\n".join(lines)


def monitoring_lines(observability: Any) -> list[str]:
    """Where Prometheus and Grafana answer, and the AMP workspace a stack creates."""
    if not isinstance(observability, dict) or observability.get("mode", "none") == "none":
        return []
    lines = [f"Monitoring (observability mode {observability['mode']}):"]
    for key, what in (("prometheus", "Prometheus"), ("grafana", "Grafana")):
        ref = observability.get(key)
        if isinstance(ref, dict):
            lines.append(f"  {what}: {ref['url']} ({ref['port_forward']})")
    amp = observability.get("amp")
    if isinstance(amp, dict):
        lines.append(f"  Amazon Managed Prometheus workspace {amp['workspace_id']} "
                     f"({amp['region']}): remote write {amp['remote_write_url']}; "
                     f"autoscaling queries {amp['query_url']}")
    return lines


def protected_line(resources: list[dict[str, Any]]) -> str:
    """Which resources Pulumi will refuse to delete or replace (`protect`), for the summary."""
    protected = sorted(f"{r['type']} {r['name']}" for r in resources if r.get("protect"))
    if not protected:
        return "Protected: nothing (`protect: false`, or nothing of a protected kind)"
    return (f"Protected (Pulumi refuses to delete or replace them; `protect: false` lifts it): "
            f"{len(protected)}: {', '.join(protected)}")


def describe(endpoint: EndpointConfig) -> str | None:
    """What the policy does, for the plan summary: replicas at a few total queue depths."""
    auto = endpoint.autoscaling
    if auto is None:
        return None
    policy = autoscaling_policy(auto)
    depths = sorted({0, int(auto.queue_per_replica), int(auto.queue_per_replica * 3),
                     int(auto.queue_per_replica * auto.max * 2)})
    # With requests arriving (router demand 1): the queue sizes the endpoint.
    steps = ", ".join(f"{d} waiting -> {recommend(d, max(policy.min_replicas, 1), policy, 1)}"
                      for d in depths)
    wake = ""
    if policy.scale_to_zero:
        wake = (f"; scale to zero: idle -> {recommend(0, 1, policy, demand=0)} after "
                f"{auto.scale_down_window_s} s, a request to the router at zero -> "
                f"{recommend(None, 0, policy, demand=1)}")
    return (f"{endpoint.name}: {policy.min_replicas}-{policy.max_replicas} replicas, target "
            f"{auto.queue_per_replica:g} waiting per replica (from {policy.min_replicas or 1} "
            f"replica: {steps}); up after {auto.scale_up_window_s} s, down after "
            f"{auto.scale_down_window_s} s{wake}")
