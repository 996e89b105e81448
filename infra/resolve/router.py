"""Endpoint config + its engine spec -> the `RouterSpec` of the router in front of it."""

from __future__ import annotations

from components import router_manifests as rm
from components.spec import EndpointSpec
from infra.config.endpoint import EndpointConfig, RouterConfig
from infra.config.stack import StackConfig


def router_spec(router: RouterConfig, engine: EndpointSpec, prometheus_port: int) -> rm.RouterSpec:
    """The router of one endpoint: same namespace and port, engines found by their selector."""
    return rm.RouterSpec(
        endpoint=engine.name,
        namespace=engine.namespace,
        image=router.image or rm.DEFAULT_IMAGES[router.kind],
        policy=router.policy,
        port=engine.port,
        engine_port=engine.port,
        engine_selector=dict(engine.selector),
        prometheus_port=prometheus_port,
        replicas=router.replicas,
        api_key_secret=engine.api_key_secret,
        engine_health_path=engine.profile.health_path,
        health_check_interval_seconds=router.health_check_interval_seconds,
        kind=router.kind,
        load_monitor_interval_seconds=router.load_monitor_interval_seconds,
        load_metric=router.load_metric,
        queue_veto=router.queue_veto,
        kv_veto=router.kv_veto,
        engine_queue=engine.engine_queue,
        scale_to_zero=engine.scaling is not None and engine.scaling.wake_query is not None,
    )


def prometheus_port(config: StackConfig, endpoint: EndpointConfig) -> int:
    """Explicit port, else 29000 + the router's position among the stack's routers.

    Distinct by construction, so routers that share a host (hostNetwork, local runs) never hit
    "Address already in use" on the default 29000: each router process binds its own.
    """
    assert endpoint.router is not None
    if endpoint.router.prometheus_port is not None:
        return endpoint.router.prometheus_port
    routed = [e for e in config.endpoints if e.router is not None]
    position = next(i for i, e in enumerate(routed) if e is endpoint)
    return rm.DEFAULT_PROMETHEUS_PORT + position
