"""smoke/auth_surface.py without an engine: what passes, what fails, what is skipped."""

from __future__ import annotations

from typing import Any

import requests

from smoke.auth_surface import PROBES, check_auth_surface, probes_for
from smoke.check import CheckSettings, Target
from smoke.outputs import EndpointOutput

BASE = "https://qwen.example.com"


class FakeRaw:
    def read1(self, _size: int, decode_content: bool = True) -> bytes:
        return b""


class FakeResponse:
    """What smoke.http reads of a streamed requests.Response: status, headers, raw body."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.raw = FakeRaw()

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


class FakeSession:
    """Answers `status_for(method, path)`; records what was asked and with which headers."""

    def __init__(self, status_for: Any) -> None:
        self.status_for = status_for
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, headers: dict[str, str], **_kw: Any) -> FakeResponse:
        path = url.removeprefix(BASE)
        self.calls.append((method, path, headers))
        return FakeResponse(self.status_for(method, path))


def endpoint(**changes: Any) -> EndpointOutput:
    fields: dict[str, Any] = {"name": "qwen", "engine": "vllm", "model": "Qwen/Qwen3-0.6B",
                              "served_model_name": "Qwen3-0.6B", "base_url": BASE,
                              "exposure": "public", "port": 443, "api_key": "k" * 48}
    fields.update(changes)
    return EndpointOutput(**fields)


def run(session: FakeSession, base_url: str = BASE, **changes: Any):  # type: ignore[no-untyped-def]
    target = Target(endpoint(**changes), base_url, session,  # type: ignore[arg-type]
                    CheckSettings())
    return check_auth_surface(target)


def test_passes_when_every_non_v1_route_is_refused_and_sends_no_key() -> None:
    session = FakeSession(lambda _m, _p: 404)
    status, _reason, details = run(session)
    assert status == "pass"
    assert {f"{m} {p}" for m, p, _h in session.calls} == {
        f"{p.method} {p.path}" for p in PROBES}
    assert all("Authorization" not in h for _m, _p, h in session.calls)
    assert details["statuses"]["POST /invocations"] == 404


def test_fails_naming_every_route_that_answers_without_a_key() -> None:
    open_routes = {"/invocations", "/tokenize"}
    session = FakeSession(lambda _m, p: 200 if p in open_routes else 401)
    status, reason, _details = run(session)
    assert status == "fail"
    assert "POST /invocations 200" in reason and "POST /tokenize 200" in reason


def test_metrics_is_probed_only_for_public_endpoints() -> None:
    assert "/metrics" in [p.path for p in probes_for("public")]
    assert "/metrics" not in [p.path for p in probes_for("internal")]
    session = FakeSession(lambda _m, p: 200 if p == "/metrics" else 404)
    assert run(session, exposure="internal")[0] == "pass"


def test_unreachable_routes_count_as_closed() -> None:
    def refuse(_m: str, _p: str) -> int:
        raise requests.ConnectionError("Connection refused")

    status, _reason, details = run(FakeSession(refuse))
    assert status == "pass"
    assert set(details["statuses"].values()) == {"refused"}


def test_skips_open_endpoints_port_forwards_and_bare_local_engines() -> None:
    session = FakeSession(lambda _m, _p: 200)
    assert run(session, api_key=None)[0] == "skip"
    assert run(session, base_url="http://127.0.0.1:41234")[0] == "skip"
    local = "http://127.0.0.1:8000"
    assert run(session, base_url=local)[0] == "skip"  # port-forward shape is the same
    target = Target(endpoint(base_url=local), local, session,  # type: ignore[arg-type]
                    CheckSettings())
    assert check_auth_surface(target)[0] == "skip"
    assert session.calls == []
