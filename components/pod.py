"""Pure builders for the engine pod: probes, volumes, the model download step, containers.

Each function returns plain Kubernetes dicts (camelCase, as the API server takes them) so tests
can check them without Pulumi and validate them against the real Kubernetes schema.
"""

from __future__ import annotations

import math
from typing import Any

from components.engines import admission_argv, build_engine_argv, engine_env
from components.spec import EndpointSpec, ProbeSpec

MODEL_MOUNT = "/models"
DOWNLOADED_WEIGHTS = f"{MODEL_MOUNT}/weights"
# Pinned AWS CLI image for the S3 download step (R19).
AWS_CLI_IMAGE = "amazon/aws-cli:2.27.50"
PROBE_PERIOD_SECONDS = 10


def container_security_context() -> dict[str, Any]:
    """Every container of ours: no privilege escalation, no Linux capabilities, the runtime's
    default seccomp filter (issue 12, point 2). The upstream vLLM/SGLang images run as root and
    write caches under the root filesystem, so runAsNonRoot/readOnlyRootFilesystem are not set
    (see tests/security/checkov_skips.yaml)."""
    return {"allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security_context() -> dict[str, Any]:
    """Pod-wide: RuntimeDefault seccomp (Pod Security `restricted` asks for it)."""
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def probes(port_name: str, path: str, spec: ProbeSpec) -> dict[str, dict[str, Any]]:
    """Startup probe with the load budget, then readiness and liveness (R1, R2).

    The startup probe carries the whole model load time, so liveness never kills a pod that is
    still loading and no large initialDelaySeconds is needed.
    """
    http = {"path": path, "port": port_name}
    return {
        "startupProbe": {
            "httpGet": http,
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": max(5, spec.readiness_timeout_seconds),
            "failureThreshold": math.ceil(spec.startup_budget_seconds / PROBE_PERIOD_SECONDS),
        },
        "readinessProbe": {
            "httpGet": http,
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": spec.readiness_timeout_seconds,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": http,
            "periodSeconds": spec.liveness_period_seconds,
            "timeoutSeconds": spec.liveness_timeout_seconds,
            "failureThreshold": spec.liveness_failure_threshold,
        },
    }


def model_path(spec: EndpointSpec) -> str:
    """What the engine's --model points at: hub id, downloaded directory or S3 URI."""
    if spec.source.kind == "s3":
        return spec.source.s3_uri if spec.source.s3_stream else DOWNLOADED_WEIGHTS
    return spec.model


def volumes(spec: EndpointSpec) -> list[dict[str, Any]]:
    """Model cache (R18) and, for tensor parallel pods, an in-memory /dev/shm (R21)."""
    if spec.cache_type == "hostpath":
        cache: dict[str, Any] = {"hostPath": {"path": spec.cache_host_path,
                                              "type": "DirectoryOrCreate"}}
    elif spec.cache_type == "pvc":
        cache = {"persistentVolumeClaim": {"claimName": spec.cache_claim}}
    else:
        cache = {"emptyDir": {"sizeLimit": spec.cache_size}}
    result = [{"name": "model-cache", **cache}]
    if spec.shm_size:
        result.append({"name": "dshm", "emptyDir": {"medium": "Memory",
                                                    "sizeLimit": spec.shm_size}})
    return result


def _s3_env(spec: EndpointSpec) -> list[dict[str, Any]]:
    source = spec.source
    env: list[dict[str, Any]] = []
    if source.s3_region:
        env.append({"name": "AWS_REGION", "value": source.s3_region})
    if source.s3_endpoint_url:
        env.append({"name": "AWS_ENDPOINT_URL", "value": source.s3_endpoint_url})
    if source.s3_credentials_secret:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = {"secretKeyRef": {"name": source.s3_credentials_secret, "key": key}}
            env.append({"name": key, "valueFrom": ref})
    return env


# The engine must not start on a partial download (R19): sync, then require config.json and
# every *.safetensors, and refuse leftovers of interrupted transfers.
_DOWNLOAD_SCRIPT = """set -euo pipefail
mkdir -p "$DEST"
aws s3 sync "$SOURCE" "$DEST" --no-progress --exact-timestamps
test -f "$DEST/config.json" || { echo "config.json missing under $SOURCE" >&2; exit 1; }
ls "$DEST"/*.safetensors >/dev/null 2>&1 || { echo "no *.safetensors under $SOURCE" >&2; exit 1; }
partial=$(find "$DEST" -name '*.tmp' -o -name '*.part' -o -name '*.incomplete' | head -n 1)
test -z "$partial" || { echo "partial download left: $partial" >&2; exit 1; }
echo "model ready in $DEST"
"""


def init_containers(spec: EndpointSpec) -> list[dict[str, Any]]:
    """A download step that finishes before the engine starts, for S3 without streaming."""
    if spec.source.kind != "s3" or spec.source.s3_stream:
        return []
    return [{
        "name": "download-model",
        "image": AWS_CLI_IMAGE,
        "command": ["bash", "-c", _DOWNLOAD_SCRIPT],
        "env": [{"name": "SOURCE", "value": spec.source.s3_uri},
                {"name": "DEST", "value": DOWNLOADED_WEIGHTS}, *_s3_env(spec)],
        "volumeMounts": [{"name": "model-cache", "mountPath": MODEL_MOUNT}],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"memory": "2Gi"}},
        "securityContext": container_security_context(),
    }]


