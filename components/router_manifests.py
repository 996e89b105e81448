"""Pure builders for a `vllm-router` in front of one endpoint's engine replicas (managed setup).

Facts checked against `vllm-router` 0.1.17 (PyPI; `vllm-router --help` and a local run):
- it binds 127.0.0.1 and Prometheus to 127.0.0.1:29000 by default, so both hosts are set;
- Kubernetes discovery is `--service-discovery --selector k=v ... --service-discovery-namespace
  --service-discovery-port` (default port 80, so the engine port is always passed). Against a
  fake API server it listed and watched `/api/v1/namespaces/<ns>/pods` (selector applied on its
  side), added only Ready pods as `http://<podIP>:<port>` and skipped a not-Ready one, so a
  namespaced Role with list/watch (and get) on pods is all it needs;
- it serves `/health`, `/liveness` and `/readiness`; only `/readiness` is 503 with no healthy
  worker (`/health` says "All servers healthy" even with zero), and when discovery cannot start
  (RBAC, no in-cluster config) it logs "Continuing without service discovery" and stays up with
  zero workers, so readiness (and the endpoint's `health_path` output) is `/readiness`;
- `/v1/*` without the key comes back 401 from the engine (30 such requests did not trip its
  circuit breaker), and `/metrics` on its main port returns engine metrics (with
  `vllm:num_requests_waiting`); its own `vllm_router_*` metrics are on the Prometheus port;
- `power_of_two` polls the engines' `/get_load`, which vLLM answers 404 (seen in the local
  benchmark's engine logs); the router then falls back to its own in-flight counts
  (benchmarks/routing/README.md);
- its admin routes (`/add_worker`, `/list_workers`, ...) take no credentials: `POST /add_worker`
  was accepted without a key. Keep the router Service in-cluster (exposure `cluster`);
- it does NOT check client keys: it forwards the client's `Authorization` header to the engine,
  which enforces it (R24). `--api-key` is what the router itself sends when it scrapes the
  engines' `/metrics`, so it gets the endpoint's key too (R15);
- each process exposes Prometheus on its own port, or the second panics (address in use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.images import parse_image
from components.pod import container_security_context, pod_security_context
from components.spec import PART_OF

# Published image (Docker Hub vllm/vllm-router has dated nightly tags, no release tags found;
# this one is referenced by public deployment scripts). The PyPI CLI we verified is 0.1.17.
# A nightly tag is mutable: `components.images.image_problems` flags it until it is pinned as
# `vllm/vllm-router:nightly-20260710-b93cbcb@sha256:<digest>`. No published digest of this
# exact tag could be found offline; resolve it with `docker buildx imagetools inspect
# vllm/vllm-router:nightly-20260710-b93cbcb` (or `crane digest`) and set it here or in the
# stack's `router.image`.
DEFAULT_IMAGE = "vllm/vllm-router:nightly-20260710-b93cbcb"
DEFAULT_PROMETHEUS_PORT = 29000
API_KEY_ENV = "ROUTER_API_KEY"
READINESS_PATH = "/readiness"  # 503 until at least one engine is healthy
LIVENESS_PATH = "/liveness"
COMPONENT = "router"


@dataclass(frozen=True)
class RouterSpec:
    """Everything needed to render one router Deployment and its companions."""

    endpoint: str  # the engine endpoint the router fronts
    namespace: str
    image: str
    policy: str
    port: int  # the engine's port, so the endpoint's outputs keep their shape
    engine_port: int
    engine_selector: dict[str, str]
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    replicas: int = 1
    api_key_secret: str | None = None
    engine_health_path: str = "/health"
    health_check_interval_seconds: int = 10
    request_timeout_seconds: int = 1800
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.endpoint}-router"

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/instance": self.name, "app.kubernetes.io/component": COMPONENT}

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "vllm-router",
            **self.selector,
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            "inference-stacks/endpoint": self.endpoint,
            **self.extra_labels,
        }

    @property
    def cluster_url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{self.port}"


def _metadata(spec: RouterSpec, **extra: Any) -> dict[str, Any]:
    return {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels, **extra}


def router_argv(spec: RouterSpec) -> list[str]:
    """Container args after `vllm-router`: discovery of the engine pods by their selector."""
    argv = [
        "--host", "0.0.0.0",
        "--port", str(spec.port),
        "--policy", spec.policy,
        "--service-discovery",
        "--selector", *[f"{k}={v}" for k, v in sorted(spec.engine_selector.items())],
        "--service-discovery-namespace", spec.namespace,
        "--service-discovery-port", str(spec.engine_port),
        "--health-check-endpoint", spec.engine_health_path,
        "--health-check-interval-secs", str(spec.health_check_interval_seconds),
        "--request-timeout-secs", str(spec.request_timeout_seconds),
        "--prometheus-host", "0.0.0.0",
        "--prometheus-port", str(spec.prometheus_port),
    ]
    if spec.api_key_secret is not None:
        # Kubernetes expands $(VAR) from the Secret-backed env: the key never sits in the spec.
        argv += ["--api-key", f"$({API_KEY_ENV})"]
    return argv


def service_account(spec: RouterSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(spec)}


def role(spec: RouterSpec) -> dict[str, Any]:
    """Read-only pod access in the endpoint's namespace: what service discovery watches."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(spec),
        "rules": [{"apiGroups": [""], "resources": ["pods"],
                   "verbs": ["get", "list", "watch"]}],
    }


