"""The platform registry: `inference-stacks:platform` value -> the platform's pure rules.

Adding a platform is one entry here (plus its settings model in `infra/config/stack.py`, its
resources in `infra/platforms/` and its plan hooks in `infra/plan/hooks.py`); tests check the
four registries name the same platforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.names import NameBudget, default_budget
from infra.config.base import Problem
from infra.config.endpoint import EndpointConfig
from infra.validate.placement import Placement
from infra.validate.platforms import eks, hyperpod, k3s_gcp, k3s_workload, kubernetes

# Endpoint settings that only some platforms implement; elsewhere they would be silently
# ignored (R8's spirit: every setting is honoured or rejected).
OPTIONAL_FEATURES = ("kv_cache", "routing", "autoscaling")


@dataclass(frozen=True)
class PlatformRules:
    """A platform as validation and resolution see it: placement, checks, features."""

    name: str
    place: Callable[[EndpointConfig, Any], Placement]
    check: Callable[[Any], list[Problem]]
    kubernetes_version: Callable[[Any], str]
    features: frozenset[str] = frozenset()  # which of OPTIONAL_FEATURES it implements
    batch_jobs: bool = True  # runs `batch_jobs` (engine pods as Kubernetes Jobs)
    # How long an endpoint name may be here: the longest name derived from it must fit (R13).
    name_budget: Callable[[EndpointConfig], NameBudget] = lambda _: default_budget()


def _version(settings: Any) -> str:
    return str(settings.kubernetes_version)


# KEDA scales Deployments on any Kubernetes platform; HyperPod's operator has its own KEDA.
_KEDA = frozenset({"autoscaling"})

PLATFORMS: dict[str, PlatformRules] = {
    "kubernetes": PlatformRules("kubernetes", kubernetes.place, kubernetes.check, _version,
                                features=_KEDA),
    "eks": PlatformRules("eks", eks.place, eks.check, _version, features=_KEDA),
    "k3s-gcp": PlatformRules("k3s-gcp", k3s_gcp.place, k3s_gcp.check, _version,
                             batch_jobs=False),
    "k3s-workload": PlatformRules("k3s-workload", k3s_workload.place, k3s_workload.check,
                                  _version, features=_KEDA),
    "hyperpod": PlatformRules("hyperpod", hyperpod.place, hyperpod.check, _version,
                              features=frozenset(OPTIONAL_FEATURES), batch_jobs=False,
                              name_budget=hyperpod.name_budget),
}
