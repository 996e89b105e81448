"""Pure builder for the HyperPod inference operator's `InferenceEndpointConfig` (`v1`).

Renders the custom resource from a flat spec (no Pulumi, no config model) so every field
rule is testable here and the result validates strictly against the CRD's `v1` schema
(`tests/schemas/inferenceendpointconfigs.crd.yaml`, operator chart 2.2.2). Field shapes follow
the CRD and the operator's own samples (aws/sagemaker-hyperpod-cli,
`helm_chart/HyperPodHelmChart/charts/inference-operator/config/samples/v1_*.yaml`).

Rules enforced here, at render time, as a second line behind the config checks:
R2 probe timeouts >= 5 s, R5 `--served-model-name`, R6 one port for invocation, probes and
metrics, R7 SGLang `--enable-metrics`, R10 KV cache only for vLLM, R11 no prefetch and no
`--enable-prefix-caching` with `kvCacheSpec`, R13/R14 lower-case names within budget, R15 the
API key as a plain env `value` (the operator copies only plain values to its router).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from components import names
from components.engines import API_KEY_ENV, EngineProfile, build_engine_argv
from components.pod import probes
from components.spec import ProbeSpec

GROUP = "inference.sagemaker.aws.amazon.com"
API_VERSION = f"{GROUP}/v1"
KIND = "InferenceEndpointConfig"
# Where the operator mounts S3/FSx weights in the worker (CRD default of modelVolumeMount).
MODEL_MOUNT = "/opt/ml/model"
MODEL_VOLUME = "model-weights"
# OpenAI servers: the operator prepends http://<host>:<port>/ (CRD `invocationEndpoint`).
INVOCATION_PATH = "v1/chat/completions"
PREFIX_CACHING_FLAG = "--enable-prefix-caching"
MIN_PROBE_TIMEOUT_SECONDS = 5  # R2
# Properties the operator refuses to change in place; a change must replace the resource.
# Pulumi `replace_on_changes` takes dotted property paths into a CustomResource's inputs
# (its docs' example: ["spec.input"]).
IMMUTABLE_PATHS = ("spec.intelligentRoutingSpec", "spec.worker.environmentVariables")


class HyperPodRenderError(ValueError):
    """The spec breaks a rule the operator (or the field) would fail on later."""


@dataclass(frozen=True)
class HyperPodSource:
    """`modelSourceConfig`: where the operator gets the weights."""

    kind: Literal["huggingface", "s3", "fsx"]
    hf_model_id: str | None = None
    hf_token_secret: str | None = None  # Secret name; key "token"
    hf_commit: str | None = None
    s3_bucket: str | None = None
    s3_region: str | None = None
    location: str | None = None  # S3 prefix or FSx directory (`modelLocation`)
    fsx_file_system_id: str | None = None
    fsx_mount_name: str | None = None
    prefetch: bool = False


@dataclass(frozen=True)
class HyperPodKvCache:
    """`kvCacheSpec` tiers (vLLM only)."""

    l1: bool = True
    l2_backend: Literal["redis", "tieredstorage"] | None = None
    l2_url: str | None = None


@dataclass(frozen=True)
class HyperPodAutoscaling:
    """`autoScalingSpec` with one Prometheus (AMP) trigger."""

    min_replicas: int
    max_replicas: int
    server_address: str
    query: str
    target_value: float
    polling_interval_seconds: int = 30
    cooldown_seconds: int = 300


@dataclass(frozen=True)
class HyperPodEndpointSpec:
    """Everything one InferenceEndpointConfig needs, resolved from the engine-neutral config."""

    name: str
    namespace: str
    profile: EngineProfile
    image: str
    model: str
    served_model_name: str
    engine_settings: dict[str, Any]
    source: HyperPodSource
    instance_type: str
    replicas: int = 1
    gpu_count: int = 1
    cpu: str = "2"
    memory: str = "12Gi"
    probes: ProbeSpec = field(default_factory=ProbeSpec)
    routing_strategy: str | None = None
    kv_cache: HyperPodKvCache | None = None
    autoscaling: HyperPodAutoscaling | None = None
    api_key: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()

    @property
    def engine(self) -> str:
        return self.profile.engine

    @property
    def port(self) -> int:
        return self.profile.port


def hyperpod_name(value: str, what: str = "name") -> str:
    """Lower-cased RFC 1123 name (R14) that fits the operator's affixes (R13), or raise.

    The operator names an init container `prefetch-{name}-inf`, so 50 characters is the budget
    (63 - len("prefetch-") - len("-inf")). Mixed case is lower-cased, not rejected, because
    `SageMakerEndpointRegistration` rejects upper case wherever it came from.
    """
    cleaned = names.sanitize(value)
    budget = names.hyperpod_name_budget()
    if not cleaned:
        raise HyperPodRenderError(f"{what} {value!r} has no characters allowed in a name")
    if len(cleaned) > budget:
        raise HyperPodRenderError(
            f"{what} {value!r} is {len(cleaned)} characters after lower-casing; the HyperPod "
            f"budget is {budget} (63 minus 'prefetch-' and '-inf' the operator adds) (R13)"
        )
    return cleaned


def model_path(spec: HyperPodEndpointSpec) -> str:
    """Mounted weights for S3/FSx; the hub id for Hugging Face (the engine downloads it)."""
    if spec.source.kind == "huggingface":
        return spec.model
    return MODEL_MOUNT


def worker_args(spec: HyperPodEndpointSpec) -> list[str]:
    """Engine args after the command: served name (R5), port (R6), metrics (R7), mapped flags."""
    argv = build_engine_argv(
        spec.profile.engine, model_path(spec), spec.served_model_name, spec.port,
        spec.engine_settings, list(spec.extra_args), api_key_from_env=spec.api_key,
    )
    if spec.kv_cache is not None and PREFIX_CACHING_FLAG in argv:
        raise HyperPodRenderError(
            f"{PREFIX_CACHING_FLAG} with kvCacheSpec makes the operator reference a missing "
            "lmcache-config volume; the operator manages prefix caching (R11)"
        )
    return argv


def worker_env(spec: HyperPodEndpointSpec, api_key: Any) -> list[dict[str, Any]]:
    """Plain `value` env vars only: the operator copies nothing else to its router (R15).

    `api_key` is the generated key (a Pulumi secret Output in the program); the resource that
    carries it is secret in state and the stack output stays secret.
    """
    env: list[dict[str, Any]] = []
    if spec.api_key:
        env.append({"name": API_KEY_ENV, "value": api_key})
        if spec.engine == "vllm":
            env.append({"name": "VLLM_API_KEY", "value": api_key})
    env += [{"name": k, "value": v} for k, v in sorted(spec.extra_env.items())]
    return env


def worker_probes(spec: HyperPodEndpointSpec) -> dict[str, dict[str, Any]]:
    """Startup, readiness and liveness on the engine port with timeouts >= 5 s (R1, R2)."""
    rendered = probes("http", spec.profile.health_path, spec.probes)
    for probe in rendered.values():
        # By number: the operator names the container port itself.
        probe["httpGet"] = {**probe["httpGet"], "port": spec.port}
        if probe["timeoutSeconds"] < MIN_PROBE_TIMEOUT_SECONDS:
            raise HyperPodRenderError("probe timeouts must be >= 5 s (R2)")
    return rendered


def worker(spec: HyperPodEndpointSpec, api_key: Any) -> dict[str, Any]:
    gpus = str(spec.gpu_count)
    return {
        "image": spec.image,
        "command": list(spec.profile.command),
        "args": worker_args(spec),
        "resources": {
            "requests": {"cpu": spec.cpu, "memory": spec.memory, "nvidia.com/gpu": gpus},
            "limits": {"memory": spec.memory, "nvidia.com/gpu": gpus},
        },
        "modelInvocationPort": {"containerPort": spec.port, "name": "http"},
        "modelVolumeMount": {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT},
        "environmentVariables": worker_env(spec, api_key),
        "probes": worker_probes(spec),
    }


def model_source(spec: HyperPodEndpointSpec) -> dict[str, Any]:
    """`modelSourceConfig`; prefetch is always off with KV cache tiers (R11)."""
    source = spec.source
    prefetch = source.prefetch and spec.kv_cache is None
    out: dict[str, Any] = {"modelSourceType": source.kind, "prefetchEnabled": prefetch}
    if source.kind == "s3":
        out["s3Storage"] = {"bucketName": source.s3_bucket, "region": source.s3_region}
    elif source.kind == "fsx":
        fsx: dict[str, Any] = {"fileSystemId": source.fsx_file_system_id}
        if source.fsx_mount_name:
            fsx["mountName"] = source.fsx_mount_name
        out["fsxStorage"] = fsx
    else:
        hf: dict[str, Any] = {"modelId": source.hf_model_id}
        if source.hf_token_secret:
            hf["tokenSecretRef"] = {"name": source.hf_token_secret, "key": "token"}
        if source.hf_commit:
            hf["commitSHA"] = source.hf_commit
        out["huggingFaceModel"] = hf
    if source.location and source.kind != "huggingface":
        out["modelLocation"] = source.location
    return out


def kv_cache_spec(spec: HyperPodEndpointSpec) -> dict[str, Any] | None:
    kv = spec.kv_cache
    if kv is None:
        return None
    if spec.engine != "vllm":
        raise HyperPodRenderError(
            f"KVCacheSpec can only be configured for vLLM model server, not {spec.engine} (R10)")
    out: dict[str, Any] = {"enableL1Cache": kv.l1, "enableL2Cache": kv.l2_backend is not None}
    if kv.l2_backend is not None:
        l2: dict[str, Any] = {"l2CacheBackend": kv.l2_backend}
        if kv.l2_url:
            l2["l2CacheLocalUrl"] = kv.l2_url
        out["l2CacheSpec"] = l2
    return out


def autoscaling_spec(spec: HyperPodEndpointSpec,
                     server_address: Any = None) -> dict[str, Any] | None:
    """`server_address` overrides the spec's (the platform's workspace URL, a Pulumi Output in
    the program)."""
    auto = spec.autoscaling
    if auto is None:
        return None
    return {
        "minReplicaCount": auto.min_replicas,
        "maxReplicaCount": auto.max_replicas,
        "pollingInterval": auto.polling_interval_seconds,
        "cooldownPeriod": auto.cooldown_seconds,
        "prometheusTrigger": {
            "name": hyperpod_name(f"{spec.name}-queue", "trigger name"),
            "serverAddress": auto.server_address if server_address is None else server_address,
            "query": auto.query,
            "targetValue": auto.target_value,
            "metricType": "Value",
        },
    }


def inference_endpoint_config(
    spec: HyperPodEndpointSpec, api_key: Any = None, tls_certificate_uri: Any = None,
    autoscaling_server_address: Any = None,
) -> dict[str, Any]:
    """The full custom resource (camelCase, as the API server takes it)."""
    name = hyperpod_name(spec.name)
    body: dict[str, Any] = {
        "modelName": name,
        "endpointName": name,
        "instanceType": spec.instance_type,
        "replicas": spec.replicas,
        "invocationEndpoint": INVOCATION_PATH,
        "modelSourceConfig": model_source(spec),
        "worker": worker(spec, api_key),
        "loadBalancer": {"healthCheckPath": spec.profile.health_path},
        # The engine serves /metrics on its own port (R6, R7).
        "metrics": {"enabled": True,
                    "modelMetrics": {"port": spec.port, "path": spec.profile.metrics_path}},
    }
    if spec.routing_strategy is not None:
        body["intelligentRoutingSpec"] = {"enabled": True,
                                          "routingStrategy": spec.routing_strategy}
    optional = {"kvCacheSpec": kv_cache_spec(spec),
                "autoScalingSpec": autoscaling_spec(spec, autoscaling_server_address)}
    body.update({k: v for k, v in optional.items() if v is not None})
    if tls_certificate_uri is not None:
        body["tlsConfig"] = {"tlsCertificateOutputS3Uri": tls_certificate_uri}
    labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/name": spec.engine,
              "app.kubernetes.io/part-of": "inference-stacks",
              "app.kubernetes.io/managed-by": "pulumi"}
    annotations = {"inference-stacks/model": spec.model,
                   "inference-stacks/served-model-name": spec.served_model_name}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels,
                     "annotations": annotations},
        "spec": body,
    }

