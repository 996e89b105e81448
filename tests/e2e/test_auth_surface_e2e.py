"""smoke/auth_surface.py against the real local vLLM engine (issue 12, point 1).

The bare engine leaves /invocations, /tokenize, /detokenize and /metrics open without a key, so
the check must FAIL here; what makes a deployment pass is the load balancer's path filter, and
every route the check probes is outside it.
"""

from __future__ import annotations

import pytest
import requests

from components.manifests import is_exposed_path
from smoke.auth_surface import PROBES, check_auth_surface, probe_auth_surface
from smoke.check import CheckSettings, Target
from smoke.local import LocalEngine
from smoke.outputs import parse_outputs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_bare_engine_fails_the_auth_surface_check(local_engine: LocalEngine) -> None:
    outputs = parse_outputs(local_engine.outputs_path.read_text(), "local")
    endpoint = next(iter(outputs.endpoints.values()))
    assert endpoint.api_key, "the local engine runs with an API key"
    with requests.Session() as session:
        target = Target(endpoint, endpoint.base_url.rstrip("/"), session, CheckSettings())
        status, reason, details = probe_auth_surface(target)
        # Registered in smoke's checks it skips here: no load balancer fronts a local engine.
        assert check_auth_surface(target)[0] == "skip"
    assert status == "fail", (reason, details)
    statuses = details["statuses"]
    # vLLM 0.32: chat without a key through SageMaker's route, tokenizer routes, metrics.
    assert statuses["POST /invocations"] == 200, statuses
    assert statuses["POST /tokenize"] == 200, statuses
    assert statuses["GET /metrics"] == 200, statuses
    assert "POST /invocations" in reason
    # ... and the path filter the Ingress renders keeps every one of them away from clients.
    assert not [p.path for p in PROBES if is_exposed_path(p.path)]


def test_v1_itself_needs_the_key_on_the_bare_engine(local_engine: LocalEngine) -> None:
    """What the filter lets through is exactly what vLLM guards."""
    response = requests.get(local_engine.base_url + "/v1/models", timeout=30)
    assert response.status_code == 401
