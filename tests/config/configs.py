"""Minimal valid stack configs per platform for the config tests (keys without the prefix)."""

from __future__ import annotations

import copy
from typing import Any

from tests.helpers import k8s_config

__all__ = ["AMP", "CERT", "GROUPS", "eks_config", "hyperpod_config", "k3s_gcp_config",
           "k8s_config"]

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
AMP = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd"
GROUPS = [{"name": "system", "role": "system", "instance_type": "ml.c5.4xlarge"},
          {"name": "gpu", "role": "gpu", "instance_type": "ml.g5.8xlarge"}]


def hyperpod_config(**endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "qwen3-4b", "engine": "vllm",
                            "model": "Qwen/Qwen3-4B-Instruct-2507",
                            "gpu": {"instance_type": "ml.g5.8xlarge"}}
    base.update(endpoint)
    return {"platform": "hyperpod",
            "hyperpod": {"region": "us-east-1", "instance_groups": copy.deepcopy(GROUPS),
                         "availability_zone_names": ["us-east-1a", "us-east-1b"]},
            "endpoints": [base]}


def eks_config(pool: dict[str, Any] | None = None, **endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "qwen3-0-6b", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                            "gpu": {"pool": "a10g"}}
    base.update(endpoint)
    return {"platform": "eks",
            "eks": {"region": "us-east-1",
                    "vpc": {"availability_zone_names": ["us-east-1a", "us-east-1b"]},
                    "gpu_pools": [{"name": "a10g", "instance_types": ["g5.xlarge"],
                                   **(pool or {})}]},
            "endpoints": [base]}


def k3s_gcp_config(**settings: Any) -> dict[str, Any]:
    return {"platform": "k3s-gcp", "k3s_gcp": {"project": "my-project-1", **settings}}
