"""The outputs contract entries (`infra/contract.py`), built once for every platform.

Values may be Pulumi Outputs (URLs, keys, hostnames known only after `up`): the models are
filled with `model_construct`, which skips validation, and dumped back to plain dicts for
`pulumi.export`. The plan test validates every stack's resolved outputs against the same models.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import pulumi

from components import router_manifests as rm
from components.autoscaling import queue_query
from components.engines import EngineProfile
from components.spec import ExposureSpec
from infra.config.endpoint import EndpointConfig
from infra.config.stack import StackConfig
from infra.contract import (
    SCHEMA_VERSION,
    AutoscalingOutput,
    BatchJobOutput,
    EndpointOutput,
    GpuOutput,
    LoadBalancerOutput,
    RouterOutput,
    SloOutput,
)
from infra.validate.placement import Placement


class Serving(Protocol):
    """What a deployed endpoint (or its router) tells clients: the contract's location fields."""

    base_url: pulumi.Output[str]
    service: Any
    port: Any
    selector: Any


class DeployedEndpoint(Serving, Protocol):
    service_namespace: Any
    api_key: pulumi.Output[str] | None
    hostname: pulumi.Output[str] | None

    @property
    def engine_target(self) -> Any:
        """The engines' scrape target (`observability_manifests.EndpointLike`)."""


def _resolved(value: pulumi.Output[str] | None) -> str:
    """A value Pulumi resolves after `up`: the model holds the Output until export."""
    return cast(str, value)


def _dump(model: EndpointOutput) -> dict[str, Any]:
    # Keys added to contract v1 later are absent, not null, where they do not apply.
    exclude = {k for k in ("router", "autoscaling") if getattr(model, k) is None}
    return model.model_dump(warnings=False, exclude=exclude)


def pinning_label(placement: Placement) -> str | None:
    """The node label the engines are pinned on: the selector key whose value is the
    instance type (node.kubernetes.io/instance-type, or the K3s machine-type label)."""
    if placement.instance_type is None:
        return None
    return next((key for key, value in placement.node_selector.items()
                 if value == placement.instance_type), None)


def endpoint_entry(endpoint: EndpointConfig, stack: StackConfig, placement: Placement,
                   profile: EngineProfile, exposure: ExposureSpec, deployed: DeployedEndpoint,
                   region: str | None) -> EndpointOutput:
    """One endpoint's entry in the outputs contract (v1), whatever the platform."""
    load_balancer = None
    if exposure.type != "cluster":
        load_balancer = LoadBalancerOutput.model_construct(
            provider="aws", type=exposure.type, scheme=exposure.scheme, region=region,
            hostname=_resolved(deployed.hostname))
    return EndpointOutput.model_construct(
        engine=endpoint.engine,
        model=endpoint.model,
        served_model_name=endpoint.served_name,
        base_url=_resolved(deployed.base_url),
        exposure=exposure.label,
        namespace=deployed.service_namespace,
        service=deployed.service,
        port=deployed.port,
        api_key=_resolved(deployed.api_key),
        health_path=profile.health_path,
        metrics_path=profile.metrics_path,
        gpu=GpuOutput.model_construct(
            type=placement.gpu.name if placement.gpu else None, count=placement.count,
            instance_type=placement.instance_type, pinning_label=pinning_label(placement)),
        replicas=endpoint.replicas,
        slos=SloOutput.model_construct(**stack.slos_for(endpoint).model_dump()),
        selector=deployed.selector,
        engine_selector=deployed.selector,
        load_balancer=load_balancer,
        router=None,
        autoscaling=_autoscaling(endpoint, profile),
    )


def _autoscaling(endpoint: EndpointConfig, profile: EngineProfile) -> AutoscalingOutput | None:
    auto = endpoint.autoscaling
    if auto is None:
        return None
    metric = auto.query or queue_query(endpoint.engine, profile.queue_metric, endpoint.namespace,
                                       endpoint.served_name)
    return AutoscalingOutput(min=0 if auto.scale_to_zero else auto.min, max=auto.max,
                             target=auto.queue_per_replica, metric=metric)


def routed_entry(entry: EndpointOutput, spec: rm.RouterSpec, router: Serving,
                 engine_service: str, engine_selector: dict[str, str]) -> EndpointOutput:
    """The entry of a managed endpoint: clients go to the router, which fronts the engines."""
    return entry.model_copy(update={
        "base_url": router.base_url,
        "service": router.service,
        "port": router.port,
        "selector": router.selector,
        # The router's /health is 200 even with no engine; /readiness only with a healthy one.
        "health_path": rm.READINESS_PATH,
        "router": RouterOutput.model_construct(
            kind=spec.kind, policy=spec.policy, image=spec.image, replicas=spec.replicas,
            metrics_port=spec.prometheus_port, workers_path=rm.READINESS_PATH,
            worker_health_metric=rm.WORKER_HEALTH_METRICS[spec.kind],
            load_monitor_interval_seconds=(spec.load_monitor_interval_seconds
                                           if spec.kind == "smg" else None),
            queue_veto=spec.queue_veto if spec.kind == "smg" else None,
            engine_queue=spec.engine_queue,
            discovery="kubernetes", engine_service=engine_service,
            engine_selector=engine_selector),
    })


def batch_entry(job: str, namespace: str, input_location: str, output: str,
                status: str) -> BatchJobOutput:
    return BatchJobOutput(job=job, namespace=namespace, input=input_location, output=output,
                          status=status)


def stack_outputs(stack: StackConfig, kubeconfig: Any, endpoints: dict[str, EndpointOutput],
                  batch_jobs: dict[str, BatchJobOutput],
                  platform_outputs: dict[str, Any]) -> dict[str, Any]:
    """The whole stack's outputs: contract keys, then the platform's own."""
    return {
        "schema_version": SCHEMA_VERSION,
        "platform": stack.platform,
        "kubeconfig": kubeconfig,
        "endpoints": {name: _dump(entry) for name, entry in endpoints.items()},
        "batch_jobs": {name: entry.model_dump() for name, entry in batch_jobs.items()},
        **platform_outputs,
    }
