"""Pure builders for how clients reach a HyperPod endpoint: router Ingress or worker Service.

The operator's own ALB is internal and only exists with intelligent routing (R12); for public
(or program-managed internal) access the program owns an ALB Ingress in front of the operator's
router Service. Endpoints without routing get a ClusterIP Service on the engine port. The
engines' scrape target comes from the same facts: the worker selector and the
`spec.metrics.modelMetrics` port and path of the rendered custom resource.
"""

from __future__ import annotations

from typing import Any

from components.hyperpod_manifest import HyperPodEndpointSpec, hyperpod_name
from components.manifests import alb_annotations, ingress_paths
from components.observability_manifests import EngineTarget
from components.spec import ExposureSpec


def router_ingress(
    name: str, namespace: str, service: str, port: int, exposure: ExposureSpec,
    health_path: str,
) -> dict[str, Any]:
    """ALB Ingress the program owns in front of the operator's router Service (R12, R23, R24).

    The operator's own ALB is internal and only exists with intelligent routing; making it
    internet-facing fought the operator (finalizers, 409s, reverted scheme). This Ingress lives
    in the router's namespace (an Ingress backend must be in its own namespace).
    """
    annotations = alb_annotations(exposure, health_path)
    # Only /v1 (issue 12): the router's and engines' other routes stay off the load balancer.
    rule: dict[str, Any] = {"http": {"paths": ingress_paths(service, port)}}
    if exposure.hostname:
        rule["host"] = exposure.hostname
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/instance": name,
                                "app.kubernetes.io/part-of": "inference-stacks"},
                     "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": [rule]},
    }


def worker_service(spec: HyperPodEndpointSpec) -> dict[str, Any]:
    """ClusterIP Service on the engine port for endpoints without the operator's router."""
    name = hyperpod_name(spec.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": spec.namespace,
                     "labels": {"app.kubernetes.io/instance": name,
                                "app.kubernetes.io/part-of": "inference-stacks"}},
        "spec": {"type": "ClusterIP", "selector": worker_selector(spec),
                 "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port,
                            "protocol": "TCP"}]},
    }


def worker_selector(spec: HyperPodEndpointSpec) -> dict[str, str]:
    """Labels the operator puts on worker pods (`app: <name>`)."""
    return {"app": hyperpod_name(spec.name)}


def engine_target(spec: HyperPodEndpointSpec, custom_resource: dict[str, Any],
                  api_key_secret: str | None) -> EngineTarget:
    """The engines' scrape target: the operator's worker pods (`worker_selector`), on the port
    and path the rendered `InferenceEndpointConfig` tells the operator its metrics are at
    (`spec.metrics.modelMetrics`), by port number (the operator names the container's ports)."""
    metrics = custom_resource["spec"]["metrics"]
    if not metrics.get("enabled"):
        raise ValueError(f"{spec.name}: the custom resource does not enable metrics")
    model_metrics = metrics["modelMetrics"]
    return EngineTarget(
        name=spec.name, namespace=custom_resource["metadata"]["namespace"],
        engine=spec.profile.engine, selector=worker_selector(spec),
        metrics_path=model_metrics["path"], port=int(model_metrics["port"]),
        api_key_secret=api_key_secret)
