"""Monitors and the rule against the pinned prometheus-operator CRD schemas (strict).

The CRDs are the ones the pinned kube-prometheus-stack chart installs (tests/schemas/
prometheus-operator/README.md). Like tests/contract/harness.py does for the HyperPod CRD, the
`openAPIV3Schema` is made strict: a field the operator does not know (and the API server would
prune silently) is an error. Dashboard ConfigMaps go through the Kubernetes schemas.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components import observability_manifests as om
from tests.contract.harness import _metadata_errors, _strict, validate_k8s_manifest
from tests.observability import specs

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "prometheus-operator"
CRD_FILES = {"ServiceMonitor": "crd-servicemonitors.yaml", "PodMonitor": "crd-podmonitors.yaml",
             "PrometheusRule": "crd-prometheusrules.yaml"}


@functools.cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load((SCHEMAS / CRD_FILES[kind]).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert v1["served"] and v1["storage"]
    return jsonschema.Draft202012Validator(_strict(v1["schema"]["openAPIV3Schema"]))


def validate_monitoring_object(obj: dict[str, Any]) -> None:
    """Strict CRD validation plus the API server's metadata checks; AssertionError lists all."""
    kind = obj.get("kind", "")
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in _validator(kind).iter_errors(obj)]
    if obj.get("apiVersion") != om.MONITORING_GROUP:
        errors.append(f"apiVersion {obj.get('apiVersion')!r}")
    errors += _metadata_errors(obj.get("metadata") or {}, kind, "metadata")
    if errors:
        raise AssertionError(f"{kind}/{obj['metadata'].get('name')} is invalid:\n  "
                             + "\n  ".join(sorted(errors)))


OBJECTS = specs.all_objects()
CUSTOM = [o for o in OBJECTS if o["kind"] in CRD_FILES]


@pytest.mark.parametrize("obj", CUSTOM, ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_custom_resources_match_the_pinned_crd_schema(obj: dict[str, Any]) -> None:
    validate_monitoring_object(obj)


def test_every_kind_is_rendered() -> None:
    kinds = sorted(o["kind"] for o in OBJECTS)
    assert kinds == ["ConfigMap", "ConfigMap", "PodMonitor", "PodMonitor", "PrometheusRule",
                     "ServiceMonitor", "ServiceMonitor"]


@pytest.mark.parametrize("obj", [o for o in OBJECTS if o["kind"] == "ConfigMap"],
                         ids=lambda o: o["metadata"]["name"])
def test_dashboard_config_maps_are_valid_kubernetes(obj: dict[str, Any]) -> None:
    validate_k8s_manifest(obj, "1.33")


@pytest.mark.parametrize("mutate, needle", [
    (lambda o: o["spec"]["podMetricsEndpoints"][0].update(scrapeIntervl="30s"), "scrapeIntervl"),
    (lambda o: o["spec"]["podMetricsEndpoints"][0]["relabelings"][0].update(action="rename"),
     "rename"),
    (lambda o: o["spec"].update(selector={"matchLabel": {"a": "b"}}), "matchLabel"),
], ids=["unknown-field", "bad-enum", "typo-in-selector"])
def test_the_validator_rejects_what_the_operator_would(mutate: Any, needle: str) -> None:
    obj = copy.deepcopy(next(o for o in OBJECTS if o["kind"] == "PodMonitor"))
    mutate(obj)
    with pytest.raises(AssertionError, match=needle):
        validate_monitoring_object(obj)


def test_rule_without_expr_is_rejected() -> None:
    rule = copy.deepcopy(next(o for o in OBJECTS if o["kind"] == "PrometheusRule"))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    with pytest.raises(AssertionError, match="expr"):
        validate_monitoring_object(rule)


def test_engine_target_with_a_port_number_validates() -> None:
    """HyperPod-style workers: selector and port given directly (the operator names the pods)."""
    target = om.EngineTarget(name="hp", namespace="inference", engine="sglang",
                             selector={"app": "hp-endpoint"}, port=8080)
    pm = om.engine_pod_monitor(target, specs.SETTINGS)
    validate_monitoring_object(pm)
    endpoint = pm["spec"]["podMetricsEndpoints"][0]
    assert endpoint["portNumber"] == 8080 and "port" not in endpoint
    assert pm["spec"]["selector"] == {"matchLabels": {"app": "hp-endpoint"}}
