"""`HyperPodEndpoint`: one endpoint as an `InferenceEndpointConfig` the HyperPod operator runs.

Instantiates what `components/hyperpod_manifest.py` renders and wires the secrets: a generated
API key (Pulumi secret) in a Kubernetes Secret for reference and as a plain env value the
operator propagates to its router (R15), the HF token Secret, and, for ALB exposure, an Ingress
the program owns in front of the operator's router (R12).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import hyperpod_manifest as hp
from components.component import type_token, with_aliases
from components.endpoint import hostname_of
from components.k8s_objects import create_object
from components.manifests import secret_manifest
from components.observability_manifests import EngineTarget
from components.platforms import hyperpod_routing as routing
from components.secrets import generated_api_key
from components.spec import ExposureSpec

TYPE_TOKEN = type_token(__name__, "HyperPodEndpoint")
LEGACY_TYPE_TOKENS = ("inference-stacks:hyperpod:HyperPodEndpoint",)


@dataclass
class HyperPodEndpointArgs:
    """Flat args: the rendered spec, exposure, where the operator's router lives, secrets."""

    spec: hp.HyperPodEndpointSpec
    exposure: ExposureSpec
    operator_namespace: str
    router_service: str
    router_port: int
    provider: k8s.Provider | None = None
    hf_token: pulumi.Input[str] | None = None
    tls_certificate_uri: pulumi.Input[str] | None = None
    # autoScalingSpec's serverAddress when the platform created the workspace (else the spec's).
    autoscaling_server_address: pulumi.Input[str] | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class HyperPodEndpoint(pulumi.ComponentResource):
    """An OpenAI-compatible endpoint managed by the HyperPod inference operator."""

    base_url: pulumi.Output[str]
    api_key: pulumi.Output[str] | None
    hostname: pulumi.Output[str] | None
    service: str
    service_namespace: str
    port: int
    selector: dict[str, str]
    engine_target: EngineTarget  # what the monitoring scrapes: the operator's worker pods

    def __init__(self, name: str, args: HyperPodEndpointArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, with_aliases(opts, *LEGACY_TYPE_TOKENS))
        spec = args.spec
        secrets = self._secrets(name, args)
        config = hp.inference_endpoint_config(spec, self.api_key, args.tls_certificate_uri,
                                              args.autoscaling_server_address)
        self.engine_target = routing.engine_target(
            spec, config, api_key_secret_name(spec) if spec.api_key else None)
        resource = k8s.apiextensions.CustomResource(
            name,
            api_version=hp.API_VERSION,
            kind=hp.KIND,
            metadata=config["metadata"],
            spec=config["spec"],
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider,
                depends_on=[*args.depends_on, *secrets],
                # The operator rejects adding/changing routing and env vars on an existing
                # endpoint: a change replaces it (delete first: the name is fixed).
                replace_on_changes=list(hp.IMMUTABLE_PATHS),
                delete_before_replace=True,
            ),
        )
        self._route(name, args, resource)
        self.register_outputs({"base_url": self.base_url, "api_key": self.api_key,
                               "hostname": self.hostname})

    def _opts(self, args: HyperPodEndpointArgs,
              extra: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=args.provider,
                                      depends_on=[*args.depends_on, *(extra or [])],
                                      delete_before_replace=True)

    def _secrets(self, name: str, args: HyperPodEndpointArgs) -> list[pulumi.Resource]:
        """Generated API key and HF token, each in a Kubernetes Secret (R15)."""
        spec = args.spec
        created: list[pulumi.Resource] = []
        self.api_key = None
        labels = {"app.kubernetes.io/instance": spec.name,
                  "app.kubernetes.io/part-of": "inference-stacks"}
        if spec.api_key:
            self.api_key = generated_api_key(name, self)
            created.append(create_object(f"{name}-api-key", secret_manifest(
                api_key_secret_name(spec), spec.namespace, labels, {"api-key": self.api_key}),
                self._opts(args)))
        token_secret = spec.source.hf_token_secret
        if token_secret is not None and args.hf_token is not None:
            created.append(create_object(f"{name}-hf-token", secret_manifest(
                token_secret, spec.namespace, labels,
                {"token": pulumi.Output.secret(args.hf_token)}), self._opts(args)))
        return created

    def _route(self, name: str, args: HyperPodEndpointArgs,
               resource: pulumi.Resource) -> None:
        """Where clients go: the program's ALB, the operator's router, or the worker Service."""
        spec, exposure = args.spec, args.exposure
        self.hostname = None
        if spec.routing_strategy is not None:
            self.service, self.service_namespace = args.router_service, args.operator_namespace
            self.port = args.router_port
            self.selector = {"app": args.router_service}
        else:
            service = routing.worker_service(spec)
            create_object(f"{name}-service", service, self._opts(args, [resource]))
            self.service, self.service_namespace = service["metadata"]["name"], spec.namespace
            self.port = spec.port
            self.selector = routing.worker_selector(spec)
        cluster_url = (f"http://{self.service}.{self.service_namespace}.svc.cluster.local:"
                       f"{self.port}")
        if exposure.type != "alb":
            self.base_url = pulumi.Output.from_input(cluster_url)
            return
        ingress_obj = routing.router_ingress(
            f"{spec.name}-router", args.operator_namespace, args.router_service,
            args.router_port, exposure, spec.profile.health_path)
        ingress = create_object(f"{name}-ingress", ingress_obj, self._opts(args, [resource]))
        self.hostname = ingress.status.apply(hostname_of)  # type: ignore[attr-defined]
        self.base_url = self.hostname.apply(lambda h: _url(exposure, h))


def api_key_secret_name(spec: hp.HyperPodEndpointSpec) -> str:
    """The Secret (key `api-key`) holding the generated key, which the PodMonitor also sends."""
    return f"{spec.name}-api-key"


def _url(exposure: ExposureSpec, hostname: str) -> str:
    host = exposure.hostname or hostname
    return f"https://{host}" if exposure.tls else f"http://{host}"
