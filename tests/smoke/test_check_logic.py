"""Check decisions that the real engine cannot show (it always has a key): open endpoints and
R24, auth turned off, TLS on public endpoints, skipped rows after a failed health check."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from smoke.check import (
    HTTP_CHECKS,
    CheckSettings,
    Target,
    check_auth,
    check_endpoint,
    check_tls,
)
from smoke.http import Timeouts
from smoke.outputs import parse_outputs
from tests.smoke.conftest import StubRequest, StubServer

FAST = CheckSettings(timeouts=Timeouts(1.0, 2.0), wait_s=2.0)


def _target(url: str, exposure: str, api_key: str | None = None,
            base_url: str | None = None) -> Target:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 1,
          "base_url": base_url or url, "exposure": exposure, "api_key": api_key}
    doc = {"schema_version": 1, "platform": "eks", "endpoints": {"m": ep}}
    endpoint = parse_outputs(json.dumps(doc), "t").endpoints["m"]
    return Target(endpoint, url, requests.Session(), FAST)


def _models_route(key: str | None) -> Any:
    def route(req: StubRequest) -> tuple[int, Any]:
        if key and req.headers.get("Authorization") != f"Bearer {key}":
            return 401, {"error": "Unauthorized"}
        return 200, {"data": [{"id": "m"}]}

    return route


@pytest.mark.parametrize(("exposure", "status", "reason"), [
    ("public", "fail", "open endpoint: public exposure without an API key (R24)"),
    ("internal", "pass", "open endpoint (no API key in outputs; exposure internal)"),
])
def test_open_endpoint(stub_server: StubServer, exposure: str, status: str, reason: str) -> None:
    stub_server.routes["/v1/chat/completions"] = _models_route(None)
    assert check_auth(_target(stub_server.url, exposure))[:2] == (status, reason)


def test_key_in_outputs_but_auth_off_fails(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = _models_route(None)
    status, reason, _ = check_auth(_target(stub_server.url, "public", api_key="k-123456"))
    assert (status, reason) == (
        "fail", "POST /v1/chat/completions answered HTTP 200 without an API key (auth is off)")


def test_keyed_endpoint_but_no_key_in_outputs_fails(stub_server: StubServer) -> None:
    stub_server.routes["/v1/chat/completions"] = _models_route("k-123456")
    status, reason, _ = check_auth(_target(stub_server.url, "internal"))
    assert (status, reason) == ("fail", "endpoint demands an API key but the outputs carry none")


@pytest.mark.parametrize(("exposure", "base_url", "status"), [
    ("public", "https://llm.example.com", "pass"),
    ("public", "http://llm.example.com", "fail"),
    ("public", "http://127.0.0.1:8000", "skip"),
    ("cluster", "http://m.ns.svc:8000", "skip"),
])
def test_tls(exposure: str, base_url: str, status: str) -> None:
    assert check_tls(_target(base_url, exposure, base_url=base_url))[0] == status


@pytest.mark.timeout(20)
def test_unhealthy_endpoint_skips_the_rest(stub_server: StubServer) -> None:
    stub_server.routes["/health"] = lambda _: (404, {})
    ep = {"engine": "sglang", "model": "m", "served_model_name": "m", "port": 1,
          "base_url": stub_server.url, "exposure": "public", "api_key": "k-123456"}
    outputs = parse_outputs(json.dumps({"schema_version": 1, "platform": "eks",
                                        "endpoints": {"m": ep}}), "t")
    results = check_endpoint(outputs, outputs.endpoints["m"], FAST)
    assert results[0].name == "health"
    assert results[0].status == "fail"
    assert "HTTP 404" in results[0].reason
    assert {r.status for r in results[1:]} == {"skip"}
    assert len(results) == len(HTTP_CHECKS)
