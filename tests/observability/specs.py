"""Sample endpoints and routers the observability tests render: one endpoint per engine, a
vllm-router in front of the vLLM one and an smg in front of the SGLang one."""

from __future__ import annotations

from components import observability_manifests as om
from components import router_manifests as rm
from components.engines import ENGINE_PROFILES
from components.spec import EndpointSpec, ModelSourceSpec

NAMESPACE = "inference"


def endpoint(name: str, engine: str, **changes: object) -> EndpointSpec:
    profile = ENGINE_PROFILES[(engine, "upstream")]  # type: ignore[index]
    fields: dict[str, object] = dict(
        name=name, namespace=NAMESPACE, engine=engine, profile=profile, image=profile.image,
        model="Qwen/Qwen3-0.6B", served_model_name="qwen3", engine_settings={},
        source=ModelSourceSpec("huggingface"), replicas=2, api_key_secret=f"{name}-api-key")
    fields.update(changes)
    return EndpointSpec(**fields)  # type: ignore[arg-type]


VLLM = endpoint("vl", "vllm")
SGLANG = endpoint("sg", "sglang", api_key_secret=None)
ENDPOINTS = [VLLM, SGLANG]
ROUTER = rm.RouterSpec(
    endpoint="vl", namespace=NAMESPACE, image=rm.DEFAULT_IMAGE, policy="power_of_two",
    port=8000, engine_port=8000, engine_selector=VLLM.selector)
SMG_ROUTER = rm.RouterSpec(
    endpoint="sg", namespace=NAMESPACE, image=rm.SMG_IMAGE, policy="power_of_two",
    port=30000, engine_port=30000, engine_selector=SGLANG.selector, kind="smg")
ROUTERS = [ROUTER, SMG_ROUTER]
TTFT_SLOS_MS: dict[str, float | None] = {"vl": 500.0, "sg": None}
SETTINGS = om.ObservabilitySettings(namespace="monitoring", scrape_interval_seconds=30)


def all_objects(settings: om.ObservabilitySettings = SETTINGS) -> list[dict]:
    return om.observability_objects(ENDPOINTS, ROUTERS, settings, TTFT_SLOS_MS)
