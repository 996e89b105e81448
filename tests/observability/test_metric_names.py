"""Metric-name contract: every name the dashboards and rules use is one the pinned software exposes.

Expressions are parsed with a real PromQL parser (`promql-parser`, the Rust parser of
GreptimeDB's promql-parser crate), which also proves each one is valid PromQL. Names are then
checked against:
- vLLM: the live local engine's `/metrics` (e2e), and the installed vllm 0.32 source;
- SGLang: the installed sglang 0.5.23's `srt/observability/metrics_collector.py` (metric kind
  included: what is rate()d must be a Counter, what is histogram_quantile()d a Histogram);
- dcgm-exporter: the pinned default-counters.csv;
- vllm-router 0.1.17 and smg 1.13.0: the installed extensions' metric names here, and every
  name of a router row or alert on the live router's own /metrics page in
  tests/observability/test_router_metrics.py (a real router in front of the real engine).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from components import observability_manifests as om
from smoke.metrics_live import LIVE_COUNTERS
from tests.observability import specs

promql_parser = pytest.importorskip("promql_parser", reason="pip install promql-parser")

ROOT = Path(__file__).resolve().parents[2]
RATE_FUNCS = {"rate", "increase", "irate"}


def all_expressions() -> list[str]:
    exprs = [r["expr"] for o in specs.all_objects() if o["kind"] == "PrometheusRule"
             for g in o["spec"]["groups"] for r in g["rules"]]
    for engine in ("vllm", "sglang"):  # every router kind's rows on both
        exprs += [om.substitute(e) for e in om.dashboard_queries(om.dashboard(engine))]
    return exprs


@functools.cache
def used_metrics() -> dict[str, set[str]]:
    """Metric name -> how it is used: 'rate' (counter), 'quantile' (histogram), 'plain'."""
    used: dict[str, set[str]] = {}
    for expr in all_expressions():
        tree = promql_parser.parse(expr)

        def visit(node: object, context: str = "plain") -> None:
            if isinstance(node, promql_parser.VectorSelector) and node.name:
                used.setdefault(node.name, set()).add(context)

        for node, context in _walk_with_context(tree):
            visit(node, context)
    return used


def _walk_with_context(node: object, context: str = "plain") -> Iterator[tuple[object, str]]:
    """(node, context) depth-first; context says whether a selector sits inside rate()."""
    yield node, context
    if isinstance(node, promql_parser.Call):
        name = node.func.name
        inner = "rate" if name in RATE_FUNCS else context
        for arg in node.args:
            yield from _walk_with_context(arg, inner)
        return
    for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and isinstance(child, promql_parser.Expr):
            yield from _walk_with_context(child, context)


def names_with(prefix: str) -> dict[str, set[str]]:
    return {n: u for n, u in used_metrics().items() if n.startswith(prefix)}


def test_every_expression_parses_and_names_are_found() -> None:
    used = used_metrics()
    assert len(all_expressions()) > 40
    assert {"up", "vllm:kv_cache_usage_perc", "sglang:token_usage", om.DCGM_XID,
            *(m.requests_per_worker for m in om.ROUTER_METRICS.values()),
            *(m.worker_health for m in om.ROUTER_METRICS.values())} <= set(used)
    unknown = [n for n in used if not n.startswith(("vllm:", "sglang:", "DCGM_", "vllm_router_",
                                                    "smg_")) and n != "up"]
    assert unknown == []


def test_no_deprecated_vllm_names() -> None:
    assert "vllm:gpu_cache_usage_perc" not in used_metrics()
    counters = [n for n, u in names_with("vllm:").items() if "rate" in u]
    assert counters and all(n.endswith(("_total", "_bucket")) for n in counters), counters


def test_smoke_live_counters_are_the_tables() -> None:
    for engine, (requests_counter, tokens_counter) in LIVE_COUNTERS.items():
        table = om.ENGINE_METRICS[engine]  # type: ignore[index]
        assert (requests_counter, tokens_counter) == (table.requests, table.generation_tokens)


# --- vLLM ------------------------------------------------------------------------------------


def _exposed_from_source(text: str, prefix: str) -> dict[str, str]:
    """Exposed sample names -> kind, from prometheus_client constructor calls in source."""
    exposed: dict[str, str] = {}
    pattern = re.compile(
        r"\b(Gauge|Counter|Histogram|Summary|GaugeHistogram)\(\s*(?:#[^\n]*\n\s*)*"
        r"name=\s*\"(" + re.escape(prefix) + r"[^\"]+)\"")
    for kind, name in pattern.findall(text):
        if kind == "Counter":
            exposed[name.removesuffix("_total") + "_total"] = "counter"
        elif kind in ("Histogram", "GaugeHistogram"):
            for suffix in ("_bucket", "_sum", "_count"):
                exposed[name + suffix] = "histogram"
        else:
            exposed[name] = kind.lower()
    return exposed


def _check(used: dict[str, set[str]], exposed: dict[str, str], where: str) -> None:
    assert used, f"no metric of {where} used: the extraction is broken"
    missing = sorted(n for n in used if n not in exposed)
    assert not missing, f"not exposed by {where}: {missing}"
    wrong = sorted(n for n, u in used.items() if "rate" in u and exposed[n] == "gauge")
    assert not wrong, f"rate()/increase() over gauges of {where}: {wrong}"


def _vllm_classes_source() -> str:
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        pytest.skip("vllm not installed (engines extra)")
    path = Path(spec.origin).parent / "v1" / "metrics" / "loggers.py"
    text = path.read_text()
    # loggers.py builds metrics through self._gauge_cls/_counter_cls/_histogram_cls
    return re.sub(r"self\._(gauge|counter|histogram)_cls\(",
                  lambda m: m.group(1).capitalize() + "(", text)


def test_vllm_names_exist_in_the_installed_vllm_source() -> None:
    exposed = _exposed_from_source(_vllm_classes_source(), "vllm:")
    assert "vllm:kv_cache_usage_perc" in exposed
    assert "vllm:gpu_cache_usage_perc" not in exposed  # the pre-v1 name is gone
    assert exposed["vllm:request_success_total"] == "counter"
    _check(names_with("vllm:"), exposed, "vllm 0.32 (v1/metrics/loggers.py)")


@pytest.mark.e2e
@pytest.mark.engines
def test_vllm_names_exist_on_the_live_engine(local_engine: Any) -> None:
    text = requests.get(f"{local_engine.base_url}/metrics", timeout=30).text
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
               if line and not line.startswith("#")}
    types: dict[str, str] = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    exposed: dict[str, str] = {}
    for name in samples:
        base = re.sub(r"_(total|bucket|sum|count|created)$", "", name)
        exposed[name] = types.get(base, types.get(name, "untyped"))
    _check(names_with("vllm:"), exposed, "the live vLLM engine's /metrics")


# --- SGLang ----------------------------------------------------------------------------------


def test_sglang_names_exist_in_the_installed_collector() -> None:
    spec = importlib.util.find_spec("sglang")
    if spec is None or spec.origin is None:
        pytest.skip("sglang not installed (scripts/install-sglang-parser.sh)")
    collector = Path(spec.origin).parent / "srt" / "observability" / "metrics_collector.py"
    exposed = _exposed_from_source(collector.read_text(), "sglang:")
    assert exposed.get("sglang:num_queue_reqs") == "gauge"
    _check(names_with("sglang:"), exposed, f"sglang ({collector.name})")


# --- DCGM and router -------------------------------------------------------------------------


def test_dcgm_names_are_default_counters_of_the_pinned_exporter() -> None:
    csv = (ROOT / "tests" / "schemas" / "dcgm-exporter" / "default-counters.csv").read_text()
    defaults = {line.split(",")[0].strip() for line in csv.splitlines()
                if line.strip() and not line.startswith("#")}
    used = set(names_with("DCGM_"))
    assert used and used <= defaults, used - defaults


ROUTER_EXTENSIONS = {"vllm_router_": "vllm_router_rs", "smg_": "smg.smg_rs"}


@pytest.mark.parametrize("prefix", sorted(ROUTER_EXTENSIONS))
def test_router_names_are_in_the_installed_router(prefix: str) -> None:
    """A quick offline guard; the live /metrics check is test_router_metrics.py's."""
    spec = importlib.util.find_spec(ROUTER_EXTENSIONS[prefix])
    if spec is None or spec.origin is None:
        pytest.skip(f"{ROUTER_EXTENSIONS[prefix]} not installed (engines extra)")
    binary = Path(spec.origin).read_bytes()
    used = {re.sub(r"_(bucket|total)$", "", n) for n in names_with(prefix)}
    assert used, "no router metric used"
    missing = [n for n in used if n.encode() not in binary]
    assert not missing, missing
