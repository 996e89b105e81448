"""How long `pulumi up` waits for a workload to become ready: its startup budget plus image pull.

Pulumi's Kubernetes provider waits 10 minutes for a Deployment by default; an engine may take
its whole startup budget (30-60 minutes: model download and load) after its image (10-20 GB for
vLLM/SGLang) was pulled onto a fresh GPU node. Without these, the first `pulumi up` of a real
model fails although the cluster converges.
"""

from __future__ import annotations

import math

import pulumi

# A 10-20 GB engine image pulled onto a fresh node from a public registry.
IMAGE_PULL_SECONDS = 900


def await_timeouts(startup_budget_seconds: int) -> pulumi.CustomTimeouts:
    """create/update timeouts covering the startup budget plus the image pull, in minutes."""
    minutes = math.ceil((startup_budget_seconds + IMAGE_PULL_SECONDS) / 60)
    return pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")
