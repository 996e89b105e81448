"""Pure builders for a batch inference Job: Indexed Job, feeder ConfigMap, output PVC (issue 17).

The pod reuses the endpoint's engine container (`components/pod.py`: pinning, tolerations,
runtime class, cache, verified S3 download), so a batch job runs exactly the engine an endpoint
would. Its shape:

* init `validate-input`: the feeder with `--validate-only`, first of all, so a bad input file
  fails the index before weights are downloaded or the engine loads;
* init `download-model` (S3 sources only), as for endpoints;
* init `engine` with `restartPolicy: Always`: a native sidecar (Kubernetes 1.29+). The Job's
  completion follows the main containers only, so the pod succeeds when the feeder exits 0 and
  the kubelet then stops the engine; a plain second container would keep the pod running
  forever. Its startup and liveness probes are dropped: a sidecar's startup probe holds back the
  feeder (and its status heartbeat) for the whole model load, and the feeder bounds that wait
  itself with `--health-timeout`;
* main `feeder`: sends the shard's requests to 127.0.0.1 and writes results to the output PVC.

Failure policy: a disruption (eviction, preemption, node drain) is ignored, i.e. does not use up
the index's retries; exit code 3 (bad input or configuration, see `batch_feeder`) fails the index
at once; anything else is retried up to `backoffLimitPerIndex`, resuming from the output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from components import pod
from components.batch_feeder import DEFAULT_METRICS_PORT, EXIT_INVALID, STATUS_FILE
from components.pod import container_security_context
from components.spec import PART_OF, EndpointSpec

FEEDER_PACKAGE = "batch_feeder"
FEEDER_ROOT = "/opt/batch"
WORK_MOUNT = "/batch/work"
OUTPUT_MOUNT = "/batch/output"
INPUT_MOUNT = "/batch/input"
PVC_SCHEME = "pvc://"
FEEDER_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}


@dataclass(frozen=True)
class BatchJobSpec:
    """One batch job: the engine (as an endpoint would run it) plus input, output and Job knobs.

    `input` is `pvc://CLAIM/PATH`, `s3://BUCKET/KEY` or an `http(s)://` URL. Results go to
    `pvc://output_claim/output_path/shard-NNNNN/` and, when `output_s3` is set, are copied there
    at the end. `output_claim_size` set means this job creates the claim (ReadWriteMany when
    shards run in parallel, as they may land on different nodes).
    """

    name: str
    endpoint: EndpointSpec
    input: str
    output_claim: str
    output_path: str = ""
    output_s3: str | None = None
    output_claim_size: str | None = None
    output_storage_class: str | None = None
    completions: int = 1
    parallelism: int = 1
    concurrency: int = 8
    backoff_limit_per_index: int = 2
    max_failed_indexes: int | None = None
    deadline_seconds: int | None = None
    ttl_seconds: int | None = None
    # For s3:// input or output: a service account bound to an IAM role (IRSA / Pod Identity
    # inject their own token volume, so the API token stays unmounted).
    service_account: str | None = None

    @property
    def namespace(self) -> str:
        return self.endpoint.namespace

    @property
    def config_map_name(self) -> str:
        return f"{self.name}-feeder"

    @property
    def output_location(self) -> str:
        return f"{PVC_SCHEME}{self.output_claim}/{self.output_path.strip('/')}".rstrip("/")

    @property
    def status_location(self) -> str:
        return f"{self.output_location}/shard-*/{STATUS_FILE}"

    @property
    def labels(self) -> dict[str, str]:
        return {**self.endpoint.labels, "app.kubernetes.io/instance": self.name,
                "app.kubernetes.io/component": "batch", "app.kubernetes.io/part-of": PART_OF}


def split_pvc(location: str) -> tuple[str, str]:
    """(claim, path inside it) of a `pvc://CLAIM/PATH` location."""
    claim, _, path = location.removeprefix(PVC_SCHEME).partition("/")
    if not location.startswith(PVC_SCHEME) or not claim or not path.strip("/"):
        raise ValueError(f"{location!r} is not pvc://CLAIM/PATH")
    return claim, path.strip("/")


def check_spec(spec: BatchJobSpec) -> None:
    """Reject combinations the API server or the feeder would reject later."""
    if spec.completions < 1 or not 1 <= spec.parallelism <= spec.completions:
        raise ValueError(f"{spec.name}: need 1 <= parallelism ({spec.parallelism}) <= "
                         f"completions ({spec.completions})")
    if spec.concurrency < 1 or spec.backoff_limit_per_index < 0:
        raise ValueError(f"{spec.name}: concurrency must be >= 1, backoff limit >= 0")
    if spec.max_failed_indexes is not None and not 0 <= spec.max_failed_indexes <= spec.completions:
        raise ValueError(f"{spec.name}: max_failed_indexes must be in 0..completions")
    if spec.input.startswith(PVC_SCHEME):
        split_pvc(spec.input)
    elif not spec.input.startswith(("s3://", "http://", "https://")):
        raise ValueError(f"{spec.name}: input {spec.input!r} must be pvc://, s3:// or http(s)://")
    if spec.output_s3 is not None and not spec.output_s3.startswith("s3://"):
        raise ValueError(f"{spec.name}: output_s3 {spec.output_s3!r} must be an s3:// URI")


def feeder_sources() -> dict[str, str]:
    """The feeder package's files, as ConfigMap data (keys are file names)."""
    package = resources.files("components.batch_feeder")
    return {entry.name: entry.read_text(encoding="utf-8")
            for entry in sorted(package.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".py")}


