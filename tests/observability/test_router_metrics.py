"""The router rows, alert and metric names on real routers (smg 1.13.0, vllm-router 0.1.17) in
front of the real local engine and a second replica that dies after the router registered it,
scraped by a real Prometheus.

Prometheus scrapes each router's own metrics port labelled as the generated ServiceMonitor would
(`inference_component=router`) and loads the generated rules; that kind's panel queries are run:
requests per worker name the engine, worker health shows the engine 1 and the dead replica 0,
healthy / registered, latency and in-flight answer, and `InferenceRouterWorkersUnhealthy` goes
pending for the router that sees 1 of its 2 workers healthy. The metric-name contract: every
router name the rules and dashboards use is on the router's live `/metrics` page, and what they
rate() is not a gauge there.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from components import observability_manifests as om
from components import router_manifests as rm
from components import router_observability as ro
from smoke.local import LocalEngine
from smoke.local_prometheus import LocalPrometheus, StaticTarget
from tests.local_router import DoomedReplica, RunningRouter, running_router, wait_healthy
from tests.observability.test_metric_names import names_with

pytestmark = [pytest.mark.e2e, pytest.mark.engines, pytest.mark.timeout(300)]
INTERVAL_S = 2
REQUESTS = 3
PREFIXES = {"smg": "smg_", "vllm-router": "vllm_router_"}


@pytest.fixture(scope="module", params=rm.KINDS)
def router(request: pytest.FixtureRequest, local_engine: LocalEngine,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRouter]:
    kind = request.param
    doomed = DoomedReplica(local_engine.served_model_name)
    log = tmp_path_factory.mktemp(kind) / "router.log"
    with running_router(kind, [local_engine.base_url, doomed.url], local_engine.api_key, log,
                        healthy=2) as running:
        doomed.kill()  # the replica crashes after the router registered it
        wait_healthy(running, 1)
        chat(running, local_engine, REQUESTS)
        yield running


def chat(router: RunningRouter, engine: LocalEngine, n: int) -> None:
    body = {"model": engine.served_model_name, "max_tokens": 4,
            "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(n):
        requests.post(f"{router.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {engine.api_key}"}
                      ).raise_for_status()


def local_spec(kind: str) -> rm.RouterSpec:
    """The RouterSpec whose rules select what the local Prometheus scrapes."""
    return rm.RouterSpec(endpoint="local", namespace="local", image=rm.DEFAULT_IMAGES[kind],
                         policy="round_robin", port=1, engine_port=1, engine_selector={},
                         kind=kind)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def prometheus(router: RunningRouter, prometheus_bin: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    rules = tmp_path_factory.mktemp("rules") / "rules.yml"
    settings = om.ObservabilitySettings(gpu=False)
    rules.write_text(yaml.safe_dump({"groups": om.rule_groups(
        [], [local_spec(router.kind)], settings, {})}))
    target = StaticTarget(router.metrics_address, "local", "local-router-0", component="router")
    with LocalPrometheus([target], scrape_interval_s=INTERVAL_S, rule_files=[rules]) as prom:
        assert prom.wait_for('up{inference_component="router"} == 1', 20)
        yield prom


def panel(kind: str, title: str) -> om.PanelDef:
    return next(p for p in om.router_panels(kind) if p.title == title)  # type: ignore[arg-type]


def run(prometheus: LocalPrometheus, expr: str, timeout_s: float = 15) -> list[dict[str, Any]]:
    return prometheus.wait_for(om.substitute(expr, f"{4 * INTERVAL_S}s", {"endpoint": "local"}),
                               timeout_s)


def by_worker(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"].get(ro.ROUTER_WORKER_LABEL, ""): float(r["value"][1]) for r in result}


def test_requests_per_worker_name_the_engine(router: RunningRouter, local_engine: LocalEngine,
                                             prometheus: LocalPrometheus) -> None:
    chat(router, local_engine, REQUESTS)  # inside the rate window
    (expr, _), = panel(router.kind, "Router requests per worker").queries
    workers = by_worker(run(prometheus, f"{expr} > 0"))
    assert set(workers) == {local_engine.base_url}, workers
    total = ro.ROUTER_METRICS[router.kind].requests_per_worker
    assert run(prometheus, f'sum({total}{{inference_endpoint="local"}}) >= {2 * REQUESTS}')


def test_worker_health_shows_the_live_engine_up_and_the_dead_url_down(
        router: RunningRouter, local_engine: LocalEngine, prometheus: LocalPrometheus) -> None:
    (expr, _), = panel(router.kind, "Router worker health").queries
    health = by_worker(run(prometheus, expr))
    assert health[local_engine.base_url] == 1.0
    assert [v for w, v in health.items() if w != local_engine.base_url] == [0.0], health


def test_healthy_registered_latency_and_in_flight_panels_answer(
        router: RunningRouter, local_engine: LocalEngine, prometheus: LocalPrometheus) -> None:
    chat(router, local_engine, REQUESTS)
    (healthy, _), (registered, _) = panel(router.kind,
                                          "Router workers healthy / registered").queries
    assert [r["value"][1] for r in run(prometheus, healthy)] == ["1"]
    assert [r["value"][1] for r in run(prometheus, registered)] == ["2"]
    for title in ("Router latency", "Router in-flight per worker"):
        for expr, _ in panel(router.kind, title).queries:
            assert run(prometheus, expr), f"{title}: no data for {expr}"


def test_router_errors_panel_counts_a_failed_request(
        router: RunningRouter, local_engine: LocalEngine, prometheus: LocalPrometheus) -> None:
    if router.kind != "smg":
        pytest.skip("vllm-router retries an engine's failure on another engine; its failure "
                    "outcomes are checked by name below")
    provoke(router, local_engine)  # the counter's first sample: rate() needs an increase
    time.sleep(3 * INTERVAL_S)
    provoke(router, local_engine)
    (expr, _), = panel(router.kind, "Router errors/s").queries
    assert run(prometheus, f"{expr} > 0"), "no router error counted"


def test_workers_unhealthy_alert_goes_pending_on_the_real_router(
        router: RunningRouter, prometheus: LocalPrometheus) -> None:
    pending = run(prometheus, 'ALERTS{alertname="InferenceRouterWorkersUnhealthy", '
                              'alertstate="pending"}', 30)
    assert [(r["metric"]["pod"], r["metric"]["inference_endpoint"]) for r in pending] == \
        [("local-router-0", "local")], pending
    (healthy,) = run(prometheus, ro.workers_unhealthy_expr(local_spec(router.kind)))
    assert healthy["value"][1] == "1"  # 1 healthy, below the 2 it has


# --- metric-name contract: every router name the rules and dashboards use, on the live page ---


def live_page(router: RunningRouter) -> dict[str, str]:
    """Sample name -> its TYPE on the router's live /metrics (what the ServiceMonitor scrapes)."""
    text = requests.get(f"http://{router.metrics_address}{ro.ROUTER_METRICS_PATH}",
                        timeout=10).text
    types: dict[str, str] = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    exposed: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            base = re.sub(r"_(total|bucket|sum|count)$", "", name)
            exposed[name] = types.get(name, types.get(base, "untyped"))
    return exposed


def provoke(router: RunningRouter, engine: LocalEngine) -> None:
    """A request for a model no worker serves: smg counts it as a router error (no_workers)."""
    body = {"model": "no-such-model", "max_tokens": 1,
            "messages": [{"role": "user", "content": "hi"}]}
    reply = requests.post(f"{router.url}/v1/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {engine.api_key}"})
    assert reply.status_code >= 400 or router.kind == "vllm-router", reply.text[:200]


def test_every_router_name_in_rules_and_dashboards_is_on_the_live_page(
        router: RunningRouter, local_engine: LocalEngine) -> None:
    provoke(router, local_engine)
    prefix = PREFIXES[router.kind]
    used = names_with(prefix)
    assert {n.removesuffix("_bucket") for n in used} >= {
        n for n in ro.ROUTER_METRICS[router.kind].names() if "duration" not in n}
    exposed = live_page(router)
    missing = sorted(n for n in used if n not in exposed)
    assert not missing, f"not on {router.kind}'s live /metrics: {missing}"
    wrong = sorted(n for n, how in used.items() if "rate" in how and exposed[n] == "gauge")
    assert not wrong, f"rate() over gauges of {router.kind}: {wrong}"