def engine_argv(spec: EndpointSpec) -> list[str]:
    extra = list(spec.extra_args)
    if spec.source.kind == "s3" and spec.source.s3_stream:
        extra = ["--load-format", "runai_streamer", *extra]
    if spec.source.kind == "huggingface" and spec.source.revision:
        extra = ["--revision", spec.source.revision, *extra]
    if spec.engine_queue is not None:
        extra = [*admission_argv(spec.engine, spec.engine_settings["max_num_seqs"],
                                 spec.engine_queue), *extra]
    return build_engine_argv(
        spec.engine, model_path(spec), spec.served_model_name, spec.port,
        spec.engine_settings, extra, api_key_from_env=spec.api_key_secret is not None,
    )


def container_env(spec: EndpointSpec) -> list[dict[str, Any]]:
    env = engine_env(spec.engine, spec.flashinfer_sampler_off, spec.api_key_secret)
    env.append({"name": "HF_HOME", "value": f"{MODEL_MOUNT}/hf"})
    if spec.source.hf_token_secret:
        ref = {"secretKeyRef": {"name": spec.source.hf_token_secret, "key": "token"}}
        env.append({"name": "HF_TOKEN", "valueFrom": ref})
    if spec.source.kind == "s3" and spec.source.s3_stream:
        env += _s3_env(spec)
    env += [{"name": k, "value": v} for k, v in sorted(spec.extra_env.items())]
    return env


def engine_container(spec: EndpointSpec) -> dict[str, Any]:
    """The engine container: pinned image, argv, GPUs, probes on the profile's port (R6)."""
    gpus = str(spec.gpu_count)
    requests: dict[str, str] = {"cpu": spec.cpu, "memory": spec.memory, "nvidia.com/gpu": gpus}
    limits: dict[str, str] = {"memory": spec.memory, "nvidia.com/gpu": gpus}
    if spec.cache_type == "emptydir":
        # The cache lives on the node's ephemeral storage: ask for it, or the kubelet evicts
        # the pod mid-download (R18).
        requests["ephemeral-storage"] = spec.cache_size
        limits["ephemeral-storage"] = spec.cache_size
    mounts = [{"name": "model-cache", "mountPath": MODEL_MOUNT}]
    if spec.shm_size:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return {
        "name": "engine",
        "image": spec.image,
        "command": list(spec.profile.command),
        "args": engine_argv(spec),
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": container_env(spec),
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        **probes("http", spec.profile.health_path, spec.probes),
    }


def pod_spec(spec: EndpointSpec) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "containers": [engine_container(spec)],
        "volumes": volumes(spec),
        "tolerations": [dict(t) for t in spec.tolerations],
        "terminationGracePeriodSeconds": 60,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
    }
    init = init_containers(spec)
    if init:
        pod["initContainers"] = init
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.runtime_class:
        pod["runtimeClassName"] = spec.runtime_class
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    return pod
