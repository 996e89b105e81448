"""The stack's monitoring, resolved: which mode each platform gets by default, and where its
Prometheus answers (the autoscalers' queries and the metrics-live check use it)."""

from __future__ import annotations

from components import observability_manifests as om
from components.observability_config import DcgmConfig, ObservabilityConfig
from infra.config.base import NAMESPACE, Problem
from infra.config.stack import StackConfig

# Bundled where the program creates the cluster and its endpoints (HyperPod included: the
# operator's worker pods are scraped like any engine); an existing cluster gets monitoring only
# when asked (it may run its own Prometheus Operator: mode existing). K3s' cluster stack runs
# no workloads.
DEFAULT_MODE = {"kubernetes": "none", "eks": "bundled", "k3s-workload": "bundled",
                "hyperpod": "bundled", "k3s-gcp": "none"}


def observability_config(config: StackConfig) -> ObservabilityConfig:
    if config.observability is not None:
        return config.observability
    dcgm = DcgmConfig(runtime_class="nvidia") if config.platform == "k3s-workload" \
        else DcgmConfig()
    return ObservabilityConfig(mode=DEFAULT_MODE[config.platform], dcgm=dcgm)


def prometheus_url(config: StackConfig) -> str | None:
    """In-cluster URL of the stack's Prometheus, if it has one the program knows."""
    obs = observability_config(config)
    if obs.mode == "bundled":
        return f"http://{om.PROMETHEUS_SERVICE}.{obs.namespace}.svc.cluster.local:" \
               f"{om.PROMETHEUS_PORT}"
    if obs.mode == "existing" and obs.prometheus is not None:
        ref = obs.prometheus
        return f"http://{ref.service}.{ref.namespace}.svc.cluster.local:{ref.port}"
    return None


def check_observability(config: StackConfig) -> list[Problem]:
    """Where the program can run monitoring, and what K3s' GPU exporter needs."""
    obs, at = config.observability, f"{NAMESPACE}:observability"
    if obs is None or obs.mode == "none":
        return []
    if config.platform == "k3s-gcp":
        return [Problem(at, "the k3s-gcp cluster stack runs no workloads; configure "
                        "observability in its workload stack (platform k3s-workload)")]
    if config.platform == "k3s-workload" and obs.dcgm.enabled and \
            obs.dcgm.runtime_class != "nvidia":
        return [Problem(f"{at}.dcgm.runtime_class", (
            f"{obs.dcgm.runtime_class!r}: on K3s the GPU exporter sees no GPU without "
            "runtimeClassName nvidia; set it to nvidia"))]
    return []
