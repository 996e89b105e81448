"""`InferenceEndpoint`: one vLLM or SGLang engine as Deployment + Service + companions.

The component instantiates what `components/manifests.py` renders; it decides nothing itself
beyond wiring secrets (R15) and dependencies, so every rule is testable in the builders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import manifests
from components.component import type_token
from components.k8s_objects import create_object
from components.secrets import generated_api_key
from components.spec import EndpointSpec
from components.timeouts import await_timeouts

TYPE_TOKEN = type_token(__name__, "InferenceEndpoint")


@dataclass
class InferenceEndpointArgs:
    """Flat args: the rendered spec, the cluster's provider and the secrets the pod needs."""

    spec: EndpointSpec
    provider: k8s.Provider | None = None
    hf_token: pulumi.Input[str] | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def _object_opts(parent: pulumi.Resource, args: InferenceEndpointArgs,
                 extra: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(
        parent=parent,
        provider=args.provider,
        depends_on=[*args.depends_on, *(extra or [])],
        # Names are fixed (outputs and routers refer to them), so a replacement must delete first.
        delete_before_replace=True,
    )


class InferenceEndpoint(pulumi.ComponentResource):
    """An OpenAI-compatible engine endpoint on any Kubernetes cluster."""

    base_url: pulumi.Output[str]
    api_key: pulumi.Output[str] | None
    hostname: pulumi.Output[str] | None
    # Where clients (or a router) reach the engines: the outputs contract reads these.
    service: str
    service_namespace: str
    port: int
    selector: dict[str, str]

    @property
    def engine_target(self) -> EndpointSpec:
        """What the monitoring scrapes: the spec (its selector, `http` port, metrics path)."""
        return self.spec

    def __init__(self, name: str, args: InferenceEndpointArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        spec = args.spec
        self.spec = spec
        self.service, self.service_namespace = spec.name, spec.namespace
        self.port, self.selector = spec.port, dict(spec.selector)
        secrets = self._secrets(name, args)
        obj_opts = _object_opts(self, args, secrets)
        deployment = create_object(name, manifests.deployment(spec), pulumi.ResourceOptions.merge(
            obj_opts, pulumi.ResourceOptions(
                custom_timeouts=await_timeouts(spec.probes.startup_budget_seconds))))
        service = create_object(name, manifests.service(spec), obj_opts)
        create_object(f"{name}-pdb", manifests.pod_disruption_budget(spec), obj_opts)
        scaled = manifests.scaled_object(spec)
        if scaled is not None:
            create_object(f"{name}-scaler", scaled, pulumi.ResourceOptions.merge(
                obj_opts, pulumi.ResourceOptions(depends_on=[deployment])))
        self.hostname = self._exposure(name, args, service)
        if self.hostname is None:
            self.base_url = pulumi.Output.from_input(spec.cluster_url)
        else:
            self.base_url = self.hostname.apply(lambda h: manifests.load_balancer_url(spec, h))
        self.deployment = deployment
        self.register_outputs({"base_url": self.base_url, "api_key": self.api_key,
                               "hostname": self.hostname})

    def _secrets(self, name: str, args: InferenceEndpointArgs) -> list[pulumi.Resource]:
        """Generated API key (secret output) and HF token, each in a Kubernetes Secret (R15)."""
        spec = args.spec
        created: list[pulumi.Resource] = []
        self.api_key = None
        secret_opts = _object_opts(self, args)
        if spec.api_key_secret is not None:
            self.api_key = generated_api_key(name, self)
            created.append(create_object(f"{name}-api-key", manifests.secret(
                spec, spec.api_key_secret, {"api-key": self.api_key}), secret_opts))
        if spec.source.hf_token_secret is not None and args.hf_token is not None:
            token = pulumi.Output.secret(args.hf_token)
            created.append(create_object(f"{name}-hf-token", manifests.secret(
                spec, spec.source.hf_token_secret, {"token": token}), secret_opts))
        return created

    def _exposure(self, name: str, args: InferenceEndpointArgs,
                  service: pulumi.CustomResource) -> pulumi.Output[str] | None:
        """ALB Ingress or NLB Service when asked; returns the load balancer hostname."""
        spec = args.spec
        opts = _object_opts(self, args, [service])
        if spec.exposure.type == "alb":
            ingress = create_object(name, manifests.ingress(spec), opts)
            status = ingress.status  # type: ignore[attr-defined]
        elif spec.exposure.type == "nlb":
            nlb = create_object(f"{name}-nlb", manifests.nlb_service(spec), opts)
            status = nlb.status  # type: ignore[attr-defined]
        else:
            return None
        return status.apply(hostname_of)


def _field(obj: Any, *names: str) -> Any:
    """Read a field from a typed output object or a plain dict (mocks give either)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def hostname_of(status: Any) -> str:
    """First load balancer hostname in an Ingress/Service status ('' until provisioned)."""
    lb = _field(status, "load_balancer", "loadBalancer") if status else None
    entries = (_field(lb, "ingress") if lb else None) or []
    if not entries:
        return ""
    return str(_field(entries[0], "hostname", "ip") or "")
