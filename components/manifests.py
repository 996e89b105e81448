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
# TLS 1.3 with TLS 1.2 fallback (AWS ELB predefined policy, recommended for new listeners).
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# The only route prefix a load balancer forwards (issue 12, point 1). vLLM 0.32's API key
# middleware guards only /v1, /v2, /inference and /cohere (`GUARDED_PREFIX` in
# vllm/entrypoints/serve/middleware/authenticate.py): `POST /invocations` (chat without a key),
# /tokenize, /detokenize, /pooling, /score, /rerank, /metrics and /scale_elastic_ep are open.
# SGLang exempts /health*, /ready* and /metrics*; vllm-router's admin routes (/add_worker,
# /remove_worker, /list_workers) take no credentials. OpenAI clients need only /v1/...
EXPOSED_PREFIX = "/v1"
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
                "metadata": {"labels": spec.labels,
                             "annotations": {**annotations, **spec.pod_annotations}},
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
        spec.scaling.server_address, spec.scaling.query, spec.scaling.wake_query)


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


def is_exposed_path(path: str) -> bool:
    """True when a load balancer may forward `path` to the engine or router: `/v1` and below.

    Pure, so tests can run every engine route against it. Dot segments, empty segments and
    percent-encoded characters are refused outright: a path that normalises differently in the
    load balancer and in the engine must not get through (`/v1/../invocations`).
    """
    path = path.split("?", 1)[0]
    if not path.startswith("/") or "%" in path or "\\" in path or "//" in path:
        return False
    if any(segment in (".", "..") for segment in path.split("/")):
        return False
    return path == EXPOSED_PREFIX or path.startswith(EXPOSED_PREFIX + "/")


def ingress_paths(service: str, port: int) -> list[dict[str, Any]]:
    """Ingress HTTP paths: only the OpenAI API prefix (Kubernetes `Prefix` matches `/v1` and
    `/v1/...`, element-wise, never `/v10`). Health stays an annotation, not a route."""
    return [{
        "path": EXPOSED_PREFIX,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }]


def alb_annotations(exposure: ExposureSpec, health_path: str) -> dict[str, str]:
    """ALB Ingress annotations: scheme, IP targets, health on the engine, idle timeout (R23).

    With TLS the listeners are HTTPS 443 with an explicit TLS policy and HTTP 80 that only
    redirects (`ssl-redirect`); the health check is a target-group setting, not a route."""
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
        annotations[f"{ALB}/ssl-policy"] = ALB_SSL_POLICY
    else:
        annotations[f"{ALB}/listen-ports"] = json.dumps([{"HTTP": 80}])
    if exposure.inbound_cidrs:
        annotations[f"{ALB}/inbound-cidrs"] = ",".join(exposure.inbound_cidrs)
    if exposure.group_name:
        annotations[f"{ALB}/group.name"] = exposure.group_name
    return annotations


def ingress(spec: EndpointSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": ingress_paths(spec.name, spec.port)}}
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


def exposure_problems(exposure: ExposureSpec, *, routed: bool = False,
                      auth_proxy: bool = False) -> list[str]:
    """What is wrong with exposing an engine (or its router) this way; [] when acceptable.

    An NLB is layer 4: it cannot filter paths, so it would put every engine route (including
    the unauthenticated `/invocations`, `/tokenize`, `/metrics`) or the router's credential-free
    admin routes (`/add_worker`, `/remove_worker`) in front of its clients. It is refused for
    internet-facing exposure unless an authenticating proxy (which filters paths) fronts the
    engine, and refused in front of a vllm-router at any scheme unless such a proxy does.
    """
    problems: list[str] = []
    if exposure.type == "nlb" and not auth_proxy:
        if exposure.scheme == "internet-facing":
            problems.append(
                "exposure nlb + internet-facing: an NLB cannot filter paths, so the engine's "
                "unauthenticated routes (/invocations, /tokenize, /metrics, ...) would be public; "
                "use exposure alb (forwards only /v1) or front it with an authenticating proxy")
        if routed:
            problems.append(
                "exposure nlb in front of vllm-router: its admin routes (/add_worker, "
                "/remove_worker) take no credentials; use exposure alb (forwards only /v1)")
    if exposure.type != "cluster" and exposure.scheme == "internet-facing" and not exposure.tls:
        problems.append("internet-facing exposure without TLS (certificate_arn)")
    return problems
