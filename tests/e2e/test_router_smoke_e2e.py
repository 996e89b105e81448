"""`smoke check` on a real router (smg 1.13.0, the default, and vllm-router 0.1.17) in front of
the real local vLLM engine (issue 18).

The outputs file is the engine's own (contract v1) pointed at the router, as a routed endpoint's
entry is after `pulumi up`: `base_url` the router, `health_path` its `/readiness`, a `router`
entry of that kind. The router's second worker is a replica that died after the router
registered it, so the router sees 1 of 2 workers healthy: `router_workers` must fail when the
endpoint says 2 replicas (or autoscaling.min 2) and pass when it says 1, through the CLI, while
the other checks are answered through the router by the live engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import router_manifests as rm
from smoke.__main__ import main
from smoke.local import LocalEngine
from tests.local_router import DoomedReplica, RunningRouter, running_router, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.engines, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=rm.KINDS)
def router(request: pytest.FixtureRequest, local_engine: LocalEngine,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRouter]:
    """The router of each kind, its second replica dead."""
    doomed = DoomedReplica(local_engine.served_model_name)
    log = tmp_path_factory.mktemp(request.param) / "router.log"
    with running_router(request.param, [local_engine.base_url, doomed.url],
                        local_engine.api_key, log, healthy=2) as router:
        doomed.kill()
        wait_healthy(router, 1)
        yield router


def routed_outputs(engine: LocalEngine, router: RunningRouter, path: Path,
                   **changes: Any) -> Path:
    doc = json.loads(engine.outputs_path.read_text())
    (entry,) = doc["endpoints"].values()
    entry.update(base_url=router.url, health_path="/readiness", router={
        "kind": router.kind, "policy": "power_of_two", "image": rm.DEFAULT_IMAGES[router.kind],
        "replicas": 1, "metrics_port": int(router.metrics_address.rsplit(":", 1)[1]),
        "workers_path": rm.READINESS_PATH,
        "worker_health_metric": rm.WORKER_HEALTH_METRICS[router.kind],
        "discovery": "kubernetes", "engine_service": "local-engine",
        "engine_selector": {"app": "local"}}, **changes)
    path.write_text(json.dumps(doc))
    return path


def smoke_check(outputs: Path, tmp_path: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    report = tmp_path / "report.json"
    code = main(["check", "--outputs", str(outputs), "--report", str(report), "--no-aws",
                 "--wait", "30"])
    results = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    return code, results, report.read_text()


def test_router_workers_fails_when_the_router_sees_a_replica_down(
        local_engine: LocalEngine, router: RunningRouter, tmp_path: Path) -> None:
    outputs = routed_outputs(local_engine, router, tmp_path / "outputs.json", replicas=2)
    code, results, report = smoke_check(outputs, tmp_path)
    row = results["router_workers"]
    assert code == 1
    assert row["status"] == "fail"
    assert row["reason"] == ("router sees 1 of 2 workers healthy; the endpoint needs 2 "
                             "(replicas)")
    # The router still answers through its healthy worker: only the replica count is wrong.
    assert results["health"]["status"] == "pass" and results["chat"]["status"] == "pass"
    assert local_engine.api_key not in report


def test_router_workers_passes_when_the_router_sees_enough(
        local_engine: LocalEngine, router: RunningRouter, tmp_path: Path) -> None:
    outputs = routed_outputs(local_engine, router, tmp_path / "outputs.json", replicas=1)
    code, results, _ = smoke_check(outputs, tmp_path)
    row = results["router_workers"]
    assert row["status"] == "pass", row
    assert row["reason"] == "router sees 1 of 2 workers healthy (replicas 1)"
    assert row["details"]["kind"] == router.kind
    failed = {name: r["reason"] for name, r in results.items() if r["status"] == "fail"}
    assert failed == {} and code == 0, failed
    if router.kind == "smg":
        # smg 1.13.0 checks the key on every inference route but lists /v1/models without it:
        # the auth check probes inference and reports the open listing.
        assert results["auth"]["reason"].endswith(
            "GET /v1/models lists the model without a key (200)"), results["auth"]


def test_autoscaling_minimum_is_what_the_router_must_see(
        local_engine: LocalEngine, router: RunningRouter, tmp_path: Path) -> None:
    auto = {"min": 2, "max": 4, "target": 5.0, "metric": "sum(vllm:num_requests_waiting)"}
    outputs = routed_outputs(local_engine, router, tmp_path / "outputs.json", replicas=1,
                             autoscaling=auto)
    _, results, _ = smoke_check(outputs, tmp_path)
    row = results["router_workers"]
    assert row["status"] == "fail"
    assert row["reason"] == ("router sees 1 of 2 workers healthy; the endpoint needs 2 "
                             "(autoscaling.min)")
