"""How `smoke check` strings its checks together: URLs, skips, unreachable endpoints, AWS rows,
and a check that raises something unforeseen (it fails alone; the others still run)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import smoke.check as check
from smoke.check import CheckSettings, Target, check_endpoint, check_tls, run_http_checks
from smoke.http import Timeouts
from smoke.outputs import StackOutputs, parse_outputs
from smoke.reach import ReachError
from smoke.report import CheckResult
from tests.smoke.conftest import StubServer

FAST = CheckSettings(timeouts=Timeouts(1.0, 1.0, 2.0), wait_s=1.0, aws=False)
NAMES = ["health", "auth", "models", "chat", "stream", "metrics", "router_workers", "tls",
         "auth_surface", "metrics_live"]


def outputs(base_url: str, **endpoint: Any) -> StackOutputs:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 1,
          "base_url": base_url, "exposure": "public", "api_key": "k-flow-012345", **endpoint}
    return parse_outputs(json.dumps({"schema_version": 1, "platform": "local",
                                     "endpoints": {"m": ep}}), "t")


def target(base_url: str) -> Target:
    out = outputs(base_url)
    return Target(out.endpoints["m"], base_url, requests.Session(), FAST)


def test_paths_join_the_base_url_with_one_slash() -> None:
    t = target("http://h:1")
    assert t.url("/v1/models") == "http://h:1/v1/models"
    assert t.url("health") == "http://h:1/health"


@pytest.mark.parametrize(("base_url", "status"), [
    ("http://localhost:8000", "skip"),
    ("http://[::1]:8000", "skip"),
    ("http://127.0.0.1:8000", "skip"),
    ("http://10.0.0.8:8000", "fail"),
    ("https://10.0.0.8", "pass"),
])
def test_tls_of_public_endpoints(base_url: str, status: str) -> None:
    assert check_tls(target(base_url))[0] == status


def test_a_check_that_raises_fails_alone(stub_server: StubServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(_: Target) -> Any:
        raise ValueError("k-flow-012345 surprised us")

    def fine(_: Target) -> Any:
        return "pass", "fine", {}

    stub_server.routes["/health"] = lambda _: (200, {})
    checks = [(name, fine) for name in NAMES]
    checks[0] = ("health", check.check_health)
    checks[2] = ("models", explode)
    monkeypatch.setattr(check, "HTTP_CHECKS", checks)
    t = target(stub_server.url)
    t.redactor = check.Redactor.of(["k-flow-012345"])
    results = run_http_checks(t)
    assert [r.name for r in results] == NAMES
    assert [r.status for r in results] == ["pass", "pass", "fail", *["pass"] * (len(NAMES) - 3)]
    assert results[2].reason == "unexpected ValueError: *** surprised us"
    assert results[2].details == {"error_kind": "unexpected"}
    assert all(r.endpoint == "m" and r.duration_s >= 0 for r in results)


def test_unhealthy_endpoint_skips_every_other_check(stub_server: StubServer) -> None:
    stub_server.routes["/health"] = lambda _: (500, {})
    results = run_http_checks(target(stub_server.url))
    assert [(r.name, r.status) for r in results] == \
        [("health", "fail")] + [(n, "skip") for n in NAMES[1:]]
    assert {r.reason for r in results[1:]} == {"endpoint not healthy"}


def test_unreachable_endpoint_is_one_failed_row_and_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def unreachable(*_: Any) -> Iterator[str]:
        raise ReachError("no ready pod in namespace x")
        yield ""  # pragma: no cover - a generator that fails on entry

    monkeypatch.setattr(check, "open_endpoint", unreachable)
    out = outputs("http://m.x.svc:8000")
    results = check_endpoint(out, out.endpoints["m"], FAST)
    assert [(r.name, r.status) for r in results] == \
        [("reach", "fail")] + [(n, "skip") for n in NAMES]
    assert results[0].reason == "no ready pod in namespace x"
    assert {r.reason for r in results[1:]} == {"not reachable"}


@pytest.mark.parametrize("aws", [True, False])
def test_aws_rows_follow_the_http_rows_when_asked(stub_server: StubServer, aws: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stub_server.routes["/health"] = lambda _: (500, {})
    row = CheckResult("m", "load-balancer", "pass", "ok")
    monkeypatch.setattr(check, "run_aws_checks", lambda outputs, endpoint: [row])
    out = outputs(stub_server.url)
    settings = CheckSettings(timeouts=FAST.timeouts, wait_s=1.0, aws=aws)
    results = check_endpoint(out, out.endpoints["m"], settings)
    assert results[-1] is row if aws else row not in results
    assert len(results) == len(NAMES) + aws
