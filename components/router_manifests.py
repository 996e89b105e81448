"""Pure builders for a managed router in front of one endpoint's engine replicas (managed setup).

Two kinds (`RouterSpec.kind`): `vllm-router`, which balances on its own in-flight counts, and
`smg` (Shepherd Model Gateway, sglang-router's successor), which polls each engine's `/metrics`
and can route on, and veto on, the engines' own queue depth. Same Deployment, Service and RBAC
shape for both; args, image, command, metrics and the worker listing differ per kind.

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

Facts checked against `smg` 1.13.0 (PyPI; `smg launch --help`, its Python argument parser, and
local runs against mock engines, a fake Kubernetes API server and two vLLM CPU engines):
- flags are `vllm-router`'s for host, port, policy, discovery (`--service-discovery --selector
  k=v ... --service-discovery-namespace --service-discovery-port`, default port 80), health
  checks and Prometheus (default 29000); the image's entry point is `python3 -m smg.launch_router`;
- discovery lists and watches `/api/v1/namespaces/<ns>/pods?labelSelector=...` and registers only
  Ready pods as `http://<podIP>:<port>` (a not-Ready pod was skipped), so the same namespaced Role
  (get/list/watch pods) suffices; outside a cluster it logs "Continuing without service
  discovery" and stays up with zero workers; discovery switches it to multi-model (IGW) mode,
  which routes by the served model name it reads from each engine's `/v1/models`;
- `/health` and `/liveness` are 200 even with zero workers; `/readiness` is 503 ("insufficient
  healthy workers") until one is healthy and then answers `{"healthy_workers": n,
  "total_workers": m}`: what smoke reads to see that the router sees every replica;
- `--api-key` is sent to the engines (health, `/v1/models`, `/metrics`) AND checked on clients:
  without it or with a wrong one `/v1/chat/completions` is 401 at the router, but `GET
  /v1/models` (and `/v1/models/<id>`) answer 200 without it (re-checked against a live smg);
  admin routes (`/workers`, `/get_loads`) need it too (unlike vllm-router's); `/metrics` on its
  port is 404 (no pass-through of the engines' metrics);
- the load monitor polls each engine's `/metrics` every `--load-monitor-interval` s (default
  10) and reads `vllm:num_requests_waiting`, `vllm:num_requests_running` and
  `vllm:kv_cache_usage_perc` (SGLang: `num_queue_reqs`, `num_running_reqs`, `token_usage`);
- worker overload protection is ON by default (8 waiting requests, KV usage 0.8) for every
  policy: a worker at or above either threshold is left out while another is below them. The KV
  ceiling is the wrong signal when capacities differ (a small full replica holds little KV), so
  it is rendered at 1.0 (only a completely full cache vetoes) unless set, and the veto is
  switched off entirely (`--disable-worker-overload-protection`) when no queue veto is asked for;
- per-worker metrics on its Prometheus port: `smg_worker_health`, `smg_worker_requests_total`,
  `smg_engine_waiting_requests`, `smg_engine_running_requests`, `smg_workers_overloaded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from components.images import parse_image
from components.pod import container_security_context, pod_security_context
from components.spec import PART_OF

# Published image (Docker Hub vllm/vllm-router has dated nightly tags, no release tags found;
# this one is referenced by public deployment scripts). The PyPI CLI we verified is 0.1.17.
# A nightly tag moves, so the plan refuses it without its digest (infra/validate/images.py):
# kind vllm-router needs `router.image: vllm/vllm-router:nightly-20260710-b93cbcb@sha256:<digest>`
# from `crane digest vllm/vllm-router:nightly-20260710-b93cbcb`. No digest stated for this exact
# tag was found in public sources (searched 2026-11: code quoting the tag names no digest; the
# `vllm/vllm-router@sha256:` pins found name no tag), so none is set here.
DEFAULT_IMAGE = "vllm/vllm-router:nightly-20260710-b93cbcb"
# smg's release workflow pushes `lightseekorg/smg:<version of bindings/python/pyproject.toml>`
# to Docker Hub; the tag matches the PyPI wheel we verified. A release tag: accepted as is; no
# digest of it was found published (same search), pin one with `router.image` if needed.
SMG_IMAGE = "lightseekorg/smg:1.13.0"
RouterKind = Literal["vllm-router", "smg"]
KINDS: tuple[RouterKind, ...] = ("vllm-router", "smg")
DEFAULT_IMAGES = {"vllm-router": DEFAULT_IMAGE, "smg": SMG_IMAGE}
COMMANDS = {"vllm-router": ["vllm-router"], "smg": ["python3", "-m", "smg.launch_router"]}
# The router's view of its engines, for smoke: both kinds answer `/readiness` (main port, no key)
# with {"healthy_workers": n, "total_workers": m}, and export one health gauge per engine URL on
# their Prometheus port (checked on vllm-router 0.1.17 and smg 1.13.0).
WORKER_HEALTH_METRICS = {"vllm-router": "vllm_router_worker_health", "smg": "smg_worker_health"}
# smg's power_of_two compares one of these (`--power-of-two-load-metric`, default expected_wait).
SMG_LOAD_METRICS = ("expected_wait", "requests", "least_requests")
DEFAULT_PROMETHEUS_PORT = 29000
API_KEY_ENV = "ROUTER_API_KEY"
READINESS_PATH = "/readiness"  # 503 until at least one engine is healthy
# vllm-router retries a request that finds no worker (0.1.17: "max retries" counts attempts, the
# backoff grows x1.5 from the initial delay up to the cap). For a scale-to-zero endpoint it holds
# each request through ~4.7 min of the cold start: 16 waits of 1, 1.5, ... 25.6 s (74 s) then
# 7 x 30 s; measured locally with no worker: 503 "No available workers" after 284 s. smg 1.13.0
# has no such wait: with no worker it answers 404 model_not_found at once.
# smg, engines with a bounded queue: a refused request is retried (on the replica the policy picks
# then) with backoff 50 ms x 1.5^n capped at 2 s, 12 times: about 10 s of waiting for a free slot
# before the client gets the 503. smg's default (5 retries, about 0.7 s) let 15 of 100
# simultaneous long requests on 20 slots fail locally; these let none.
SPILL_RETRY_ARGS = ["--retry-max-retries", "12", "--retry-max-backoff-ms", "2000"]
COLD_START_RETRY_ARGS = ["--retry-max-retries", "17", "--retry-initial-backoff-ms", "1000",
                         "--retry-max-backoff-ms", "30000"]
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
    kind: RouterKind = "vllm-router"
    # smg only: how often it polls each engine's /metrics, what power_of_two compares, and the
    # overload veto (a worker with at least `queue_veto` waiting requests, or KV usage at or
    # above `kv_veto`, is skipped while another is below). queue_veto None = no veto at all.
    load_monitor_interval_seconds: int = 1
    load_metric: str = "requests"
    queue_veto: int | None = None
    kv_veto: float | None = None
    # smg: the engines refuse (HTTP 503) past their batch slots plus this many waiting requests
    # (`router.engine_queue`); smg then retries on another replica, for up to ~10 s. None = the
    # engines queue without bound and smg keeps its default retries.
    engine_queue: int | None = None
    # The fronted endpoint scales to zero: the router must stay Ready with no engine (its
    # Service is how requests, and so the wake-up signal, arrive) and hold requests meanwhile.
    scale_to_zero: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"router kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "smg" and self.load_metric not in SMG_LOAD_METRICS:
            raise ValueError(f"smg load metric {self.load_metric!r} is not one of "
                             f"{', '.join(SMG_LOAD_METRICS)}")

    @property
    def name(self) -> str:
        return f"{self.endpoint}-router"

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/instance": self.name, "app.kubernetes.io/component": COMPONENT}

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.kind,
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


def routing_argv(spec: RouterSpec) -> list[str]:
    """The policy and its load signals: what the local benchmark runs with `--worker-urls`."""
    argv = ["--policy", spec.policy]
    if spec.kind != "smg":
        return argv
    # Pure load balancing: no tokenizer download from the hub (gated models would need a token).
    argv += ["--disable-tokenizer-autoload",
             "--load-monitor-interval", str(spec.load_monitor_interval_seconds)]
    if spec.policy == "power_of_two":
        argv += ["--power-of-two-load-metric", spec.load_metric]
    if spec.engine_queue is not None:
        argv += SPILL_RETRY_ARGS
    if spec.queue_veto is None:
        # smg vetoes at 8 waiting or KV 0.8 by default; no veto asked for means none.
        return [*argv, "--disable-worker-overload-protection"]
    kv_veto = 1.0 if spec.kv_veto is None else spec.kv_veto  # 1.0: only a full cache vetoes
    return [*argv, "--worker-overload-waiting-requests", str(spec.queue_veto),
            "--worker-overload-token-usage", f"{kv_veto:g}"]


def router_argv(spec: RouterSpec) -> list[str]:
    """Container args after the router command: discovery of the engine pods by their selector."""
    argv = [
        "--host", "0.0.0.0",
        "--port", str(spec.port),
        *routing_argv(spec),
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
    if spec.scale_to_zero and spec.kind == "vllm-router":
        argv += COLD_START_RETRY_ARGS
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
        "command": list(COMMANDS[spec.kind]),
        "args": router_argv(spec),
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": spec.prometheus_port, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"memory": "1Gi"}},
        # /readiness fails until at least one engine is healthy, so the Service only sends
        # traffic once a replica can answer; /liveness is the process itself. Timeouts >= 5 s (R2).
        # Scale to zero: Ready on /liveness, or at zero engines no request would reach it.
        "readinessProbe": {"httpGet": {"path": LIVENESS_PATH if spec.scale_to_zero
                                       else READINESS_PATH, "port": "http"},
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
    annotations = {"inference-stacks/policy": spec.policy, "inference-stacks/router": spec.kind,
                   **image_annotations(spec.image)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, annotations=annotations),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": spec.selector},
            "template": {
                "metadata": {"labels": spec.labels, "annotations": dict(annotations)},
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
