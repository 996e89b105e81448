"""`router_workers` through the `smoke check` CLI against a stub router: the router must see as
many healthy workers as the endpoint has replicas (at least `autoscaling.min`), and whatever the
router answers ends as a named failure, never a traceback.

The real routers (smg, vllm-router) in front of the real engine: tests/e2e/test_router_smoke_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from smoke.__main__ import main
from smoke.check import CheckSettings, Target
from smoke.http import Timeouts
from smoke.outputs import parse_outputs
from smoke.router_workers import check_router_workers
from tests.smoke.conftest import StubServer
from tests.smoke.test_check_cli import KEY, serve_well

pytestmark = pytest.mark.timeout(30)


def router(kind: str = "smg", **changes: Any) -> dict[str, Any]:
    return {"kind": kind, "policy": "round_robin", "image": "img:1", "replicas": 1,
            "metrics_port": 29000, "discovery": "kubernetes", "engine_service": "m-engine",
            "engine_selector": {"app": "m"}, **changes}


def write_outputs(tmp_path: Path, url: str, **endpoint: Any) -> Path:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 1, "base_url": url,
          "exposure": "internal", "api_key": KEY, "router": router(), **endpoint}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"schema_version": 1, "platform": "local",
                                "endpoints": {"m": ep}}))
    return path


def run_check(tmp_path: Path, server: StubServer, answer: tuple[int, Any], *extra: str,
              **endpoint: Any) -> tuple[int, dict[str, Any]]:
    """`smoke check` on a stub engine + router whose `/readiness` gives `answer`."""
    serve_well(server)
    server.routes["/readiness"] = lambda _: answer
    report = tmp_path / "r.json"
    code = main(["check", "--outputs", str(write_outputs(tmp_path, server.url, **endpoint)),
                 "--report", str(report), "--no-aws", "--wait", "2", *extra])
    results = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    return code, results["router_workers"]


def counts(healthy: Any, total: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"status": "ready", "healthy_workers": healthy, "total_workers": total}


@pytest.mark.parametrize("kind", ["smg", "vllm-router"])
def test_passes_when_the_router_sees_every_replica_healthy(
        tmp_path: Path, stub_server: StubServer, kind: str) -> None:
    code, row = run_check(tmp_path, stub_server, counts(2, 2), replicas=2, router=router(kind))
    assert (code, row["status"]) == (0, "pass"), row
    assert row["reason"] == "router sees 2 of 2 workers healthy (replicas 2)"
    asked = [r for r in stub_server.seen if r.path == "/readiness"]
    assert len(asked) == 1 and asked[0].method == "GET"


def test_fails_when_a_replica_is_unhealthy_behind_the_router(
        tmp_path: Path, stub_server: StubServer) -> None:
    code, row = run_check(tmp_path, stub_server, counts(1, 2), replicas=2)
    assert (code, row["status"]) == (1, "fail")
    assert row["reason"] == "router sees 1 of 2 workers healthy; the endpoint needs 2 (replicas)"
    assert (row["details"]["healthy"], row["details"]["total"]) == (1, 2)


def test_fails_when_the_router_has_not_discovered_every_replica(
        tmp_path: Path, stub_server: StubServer) -> None:
    code, row = run_check(tmp_path, stub_server, counts(1, 1), replicas=3)
    assert (code, row["status"]) == (1, "fail")
    assert row["reason"] == "router sees 1 of 1 workers healthy; the endpoint needs 3 (replicas)"


@pytest.mark.parametrize(("minimum", "status"), [(1, "pass"), (2, "fail")])
def test_with_autoscaling_at_least_the_minimum(tmp_path: Path, stub_server: StubServer,
                                               minimum: int, status: str) -> None:
    auto = {"min": minimum, "max": 4, "target": 5.0, "metric": "sum(x)"}
    code, row = run_check(tmp_path, stub_server, counts(1, 3), replicas=3, autoscaling=auto)
    assert row["status"] == status, row
    assert row["details"]["expected_from"] == "autoscaling.min"
    assert code == (0 if status == "pass" else 1)


@pytest.mark.parametrize(("answer", "kind", "words"), [
    ((200, b"<html><body>Welcome to nginx</body></html>"), "body", "did not answer JSON"),
    ((200, b'{"healthy_workers": 2, "total_'), "body", "did not answer JSON"),
    ((200, ["healthy_workers", 2]), "body", "not a JSON object"),
    ((200, {"healthy": 2}), "body", "no valid 'healthy_workers'"),
    (counts("2", 2), "body", "no valid 'healthy_workers'"),
    (counts(True, 1), "body", "no valid 'healthy_workers'"),
    (counts(2, -1), "body", "no valid 'total_workers'"),
    (counts(2, 10**30), "body", "no valid 'total_workers'"),
    (counts(3, 2), "body", "says 3 healthy of 2"),
    ((200, b"[" * 100_000), "body", "did not answer JSON"),  # deep nesting: RecursionError
    ((404, b"not found"), "status", "HTTP 404"),
    ((500, {"error": "boom"}), "status", "HTTP 500"),
])
def test_hostile_answers_fail_with_a_named_kind(tmp_path: Path, stub_server: StubServer,
                                                answer: tuple[int, Any], kind: str,
                                                words: str) -> None:
    code, row = run_check(tmp_path, stub_server, answer, replicas=2)
    assert (code, row["status"]) == (1, "fail")
    assert row["details"]["error_kind"] == kind, row
    assert words in row["reason"] and "Traceback" not in row["reason"]


def test_a_huge_answer_stops_at_the_body_cap(tmp_path: Path, stub_server: StubServer) -> None:
    huge = b'{"healthy_workers": 2, "total_workers": 2, "pad": "' + b"x" * 200_000 + b'"}'
    code, row = run_check(tmp_path, stub_server, (200, huge), "--max-body-bytes", "100000",
                          replicas=2)
    assert (code, row["status"]) == (1, "fail")
    assert row["details"]["error_kind"] == "too-large"


def _target(server: StubServer, **endpoint: Any) -> Target:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 1,
          "base_url": server.url, "exposure": "internal", "api_key": KEY, **endpoint}
    outputs = parse_outputs(json.dumps({"schema_version": 1, "platform": "local",
                                        "endpoints": {"e": ep}}), "t")
    return Target(outputs.endpoints["e"], server.url, requests.Session(),
                  CheckSettings(timeouts=Timeouts(1.0, 2.0, 5.0), wait_s=1.0))


def test_503_means_no_healthy_worker_whatever_its_body(stub_server: StubServer) -> None:
    stub_server.routes["/readiness"] = lambda _: (503, b"insufficient healthy workers")
    status, reason, details = check_router_workers(_target(stub_server, replicas=2,
                                                           router=router()))
    assert status == "fail"
    assert reason == ("router sees no healthy worker (/readiness HTTP 503); the endpoint "
                      "needs 2 (replicas)")
    assert details["healthy"] == 0


def test_skips_without_a_router_and_asks_nothing(stub_server: StubServer) -> None:
    status, reason, _ = check_router_workers(_target(stub_server))
    assert (status, reason) == ("skip", "no managed router in front of the engines")
    assert stub_server.seen == []


def test_skips_behind_a_load_balancer_that_forwards_only_v1(stub_server: StubServer) -> None:
    lb = {"provider": "aws", "type": "alb", "scheme": "internal"}
    status, reason, _ = check_router_workers(_target(stub_server, router=router(),
                                                     load_balancer=lb))
    assert status == "skip" and "/readiness is not forwarded" in reason
    assert stub_server.seen == []


def test_the_workers_path_comes_from_the_outputs(stub_server: StubServer) -> None:
    stub_server.routes["/ready-workers"] = lambda _: counts(1, 1)
    status, _, _ = check_router_workers(_target(
        stub_server, router=router(workers_path="/ready-workers")))
    assert status == "pass"
    assert [r.path for r in stub_server.seen] == ["/ready-workers"]


def _cli_rows(tmp_path: Path, server: StubServer, kind: str) -> dict[str, Any]:
    serve_well(server)
    server.routes["/readiness"] = lambda _: counts(1, 1)
    if kind == "smg":  # smg answers 404 to /metrics on its port (no pass-through)
        server.routes["/metrics"] = lambda _: (404, {"error": {"code": "unknown_url"}})
    report = tmp_path / "r.json"
    main(["check", "--outputs", str(write_outputs(tmp_path, server.url, router=router(kind))),
          "--report", str(report), "--no-aws", "--wait", "2"])
    return {r["name"]: r for r in json.loads(report.read_text())["results"]}


def test_engine_metrics_are_not_asked_of_smg_which_does_not_pass_them_through(
        tmp_path: Path, stub_server: StubServer) -> None:
    rows = _cli_rows(tmp_path, stub_server, "smg")
    for name in ("metrics", "metrics_live"):
        assert rows[name]["status"] == "skip", rows[name]
        assert rows[name]["reason"].startswith("smg serves no /metrics on its port")
    assert not [r for r in stub_server.seen if r.path == "/metrics"]


def test_engine_metrics_are_still_read_through_vllm_router(
        tmp_path: Path, stub_server: StubServer) -> None:
    rows = _cli_rows(tmp_path, stub_server, "vllm-router")
    assert (rows["metrics"]["status"], rows["metrics_live"]["status"]) == ("pass", "pass")
