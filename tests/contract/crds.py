"""Strict validation of custom resources against CRD schemas stored in tests/schemas/.

Unknown fields are errors (the API server would prune them silently), as for core objects."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
PROM = SCHEMAS / "prometheus-operator"
CRD_FILES = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda" / "scaledobjects.keda.sh.yaml",
    ("karpenter.sh/v1", "NodePool"): SCHEMAS / "karpenter" / "nodepools.karpenter.sh.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): PROM / "crd-podmonitors.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): PROM / "crd-servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROM / "crd-prometheusrules.yaml",
}


def is_stored(obj: dict[str, Any]) -> bool:
    """A custom resource whose CRD schema is stored here."""
    return (str(obj.get("apiVersion")), str(obj.get("kind"))) in CRD_FILES


def strict(schema: Any) -> Any:
    """Make unknown fields errors, as the API server's pruning would silently drop them."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load(CRD_FILES[(api_version, kind)].read_text(encoding="utf-8"))
    version = api_version.rsplit("/", 1)[1]
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft202012Validator(strict(found["schema"]["openAPIV3Schema"]))


def validate_custom_resource(obj: dict[str, Any]) -> None:
    """AssertionError listing every schema error of `obj` against its stored CRD."""
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    if key not in CRD_FILES:
        raise AssertionError(f"no CRD schema stored for {key[0]} {key[1]}")
    errors = [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
              for e in _validator(*key).iter_errors(obj)]
    if errors:
        raise AssertionError(f"{key[1]}/{obj.get('metadata', {}).get('name')} is invalid:\n  "
                             + "\n  ".join(sorted(errors)))
