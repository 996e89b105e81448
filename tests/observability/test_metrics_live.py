"""`metrics-live`: unit tests with a fake Prometheus, and the real thing.

The e2e tests run a real Prometheus (Debian package, loopback only, temporary data dir) that
scrapes the real local vLLM engine through a small proxy the test controls: `live` forwards
/metrics, `frozen` keeps serving the first page it fetched (a hung exporter), `dead` closes the
port (the engine stopped, as Prometheus sees it). The check itself talks to the real engine.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from smoke import metrics_live as ml
from smoke.check import CheckSettings, Target
from smoke.http import Timeouts
from smoke.local_prometheus import LocalPrometheus, StaticTarget
from smoke.outputs import EndpointOutput

INTERVAL_S = 2


def _endpoint(replicas: int = 1, engine: str = "vllm", base_url: str = "http://127.0.0.1:9",
              api_key: str | None = None) -> EndpointOutput:
    return EndpointOutput(name="local", engine=engine, model="m",
                          served_model_name="tiny-llama", base_url=base_url,
                          exposure="public", port=9, replicas=replicas, api_key=api_key)


# --- unit: parsing and decisions -------------------------------------------------------------


def test_parse_counters_sums_label_sets_and_reports_absent() -> None:
    text = "\n".join([
        "# HELP vllm:request_success_total x",
        'vllm:request_success_total{engine="0",finished_reason="stop"} 3.0',
        'vllm:request_success_total{engine="0",finished_reason="length"} 2.0',
        'vllm:request_success_created{engine="0"} 1.7e9',
        "vllm:generation_tokens_total 40 1700000000000",
    ])
    got = ml.parse_counters(text, ("vllm:request_success_total", "vllm:generation_tokens_total",
                                   "vllm:missing_total"))
    assert got == {"vllm:request_success_total": 5.0, "vllm:generation_tokens_total": 40.0,
                   "vllm:missing_total": None}


class FakePrometheus:
    """Canned answers by query; `sums` is what successive sum(counter) queries return."""

    def __init__(self, up: list[tuple[str, float]], ages: list[tuple[str, float]],
                 sums: list[float | None],
                 up_later: list[tuple[str, float]] | None = None) -> None:
        self.up, self.ages, self.sums = up, ages, list(sums)
        self.up_later = up_later
        self.up_queries = 0

    def query(self, expr: str) -> list[dict[str, Any]]:
        if expr.startswith("up{"):
            self.up_queries += 1
            up = self.up if self.up_queries == 1 or self.up_later is None else self.up_later
            return [{"metric": {"pod": p, "instance": p}, "value": [0, str(v)]}
                    for p, v in up]
        if expr.startswith("time() -"):
            return [{"metric": {"instance": i}, "value": [0, str(a)]} for i, a in self.ages]
        raise AssertionError(expr)

    def scalar_sum(self, expr: str) -> float | None:
        return self.sums.pop(0) if len(self.sums) > 1 else self.sums[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def engine_counters(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, float | None]]:
    """Successive engine counter reads the check will see; chat requests are no-ops."""
    reads: list[dict[str, float | None]] = []
    monkeypatch.setattr(ml, "read_engine_counters", lambda t: reads.pop(0))
    monkeypatch.setattr(ml, "send_one_chat", lambda t: None)
    return reads


def _target(replicas: int = 1) -> Target:
    return Target(_endpoint(replicas), "http://127.0.0.1:9", requests.Session(), CheckSettings())


def _counters(requests_done: float | None, tokens: float | None) -> dict[str, float | None]:
    return {"vllm:request_success_total": requests_done, "vllm:generation_tokens_total": tokens}


def _run(fake: FakePrometheus, replicas: int = 1) -> tuple[ml.Outcome, float]:
    clock = FakeClock()
    outcome = ml.check_metrics_live_prometheus(
        _target(replicas), "http://prom", scrape_interval_s=30, client=fake,  # type: ignore[arg-type]
        clock=clock, sleep=clock.sleep)
    return outcome, clock.now


def test_direct_pass_when_both_counters_advance(engine_counters: list) -> None:
    engine_counters += [_counters(4, 64), _counters(5, 80)]
    status, reason, _ = ml.check_metrics_live(_target())
    assert status == "pass", reason


def test_direct_fail_when_a_counter_is_frozen(engine_counters: list) -> None:
    engine_counters += [_counters(4, 64), _counters(4, 80)]
    status, reason, _ = ml.check_metrics_live(_target())
    assert status == "fail" and "vllm:request_success_total did not advance" in reason


def test_direct_fail_when_metrics_are_disabled(engine_counters: list) -> None:
    engine_counters += [_counters(None, None)]
    status, reason, _ = ml.check_metrics_live(_target())
    assert status == "fail" and "--disable-log-stats" in reason


def test_direct_skips_with_several_replicas_behind_one_url() -> None:
    status, reason, _ = ml.check_metrics_live(_target(replicas=2))
    assert status == "skip" and "Prometheus URL" in reason


def test_prometheus_pass(engine_counters: list) -> None:
    engine_counters += [_counters(4, 64), _counters(5, 80)]
    fake = FakePrometheus([("p0", 1.0)], [("p0", 12.0)], [4.0, 4.0, 5.0])
    (status, reason, details), waited = _run(fake)
    assert status == "pass", reason
    assert details["catch_up_s"] == waited == 1.0


def test_prometheus_fails_without_targets(engine_counters: list) -> None:
    (status, reason, _), _ = _run(FakePrometheus([], [], [None]))
    assert status == "fail" and "no target" in reason


def test_prometheus_fails_when_a_replica_is_down(engine_counters: list) -> None:
    (status, reason, _), _ = _run(FakePrometheus([("p0", 1.0), ("p1", 0.0)], [], [None]), 2)
    assert status == "fail" and "down in Prometheus: p1" in reason


def test_prometheus_fails_when_a_replica_is_not_scraped(engine_counters: list) -> None:
    (status, reason, _), _ = _run(FakePrometheus([("p0", 1.0)], [], [None]), replicas=3)
    assert status == "fail" and "1 target(s) up for 3 replicas" in reason


def test_prometheus_fails_on_stale_samples(engine_counters: list) -> None:
    fake = FakePrometheus([("p0", 1.0)], [("p0", 61.0)], [4.0])
    (status, reason, _), _ = _run(fake)
    assert status == "fail" and "stale data: newest sample 61s old (limit 60s" in reason


def test_prometheus_fails_when_the_counter_is_absent(engine_counters: list) -> None:
    (status, reason, _), _ = _run(FakePrometheus([("p0", 1.0)], [], [None]))
    assert status == "fail" and "metrics disabled or renamed" in reason


def test_prometheus_fails_when_it_does_not_catch_up_within_three_intervals(
    engine_counters: list,
) -> None:
    engine_counters += [_counters(4, 64), _counters(5, 80)]
    fake = FakePrometheus([("p0", 1.0)], [("p0", 5.0)], [4.0])
    (status, reason, _), waited = _run(fake)
    assert status == "fail" and "did not catch up within 90s" in reason
    assert 90.0 <= waited <= 91.0


def test_prometheus_names_a_replica_that_goes_down_during_the_check(
    engine_counters: list,
) -> None:
    engine_counters += [_counters(4, 64), _counters(5, 80)]
    fake = FakePrometheus([("p0", 1.0)], [("p0", 5.0)], [4.0, None],
                          up_later=[("p0", 0.0)])
    (status, reason, _), waited = _run(fake)
    assert status == "fail" and reason == "during the check: target(s) down in Prometheus: p0"
    assert waited == 0.0  # no waiting for the catch-up deadline once the target is down


def test_prometheus_reports_stale_data_when_scraping_stops_during_the_check(
    engine_counters: list,
) -> None:
    engine_counters += [_counters(4, 64), _counters(5, 80)]
    fake = FakePrometheus([("p0", 1.0)], [("p0", 5.0)], [4.0])
    fake.ages = [("p0", 5.0)]
    original = fake.query

    def aging(expr: str) -> list[dict[str, Any]]:
        if expr.startswith("time() -") and fake.up_queries > 1:
            return [{"metric": {"instance": "p0"}, "value": [0, "95"]}]
        return original(expr)

    fake.query = aging  # type: ignore[method-assign]
    (status, reason, _), _ = _run(fake)
    assert status == "fail" and "stale data: newest sample 95s old (limit 60s)" in reason


def test_several_replicas_wait_for_the_sum_to_grow(engine_counters: list) -> None:
    fake = FakePrometheus([("p0", 1.0), ("p1", 1.0)], [("p0", 3.0), ("p1", 4.0)],
                          [10.0, 10.0, 10.0, 11.0])
    (status, reason, details), _ = _run(fake, replicas=2)
    assert status == "pass", reason
    assert details["wanted"] == 11.0


def test_metrics_live_check_factory() -> None:
    assert ml.metrics_live_check(None) is ml.check_metrics_live
    assert ml.metrics_live_check("http://prom:9090") is not ml.check_metrics_live


# --- e2e: real Prometheus, real engine -------------------------------------------------------


class MetricsProxy:
    """/metrics of the engine, as Prometheus sees it: live, frozen or dead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "live"
        self.frozen: bytes | None = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if proxy.mode == "frozen" and proxy.frozen is not None:
                    body = proxy.frozen
                else:
                    body = requests.get(proxy.upstream + self.path, timeout=10).content
                    proxy.frozen = body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def kill(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scraped(local_engine: Any, prometheus_bin: str) -> Iterator[tuple[Any, MetricsProxy,
                                                                         LocalPrometheus]]:
    proxy = MetricsProxy(local_engine.base_url)
    prometheus = LocalPrometheus([StaticTarget(proxy.address, "local", "local-0")],
                                 scrape_interval_s=INTERVAL_S)
    try:
        prometheus.start()
        assert prometheus.wait_for('up{inference_endpoint="local"} == 1', 20), \
            prometheus.log_tail()
        yield local_engine, proxy, prometheus
    finally:
        prometheus.stop()
        if proxy.mode != "dead":
            proxy.kill()


def _live_target(engine: Any, session: requests.Session) -> Target:
    endpoint = _endpoint(base_url=engine.base_url, api_key=engine.api_key)
    return Target(endpoint, engine.base_url, session,
                  CheckSettings(timeouts=Timeouts(5.0, 60.0)))


def _check(engine: Any, prometheus: LocalPrometheus) -> ml.Outcome:
    with requests.Session() as session:
        return ml.check_metrics_live_prometheus(_live_target(engine, session), prometheus.url,
                                                scrape_interval_s=INTERVAL_S)


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(300)
def test_real_prometheus_passes_then_fails_when_the_engine_stops(scraped: Any) -> None:
    engine, proxy, prometheus = scraped
    began = time.monotonic()
    status, reason, details = _check(engine, prometheus)
    check_s = time.monotonic() - began
    assert status == "pass", (reason, details)
    assert details["catch_up_s"] <= ml.CATCH_UP_INTERVALS * INTERVAL_S
    print(f"\nmetrics-live through Prometheus: {reason} (check took {check_s:.1f}s)")

    proxy.mode = "dead"
    proxy.kill()
    stopped = time.monotonic()
    while True:
        status, reason, _ = _check(engine, prometheus)
        detected = time.monotonic() - stopped
        if status == "fail":
            break
        assert detected < 10 * INTERVAL_S, "the stopped engine was never detected"
        time.sleep(0.5)
    print(f"engine stopped: failed after {detected:.1f}s: {reason}")
    assert "down in Prometheus: local-0" in reason
    # The next scrape marks the target down (one interval + scrape timeout); the check that
    # sees it may have started just before, so allow one more check duration.
    assert detected <= 2 * INTERVAL_S + 2 * check_s + 2


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(300)
def test_real_prometheus_fails_on_a_frozen_exporter(scraped: Any) -> None:
    engine, proxy, prometheus = scraped
    proxy.mode = "frozen"
    time.sleep(INTERVAL_S)
    start = time.monotonic()
    status, reason, details = _check(engine, prometheus)
    elapsed = time.monotonic() - start
    print(f"\nfrozen exporter: {status} after {elapsed:.1f}s: {reason}")
    assert status == "fail", details
    assert "did not catch up" in reason
    # The engine's own counters did advance: the direct part passed, Prometheus lagged.
    assert details["engine_after"]["vllm:request_success_total"] > details["engine_before"][
        "vllm:request_success_total"]
    assert elapsed <= ml.CATCH_UP_INTERVALS * INTERVAL_S + 30  # + the chat request itself


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(300)
def test_real_prometheus_fails_on_stale_data_when_scraping_stops(scraped: Any) -> None:
    """The job is removed from Prometheus's config: scraping stops. Prometheus 2.42 writes no
    staleness marker for a removed job, so `up` and the counters keep answering from the
    last sample for the 5-minute lookback; only the samples' age tells."""
    engine, _, prometheus = scraped
    prometheus.reload([])
    stopped = time.monotonic()
    status, reason, details = _check(engine, prometheus)
    detected = time.monotonic() - stopped
    print(f"\nscraping stopped: {status} after {detected:.1f}s: {reason}")
    assert status == "fail", details
    assert "stale data" in reason or "lost every target" in reason, reason
    assert detected <= ml.CATCH_UP_INTERVALS * INTERVAL_S + 30  # + the chat request itself


@pytest.mark.e2e
@pytest.mark.engines
@pytest.mark.timeout(300)
def test_generated_rules_and_dashboard_queries_run_on_real_prometheus(
    local_engine: Any, prometheus_bin: str, tmp_path: Any,
) -> None:
    """The generated rule file loads into a real Prometheus and evaluates on real engine data
    (Watchdog fires, nothing else does while the engine is healthy); every dashboard query
    runs, and the engine panels have data after a few requests."""
    import yaml

    from components import observability_manifests as om

    target = om.EngineTarget(name="local", namespace="local", engine="vllm", selector={})
    settings = om.ObservabilitySettings(namespace="local", scrape_interval_seconds=15)
    groups = om.rule_groups([target], [], settings, {"local": 60_000.0})
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    address = local_engine.base_url.removeprefix("http://")
    with LocalPrometheus([StaticTarget(address, "local", "local-0")],
                         scrape_interval_s=INTERVAL_S, rule_files=[rules]) as prometheus:
        assert prometheus.wait_for('up{inference_endpoint="local"} == 1', 20)
        with requests.Session() as session:
            t = _live_target(local_engine, session)
            for _ in range(3):
                ml.send_one_chat(t)
        time.sleep(3 * INTERVAL_S)
        loaded = requests.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()
        names = {r["name"] for g in loaded["data"]["groups"] for r in g["rules"]}
        assert {"InferenceTargetDown", "InferenceTTFTAboveSLO", "Watchdog"} <= names
        alerts = requests.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()
        active = sorted(a["labels"]["alertname"] for a in alerts["data"]["alerts"])
        assert active == ["Watchdog"], active
        empty = []
        for expr in om.dashboard_queries(om.dashboard("vllm")):
            runnable = om.substitute(expr, f"{4 * INTERVAL_S}s", {"endpoint": "local"})
            body = requests.get(f"{prometheus.url}/api/v1/query", timeout=10,
                                params={"query": runnable}).json()
            assert body["status"] == "success", (runnable, body)
            if not body["data"]["result"]:
                empty.append(runnable)
        # Only GPU, router, error and preemption series may be empty on a healthy CPU engine.
        unexpected = [e for e in empty if not any(
            k in e for k in ("DCGM_", "vllm_router_", "smg_", "finished_reason=~",
                             "num_preemptions"))]
        assert unexpected == [], unexpected