def config_map(spec: BatchJobSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": spec.config_map_name, "namespace": spec.namespace,
                         "labels": spec.labels},
            "data": feeder_sources()}


def output_claim(spec: BatchJobSpec) -> dict[str, Any] | None:
    if spec.output_claim_size is None:
        return None
    mode = "ReadWriteMany" if spec.parallelism > 1 else "ReadWriteOnce"
    body: dict[str, Any] = {"accessModes": [mode],
                            "resources": {"requests": {"storage": spec.output_claim_size}}}
    if spec.output_storage_class:
        body["storageClassName"] = spec.output_storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": spec.output_claim, "namespace": spec.namespace,
                         "labels": spec.labels},
            "spec": body}


def _feeder_args(spec: BatchJobSpec, metrics_port: int) -> list[str]:
    if spec.input.startswith(PVC_SCHEME):
        claim, path = split_pvc(spec.input)
        root = OUTPUT_MOUNT if claim == spec.output_claim else INPUT_MOUNT
        source = f"{root}/{path}"
    else:
        source = spec.input
    engine = spec.endpoint
    args = ["--input", source,
            "--output-dir", f"{OUTPUT_MOUNT}/{spec.output_path.strip('/')}".rstrip("/"),
            "--work-dir", WORK_MOUNT,
            "--engine-url", f"http://127.0.0.1:{engine.port}",
            "--health-path", engine.profile.health_path,
            "--served-model", engine.served_model_name,
            "--shard-count", str(spec.completions),
            "--concurrency", str(spec.concurrency),
            "--health-timeout", str(engine.probes.startup_budget_seconds),
            "--metrics-port", str(metrics_port)]
    return args + (["--upload-s3", spec.output_s3] if spec.output_s3 else [])


def _feeder_mounts(spec: BatchJobSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "feeder", "mountPath": f"{FEEDER_ROOT}/{FEEDER_PACKAGE}", "readOnly": True},
        {"name": "work", "mountPath": WORK_MOUNT},
        {"name": "output", "mountPath": OUTPUT_MOUNT},
    ]
    if spec.input.startswith(PVC_SCHEME) and split_pvc(spec.input)[0] != spec.output_claim:
        mounts.append({"name": "input", "mountPath": INPUT_MOUNT, "readOnly": True})
    return mounts