def role_binding(spec: RouterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(spec),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": spec.name},
        "subjects": [{"kind": "ServiceAccount", "name": spec.name,
                      "namespace": spec.namespace}],
    }


def router_container(spec: RouterSpec) -> dict[str, Any]:
    env: list[dict[str, Any]] = []
    if spec.api_key_secret is not None:
        ref = {"secretKeyRef": {"name": spec.api_key_secret, "key": "api-key"}}
        env.append({"name": API_KEY_ENV, "valueFrom": ref})
    return {
        "name": "router",
        "image": spec.image,
        "command": ["vllm-router"],
        "args": router_argv(spec),
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": spec.prometheus_port, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"memory": "1Gi"}},
        # /readiness fails until at least one engine is healthy, so the Service only sends
        # traffic once a replica can answer; /liveness is the process itself. Timeouts >= 5 s (R2).
        "readinessProbe": {"httpGet": {"path": READINESS_PATH, "port": "http"},
                           "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": LIVENESS_PATH, "port": "http"},
                          "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3},
        "securityContext": container_security_context(),
    }


def image_annotations(image: str) -> dict[str, str]:
    """The human-readable tag beside a digest pin (`repo:tag@sha256:...` runs by digest)."""
    ref = parse_image(image)
    annotations = {"inference-stacks/image-tag": f"{ref.repository}:{ref.tag or ''}"}
    if ref.digest:
        annotations["inference-stacks/image-digest"] = ref.digest
    return annotations


def deployment(spec: RouterSpec) -> dict[str, Any]:
    annotations = {"inference-stacks/policy": spec.policy, **image_annotations(spec.image)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, annotations=annotations),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": spec.selector},
            "template": {
                "metadata": {"labels": spec.labels,
                             "annotations": {"inference-stacks/policy": spec.policy}},
                "spec": {
                    "serviceAccountName": spec.name,
                    # Discovery talks to the API server with this account's token.
                    "automountServiceAccountToken": True,
                    "containers": [router_container(spec)],
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }


def service(spec: RouterSpec) -> dict[str, Any]:
    """ClusterIP Service on the engine's port (clients) and the router's metrics port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": spec.selector,
            "ports": [
                {"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": spec.prometheus_port, "targetPort": "metrics",
                 "protocol": "TCP"},
            ],
        },
    }


def objects(spec: RouterSpec) -> list[dict[str, Any]]:
    """Every object of one router, in creation order."""
    return [service_account(spec), role(spec), role_binding(spec), deployment(spec),
            service(spec)]
