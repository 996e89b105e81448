"""Model facts and the model cache size: pure, shared by the rules and by resolution."""

from __future__ import annotations

import math

from components.model_catalog import ModelFacts, lookup_model, weights_bytes
from infra.config.endpoint import EndpointConfig

DEFAULT_CACHE = "50Gi"


def model_facts(endpoint: EndpointConfig) -> ModelFacts | None:
    """Facts from the stack config when given, else from the built-in catalog."""
    if endpoint.model_facts is not None:
        f = endpoint.model_facts
        return ModelFacts(f.parameters_b, f.num_layers, f.num_kv_heads, f.head_dim, f.dtype_bytes)
    return lookup_model(endpoint.model)


def cache_size(endpoint: EndpointConfig) -> str:
    """Explicit size, else weights x 1.3 + 5 GiB of headroom for the hub cache, else 50Gi."""
    if endpoint.cache.size:
        return endpoint.cache.size
    facts = model_facts(endpoint)
    if facts is None:
        return DEFAULT_CACHE
    return f"{math.ceil(weights_bytes(facts) / 2**30 * 1.3 + 5)}Gi"
