"""Pure builders: selectors from the specs, dashboards from the one table, chart values."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components import observability_manifests as om
from components import pod
from components import router_manifests as rm
from components.engines import ENGINE_PROFILES
from tests.observability import specs


def _by(kind: str, name: str) -> dict:
    return next(o for o in specs.all_objects()
                if o["kind"] == kind and o["metadata"]["name"] == name)


def test_pod_monitor_selects_exactly_the_engine_pods_of_the_spec() -> None:
    pm = _by("PodMonitor", "vl-engine")
    assert pm["metadata"]["namespace"] == specs.VLLM.namespace
    assert pm["spec"]["selector"] == {"matchLabels": specs.VLLM.selector}
    assert pm["spec"]["namespaceSelector"] == {"matchNames": [specs.VLLM.namespace]}
    # The selector must match the pod template's labels the engine builders render.
    assert specs.VLLM.selector.items() <= specs.VLLM.labels.items()
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == specs.VLLM.profile.metrics_path
    assert endpoint["interval"] == "30s"


def test_pod_monitor_port_is_the_engine_containers_named_port() -> None:
    container = pod.engine_container(specs.VLLM)
    names = [p["name"] for p in container["ports"]]
    assert om.ENGINE_PORT_NAME in names


def test_relabelings_tag_every_series_with_endpoint_and_component() -> None:
    pm = _by("PodMonitor", "sg-engine")
    relabel = pm["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert {"action": "replace", "targetLabel": "inference_endpoint",
            "replacement": "sg"} in relabel
    assert {"action": "replace", "targetLabel": "inference_component",
            "replacement": "engine"} in relabel


def test_api_key_secret_is_sent_as_bearer_only_when_the_endpoint_has_one() -> None:
    vl = _by("PodMonitor", "vl-engine")["spec"]["podMetricsEndpoints"][0]
    sg = _by("PodMonitor", "sg-engine")["spec"]["podMetricsEndpoints"][0]
    assert vl["authorization"] == {"type": "Bearer",
                                   "credentials": {"name": "vl-api-key", "key": "api-key"}}
    assert "authorization" not in sg


def test_router_service_monitor_uses_the_router_services_metrics_port() -> None:
    sm = _by("ServiceMonitor", "vl-router")
    assert sm["spec"]["selector"] == {"matchLabels": specs.ROUTER.selector}
    service = rm.service(specs.ROUTER)
    # The ServiceMonitor selects the Service by its labels, and scrapes its named port.
    assert specs.ROUTER.selector.items() <= service["metadata"]["labels"].items()
    port_names = [p["name"] for p in service["spec"]["ports"]]
    assert sm["spec"]["endpoints"][0]["port"] in port_names
    assert sm["spec"]["endpoints"][0]["relabelings"][1]["replacement"] == "router"


@pytest.mark.parametrize("router", specs.ROUTERS, ids=lambda r: r.kind)
def test_router_service_monitor_scrapes_the_port_the_router_serves_prometheus_on(
        router: rm.RouterSpec) -> None:
    (endpoint,) = _by("ServiceMonitor", router.name)["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    (port,) = [p for p in rm.service(router)["spec"]["ports"] if p["name"] == endpoint["port"]]
    container = rm.router_container(router)
    (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    args = container["args"]
    # The router's own flag puts Prometheus on that container port, on every interface.
    assert args[args.index("--prometheus-port") + 1] == str(target["containerPort"])
    assert args[args.index("--prometheus-host") + 1] == "0.0.0.0"


def _dashboard_of(engine: str) -> dict:
    cm = _by("ConfigMap", f"inference-{engine}-dashboard")
    return json.loads(cm["data"][f"inference-{engine}.json"])


def test_router_rows_follow_the_kind_of_router_in_front_of_the_engines() -> None:
    # specs: a vllm-router fronts the vLLM endpoint, an smg the SGLang one.
    for engine, kind, other in (("vllm", "vllm-router", "smg"), ("sglang", "smg", "vllm-router")):
        dash = _dashboard_of(engine)
        rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
        assert f"Router ({kind})" in rows and f"Router ({other})" not in rows
        names = om.ROUTER_METRICS[kind].names()
        exprs = " ".join(om.dashboard_queries(dash))
        assert all(name in exprs for name in names), (kind, names)
        assert not any(name in exprs for name in om.ROUTER_METRICS[other].names())


def test_no_router_rows_without_routers() -> None:
    objs = om.observability_objects(specs.ENDPOINTS, [], specs.SETTINGS, specs.TTFT_SLOS_MS)
    for obj in (o for o in objs if o["kind"] == "ConfigMap"):
        dash = json.loads(next(iter(obj["data"].values())))
        assert not any(p["title"].startswith("Router") for p in dash["panels"])


def test_every_router_kind_has_the_same_panels_from_its_own_table() -> None:
    titles = {kind: [p.title for p in om.router_panels(kind)] for kind in rm.KINDS}
    common = ["Router workers healthy / registered", "Router requests per worker",
              "Router worker health", "Router in-flight per worker", "Router latency",
              "Router errors/s"]
    assert all(t[:6] == common for t in titles.values()), titles
    for kind in rm.KINDS:
        # the outputs' worker_health_metric is what the panel and the alert read
        assert om.ROUTER_METRICS[kind].worker_health == rm.WORKER_HEALTH_METRICS[kind]
        (health,) = [p for p in om.router_panels(kind) if p.title == "Router worker health"]
        assert rm.WORKER_HEALTH_METRICS[kind] in health.queries[0][0]


def test_selector_labels_go_on_monitors_and_rules_but_never_replace_ours() -> None:
    settings = dataclasses.replace(specs.SETTINGS, selector_labels={"release": "prom"})
    for obj in specs.all_objects(settings):
        assert obj["metadata"]["labels"]["release"] == "prom"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "inference-stacks"


def test_dashboards_come_from_the_table_and_differ_only_in_names() -> None:
    vllm, sglang = om.dashboard("vllm"), om.dashboard("sglang")
    assert [p["title"] for p in vllm["panels"]] == [p["title"] for p in sglang["panels"]]
    v_exprs, s_exprs = om.dashboard_queries(vllm), om.dashboard_queries(sglang)
    assert not any("sglang:" in e for e in v_exprs)
    assert not any("vllm:" in e for e in s_exprs)
    # SGLang gauges are per rank: aggregated with max by pod; vLLM's per DP engine: summed.
    assert "max by (namespace, pod) (sglang:num_queue_reqs" in " ".join(s_exprs)
    assert "sum by (namespace, pod) (vllm:num_requests_waiting" in " ".join(v_exprs)


def test_dashboard_has_every_required_panel() -> None:
    titles = {p["title"] for p in om.dashboard("vllm")["panels"]}
    assert {"Time to first token", "Inter-token latency", "End-to-end latency",
            "Requests running / waiting", "KV cache usage", "Tokens/s",
            "Finished / failed requests/s", "Preemptions/s", "GPU utilisation",
            "GPU memory used", "GPU temperature", "GPU XID errors (last code)",
            "Router requests per worker", "Router worker health", "Router latency",
            "Router workers healthy / registered",
            "Router errors/s", "Router in-flight per worker"} <= titles


def test_queue_metric_of_the_table_is_the_engine_profiles() -> None:
    for (engine, _), profile in ENGINE_PROFILES.items():
        assert om.ENGINE_METRICS[engine].waiting == profile.queue_metric


def test_dashboard_config_map_carries_the_sidecar_label_and_valid_json() -> None:
    settings = dataclasses.replace(specs.SETTINGS, dashboard_label={"my_dash": "yes"})
    cm = om.dashboard_config_map("sglang", settings)
    assert cm["metadata"]["labels"]["my_dash"] == "yes"
    (key, text), = cm["data"].items()
    dash = json.loads(text)
    assert key == "inference-sglang.json" and dash["uid"] == "inference-sglang"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_no_gpu_panels_or_xid_alert_without_dcgm() -> None:
    settings = dataclasses.replace(specs.SETTINGS, gpu=False)
    dash = json.loads(om.dashboard_config_map("vllm", settings)["data"]["inference-vllm.json"])
    assert not any("DCGM" in e for e in om.dashboard_queries(dash))
    rule = om.prometheus_rule(specs.ENDPOINTS, [], settings, {})
    assert "GPUXidError" not in {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}


def test_scrape_interval_is_bounded() -> None:
    with pytest.raises(ValueError, match=r"15\.\.30"):
        om.ObservabilitySettings(scrape_interval_seconds=60)


def test_kube_prometheus_stack_values_select_everything_and_keep_grafana_internal() -> None:
    values = om.kube_prometheus_stack_values(
        specs.SETTINGS, remote_write=om.RemoteWrite(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
            sigv4_region="us-east-1"))
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["scrapeInterval"] == "30s"
    assert spec["remoteWrite"] == [{
        "url": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/"
               "remote_write", "sigv4": {"region": "us-east-1"}}]
    assert values["grafana"]["service"] == {"type": "ClusterIP"}
    assert values["grafana"]["ingress"] == {"enabled": False}
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == ("grafana_dashboard", "1")
    assert "remoteWrite" not in om.kube_prometheus_stack_values(specs.SETTINGS)[
        "prometheus"]["prometheusSpec"]


def test_dcgm_values_tolerate_the_gpu_taint_and_take_k3s_runtime_class() -> None:
    from components.platforms.gpu_nodes import GPU_TAINT

    values = om.dcgm_exporter_values(specs.SETTINGS, runtime_class="nvidia")
    assert {"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]} in values[
        "tolerations"]
    assert values["runtimeClassName"] == "nvidia"
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert values["serviceMonitor"]["honorLabels"] is True
    assert "runtimeClassName" not in om.dcgm_exporter_values(specs.SETTINGS)


def test_substitute_makes_dashboard_queries_runnable() -> None:
    expr = om.substitute('rate(x{inference_endpoint=~"$endpoint"}[$__rate_interval])', "30s",
                         {"endpoint": "local"})
    assert expr == 'rate(x{inference_endpoint=~"local"}[30s])'
    assert om.substitute("label_values(m{a=~\"$pod\"}, pod)") == 'm{a=~".*"}'
