"""Pure builders for the Kubernetes objects of one endpoint (full objects, camelCase).

The `InferenceEndpoint` component only instantiates what these return, like
`create_deployment_args(...)` in pulumi/examples' kubernetes-py-jenkins.
"""

from __future__ import annotations

import json
from typing import Any

from components import autoscaling
from components.pod import pod_spec
from components.spec import EndpointSpec, ExposureSpec

ALB = "alb.ingress.kubernetes.io"
NLB = "service.beta.kubernetes.io"
# A Deployment may not be declared failed before the model had its load budget (R16).
PROGRESS_MARGIN_SECONDS = 600


def _metadata(spec: EndpointSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": spec.labels, **extra}


def rollout_strategy(replicas: int) -> dict[str, Any]:
    """GPU pods cannot surge: the new pod would wait for the GPU the old one holds (R16)."""
    if replicas <= 1:
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def deployment(spec: EndpointSpec) -> dict[str, Any]:
    annotations = {"inference-stacks/model": spec.model,
                   "inference-stacks/served-model-name": spec.served_model_name}
    replicas = {} if spec.scaling else {"replicas": spec.replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, spec.name, annotations=annotations),
        "spec": {
            # Autoscaled: the replica count is KEDA's; with server-side apply, leaving the field
            # out means `pulumi up` never resets it.
            **replicas,
            "selector": {"matchLabels": spec.selector},
            "strategy": rollout_strategy(spec.max_replicas),
            "progressDeadlineSeconds":
                spec.probes.startup_budget_seconds + PROGRESS_MARGIN_SECONDS,
            "template": {
                "metadata": {"labels": spec.labels, "annotations": annotations},
                "spec": pod_spec(spec),
            },
        },
    }


def scaled_object(spec: EndpointSpec) -> dict[str, Any] | None:
    """The endpoint's KEDA ScaledObject (never an HPA beside it: KEDA creates its own)."""
    if spec.scaling is None:
        return None
    return autoscaling.scaled_object(
        spec.name, spec.namespace, spec.name, spec.labels, spec.scaling.policy,
        spec.scaling.server_address, spec.scaling.query)


def service(spec: EndpointSpec) -> dict[str, Any]:
    """ClusterIP Service on the engine profile's port (R6)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, spec.name),
        "spec": {
            "type": "ClusterIP",
            "selector": spec.selector,
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http",
                       "protocol": "TCP"}],
        },
    }


def pod_disruption_budget(spec: EndpointSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec, f"{spec.name}-pdb"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": spec.selector}},
    }


def secret_manifest(name: str, namespace: str, labels: dict[str, str],
                    data: dict[str, Any]) -> dict[str, Any]:
    """An Opaque Secret; values may be Pulumi secret Outputs (never plain in the program)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": data,
    }


def secret(spec: EndpointSpec, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """An endpoint's Secret (API key, HF token), labelled like its other objects."""
    return secret_manifest(name, spec.namespace, spec.labels, data)


def alb_annotations(exposure: ExposureSpec, health_path: str) -> dict[str, str]:
    """ALB Ingress annotations: scheme, IP targets, health on the engine, idle timeout (R23)."""
    annotations = {
        f"{ALB}/scheme": exposure.scheme,
        f"{ALB}/target-type": "ip",
        f"{ALB}/healthcheck-path": health_path,
        f"{ALB}/healthcheck-port": "traffic-port",
        f"{ALB}/success-codes": "200",
        f"{ALB}/backend-protocol": "HTTP",
        f"{ALB}/load-balancer-attributes":
            f"idle_timeout.timeout_seconds={exposure.idle_timeout_seconds}",
    }
    if exposure.tls:
        annotations[f"{ALB}/listen-ports"] = json.dumps([{"HTTP": 80}, {"HTTPS": 443}])
        annotations[f"{ALB}/certificate-arn"] = str(exposure.certificate_arn)
        annotations[f"{ALB}/ssl-redirect"] = "443"
    else:
        annotations[f"{ALB}/listen-ports"] = json.dumps([{"HTTP": 80}])
    if exposure.inbound_cidrs:
        annotations[f"{ALB}/inbound-cidrs"] = ",".join(exposure.inbound_cidrs)
    if exposure.group_name:
        annotations[f"{ALB}/group.name"] = exposure.group_name
    return annotations


def ingress(spec: EndpointSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": [{
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": spec.name, "port": {"number": spec.port}}},
    }]}}
    if spec.exposure.hostname:
        rule["host"] = spec.exposure.hostname
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(spec, spec.name, annotations=alb_annotations(
            spec.exposure, spec.profile.health_path)),
        "spec": {"ingressClassName": "alb", "rules": [rule]},
    }


def nlb_service(spec: EndpointSpec) -> dict[str, Any]:
    """NLB in IP target mode through the AWS Load Balancer Controller."""
    exposure = spec.exposure
    annotations = {
        f"{NLB}/aws-load-balancer-type": "external",
        f"{NLB}/aws-load-balancer-nlb-target-type": "ip",
        f"{NLB}/aws-load-balancer-scheme": exposure.scheme,
        f"{NLB}/aws-load-balancer-healthcheck-path": spec.profile.health_path,
        f"{NLB}/aws-load-balancer-healthcheck-protocol": "HTTP",
    }
    port = spec.port
    if exposure.tls:
        annotations[f"{NLB}/aws-load-balancer-ssl-cert"] = str(exposure.certificate_arn)
        annotations[f"{NLB}/aws-load-balancer-ssl-ports"] = "443"
        port = 443
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "loadBalancerClass": "service.k8s.aws/nlb",
        "selector": spec.selector,
        "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
    }
    if exposure.inbound_cidrs:
        body["loadBalancerSourceRanges"] = list(exposure.inbound_cidrs)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, f"{spec.name}-nlb", annotations=annotations),
        "spec": body,
    }


def public_port(spec: EndpointSpec) -> int:
    """Port clients use on the load balancer."""
    if spec.exposure.type == "alb":
        return 443 if spec.exposure.tls else 80
    return 443 if spec.exposure.tls else spec.port


def load_balancer_url(spec: EndpointSpec, hostname: str) -> str:
    """OpenAI base URL (no /v1) for a load balancer hostname."""
    host = spec.exposure.hostname or hostname
    scheme = "https" if spec.exposure.tls else "http"
    port = public_port(spec)
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"