def feeder_container(spec: BatchJobSpec, validate_only: bool = False) -> dict[str, Any]:
    """The feeder, from the engine's own image (it has Python and aiohttp)."""
    env: list[dict[str, Any]] = [{"name": "PYTHONPATH", "value": FEEDER_ROOT},
                                 {"name": "PYTHONUNBUFFERED", "value": "1"}]
    if spec.endpoint.api_key_secret:
        ref = {"secretKeyRef": {"name": spec.endpoint.api_key_secret, "key": "api-key"}}
        env.append({"name": "INFERENCE_API_KEY", "valueFrom": ref})
    container: dict[str, Any] = {
        "name": "validate-input" if validate_only else "feeder",
        "image": spec.endpoint.image,
        "command": ["python3", "-m", FEEDER_PACKAGE],
        # The validation step serves no metrics: the feeder's port is for the main container.
        "args": _feeder_args(spec, 0 if validate_only else DEFAULT_METRICS_PORT)
        + (["--validate-only"] if validate_only else []),
        "env": env,
        "resources": FEEDER_RESOURCES,
        "volumeMounts": _feeder_mounts(spec),
        "securityContext": container_security_context(),
    }
    if not validate_only:
        container["ports"] = [{"name": "metrics", "containerPort": DEFAULT_METRICS_PORT,
                               "protocol": "TCP"}]
    return container


def engine_sidecar(spec: BatchJobSpec) -> dict[str, Any]:
    """The endpoint's engine container as a native sidecar (see the module doc)."""
    engine = pod.engine_container(spec.endpoint)
    engine.pop("startupProbe")
    engine.pop("livenessProbe")
    return {**engine, "restartPolicy": "Always"}


def _volumes(spec: BatchJobSpec) -> list[dict[str, Any]]:
    volumes = [*pod.volumes(spec.endpoint),
               {"name": "feeder", "configMap": {"name": spec.config_map_name}},
               {"name": "work", "emptyDir": {"sizeLimit": "20Gi"}},
               {"name": "output", "persistentVolumeClaim": {"claimName": spec.output_claim}}]
    if spec.input.startswith(PVC_SCHEME) and split_pvc(spec.input)[0] != spec.output_claim:
        volumes.append({"name": "input", "persistentVolumeClaim": {
            "claimName": split_pvc(spec.input)[0], "readOnly": True}})
    return volumes


def pod_template_spec(spec: BatchJobSpec) -> dict[str, Any]:
    base = pod.pod_spec(spec.endpoint)
    base.pop("containers")
    downloads = base.pop("initContainers", [])
    return {
        **base,
        "initContainers": [feeder_container(spec, validate_only=True), *downloads,
                           engine_sidecar(spec)],
        "containers": [feeder_container(spec)],
        "volumes": _volumes(spec),
        "restartPolicy": "Never",  # the Job retries per index; podFailurePolicy requires it
        **({"serviceAccountName": spec.service_account} if spec.service_account else {}),
    }


def pod_failure_policy() -> dict[str, Any]:
    def fail_index_on_invalid(container: str) -> dict[str, Any]:
        return {"action": "FailIndex", "onExitCodes": {
            "containerName": container, "operator": "In", "values": [EXIT_INVALID]}}

    return {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        fail_index_on_invalid("validate-input"),
        fail_index_on_invalid("feeder"),
    ]}


def job(spec: BatchJobSpec) -> dict[str, Any]:
    """The Indexed Job: one shard per completion index (`JOB_COMPLETION_INDEX`)."""
    check_spec(spec)
    # Job templates are immutable: a new feeder or engine makes Pulumi replace the Job; the
    # hash makes a feeder-only change visible in the diff.
    digest = hashlib.sha256("".join(feeder_sources().values()).encode()).hexdigest()[:16]
    body: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": spec.completions,
        "parallelism": spec.parallelism,
        "backoffLimitPerIndex": spec.backoff_limit_per_index,
        "podFailurePolicy": pod_failure_policy(),
        "template": {
            "metadata": {"labels": spec.labels,
                         "annotations": {"inference-stacks/feeder-sha256": digest,
                                         "inference-stacks/model": spec.endpoint.model}},
            "spec": pod_template_spec(spec),
        },
    }
    if spec.max_failed_indexes is not None:
        body["maxFailedIndexes"] = spec.max_failed_indexes
    if spec.deadline_seconds is not None:
        body["activeDeadlineSeconds"] = spec.deadline_seconds
    if spec.ttl_seconds is not None:
        body["ttlSecondsAfterFinished"] = spec.ttl_seconds
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels},
            "spec": body}


def objects(spec: BatchJobSpec) -> list[dict[str, Any]]:
    """Everything one batch job needs, in apply order."""
    claim = output_claim(spec)
    return [config_map(spec), *([claim] if claim else []), job(spec)]
