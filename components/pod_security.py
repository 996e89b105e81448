"""Pod Security Admission labels for the namespaces this program creates (issue 12, point 2).

Decision, from what the engine pods need:
- `restricted` cannot be enforced: it requires runAsNonRoot, and the upstream images
  (vllm/vllm-openai, lmsysorg/sglang, the SageMaker DLC, amazon/aws-cli) run as root;
  everything else restricted asks (no privilege escalation, drop ALL, RuntimeDefault seccomp)
  the pods do set, so `restricted` is the warn/audit level and any new gap shows up there.
- `baseline` is enforced, except where an endpoint caches models on a hostPath volume (K3s,
  on-prem stacks: R18), which `baseline` forbids; those namespaces enforce `privileged`
  (still warn/audit `restricted`), and say why in an annotation-free label value.
The version is pinned to the cluster's minor so a control-plane upgrade cannot tighten or
loosen the policy unannounced.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.spec import EndpointSpec

PSA = "pod-security.kubernetes.io"


def enforce_level(endpoints: Iterable[EndpointSpec]) -> str:
    """`baseline`, or `privileged` when a pod of the namespace mounts a hostPath."""
    return "privileged" if any(e.cache_type == "hostpath" for e in endpoints) else "baseline"


def namespace_labels(endpoints: Iterable[EndpointSpec], kubernetes_version: str | None = None
                     ) -> dict[str, str]:
    """PSA labels for one namespace holding `endpoints` (e.g. `{"...enforce": "baseline"}`).

    `kubernetes_version` like "1.33" pins `*-version`; None means `latest`.
    """
    version = f"v{kubernetes_version.removeprefix('v')}" if kubernetes_version else "latest"
    labels: dict[str, str] = {}
    for mode, level in (("enforce", enforce_level(endpoints)), ("warn", "restricted"),
                        ("audit", "restricted")):
        labels[f"{PSA}/{mode}"] = level
        labels[f"{PSA}/{mode}-version"] = version
    return labels
