"""The plan's cold-start budget of each scale-to-zero endpoint (components/cold_start.py): the
estimate with its assumptions, and a warning when the startup probe would give up first."""

from __future__ import annotations

from components import cold_start
from components.model_catalog import weights_bytes
from infra.config.endpoint import EndpointConfig, FsxSource, S3Source
from infra.config.stack import EksStack, StackConfig
from infra.validate.platforms.eks import node_bounds, pool_of
from infra.validate.sizing import model_facts


def node_kind(config: StackConfig, endpoint: EndpointConfig) -> str:
    """Which `cold_start.NODE` applies: on EKS with the Cluster Autoscaler the endpoint's pool
    drops to its min nodes at zero replicas, so a pool whose min is 0 must add a node first."""
    if not isinstance(config, EksStack):
        return config.platform
    if config.platform_settings.autoscaling == "karpenter":
        return "eks/karpenter"
    pool = pool_of(config, endpoint)
    bounds = node_bounds(config).get(pool) if pool is not None else None
    if bounds is not None and bounds.autoscaler == "cluster-autoscaler" and bounds.min_size == 0:
        return "eks/cluster-autoscaler"
    return "eks/managed"


def cold_starts(config: StackConfig) -> tuple[list[str], list[str]]:
    """(summary lines, warnings) for the stack's scale-to-zero endpoints."""
    lines: list[str] = []
    warnings: list[str] = []
    for endpoint in config.endpoints:
        if endpoint.autoscaling is None or not endpoint.autoscaling.scale_to_zero:
            continue
        facts = model_facts(endpoint)
        source = endpoint.source
        # An S3 copy without streaming runs in an init container, before the startup probe.
        in_engine = not isinstance(source, S3Source) or source.stream
        cold = cold_start.estimate(
            node_kind(config, endpoint), weights_bytes(facts) if facts else None,
            cache="fsx" if isinstance(source, FsxSource) else endpoint.cache.type,
            download_in_engine=in_engine,
            startup_budget_s=endpoint.probes.startup_budget_seconds)
        lines += cold_start.describe(endpoint.name, cold)
        if cold.over_budget:
            warnings.append(
                f"{endpoint.name}: the estimated download and load ({cold.probed_s} s) exceed "
                f"probes.startup_budget_seconds ({cold.startup_budget_s}): the startup probe "
                "would restart the engine before it is ready; raise the budget or cache the "
                "weights (cache.type pvc)")
    return lines, warnings
