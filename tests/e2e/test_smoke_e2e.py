"""`smoke check` end to end against the real local vLLM engine: all pass, and each failure mode
(wrong key, served-name mismatch, missing metrics path, stopped engine) fails the right check."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from smoke.check import add_arguments, run
from smoke.local import LocalEngine, free_port
from tests.e2e.conftest import OutputsVariant

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
REPO = Path(__file__).resolve().parents[2]


def _check(outputs: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, dict[str, Any]],
                                                                   str]:
    """Run the check command in-process; return (exit code, results by check name, table)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    report = tmp_path / "report.json"
    args = parser.parse_args(["--outputs", str(outputs), "--report", str(report), *extra])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = run(args)
    results = {r["name"]: r for r in json.loads(report.read_text())["results"]}
    return code, results, stdout.getvalue()


def test_all_checks_pass_on_the_real_engine(local_engine: LocalEngine, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, results, table = _check(local_engine.outputs_path, tmp_path, "--junit", str(junit))
    assert code == 0, table
    statuses = {name: r["status"] for name, r in results.items()}
    assert statuses == {"health": "pass", "auth": "pass", "models": "pass", "chat": "pass",
                        "stream": "pass", "metrics": "pass", "tls": "skip",
                        "router_workers": "skip",  # no router in front of the bare engine
                        # loopback: no load balancer to probe; the counters advance for real
                        "auth_surface": "skip", "metrics_live": "pass"}
    assert results["stream"]["details"]["ttft_ms"] > 0
    assert results["stream"]["details"]["done"] is True
    assert results["stream"]["details"]["usage"]["completion_tokens"] > 0
    for text in (table, (tmp_path / "report.json").read_text(), junit.read_text()):
        assert local_engine.api_key not in text


def test_wrong_api_key_fails_auth(outputs_variant: OutputsVariant, tmp_path: Path) -> None:
    code, results, _ = _check(outputs_variant(api_key="wrong-key-000000"), tmp_path)
    assert code == 1
    assert results["auth"]["status"] == "fail"
    assert results["auth"]["reason"] == "the API key from the outputs was rejected (HTTP 401)"
    assert results["models"]["status"] == "fail"
    assert "HTTP 401" in results["models"]["reason"]
    assert results["health"]["status"] == "pass"  # vLLM's /health needs no key


def test_no_key_in_outputs_for_a_keyed_engine(outputs_variant: OutputsVariant,
                                              tmp_path: Path) -> None:
    code, results, _ = _check(outputs_variant(api_key=None), tmp_path)
    assert code == 1
    assert results["auth"]["reason"] == "endpoint demands an API key but the outputs carry none"


def test_served_name_mismatch_fails_models_and_chat(outputs_variant: OutputsVariant,
                                                    tmp_path: Path) -> None:
    code, results, _ = _check(outputs_variant(served_model_name="Qwen3-0.6B"), tmp_path)
    assert code == 1
    assert results["models"]["status"] == "fail"
    assert results["models"]["reason"] == (
        "served name mismatch: outputs say 'Qwen3-0.6B', /v1/models lists ['tiny-llama'] (R5)")
    assert results["chat"]["status"] == "fail"
    assert "HTTP 404" in results["chat"]["reason"]
    assert "does not exist" in results["chat"]["reason"]


def test_missing_metrics_path_fails_metrics(outputs_variant: OutputsVariant,
                                            tmp_path: Path) -> None:
    code, results, _ = _check(outputs_variant(metrics_path="/prometheus"), tmp_path)
    assert code == 1
    assert results["metrics"]["status"] == "fail"
    assert "HTTP 404" in results["metrics"]["reason"]
    assert "/prometheus" in results["metrics"]["reason"]
    assert "R7" in results["metrics"]["reason"]
    assert results["stream"]["status"] == "pass"


@pytest.mark.timeout(90)
def test_stopped_engine_fails_health_within_bounded_time(outputs_variant: OutputsVariant,
                                                         tmp_path: Path) -> None:
    port = free_port()  # nothing listens here: the engine behind these outputs is "stopped"
    outputs = outputs_variant(base_url=f"http://127.0.0.1:{port}", port=port)
    start = time.monotonic()
    code, results, _ = _check(outputs, tmp_path, "--wait", "10")
    elapsed = time.monotonic() - start
    assert code == 1
    assert results["health"]["status"] == "fail"
    assert results["health"]["reason"].startswith("not ready within 10s")
    assert "connection refused" in results["health"]["reason"]
    assert {r["status"] for n, r in results.items() if n != "health"} == {"skip"}
    assert elapsed < 60


def test_cli_exit_codes_and_no_secret_on_terminal(local_engine: LocalEngine,
                                                  tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "smoke", "check", "--outputs",
                         str(local_engine.outputs_path)], capture_output=True, text=True,
                        cwd=REPO, timeout=120, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "7 passed, 0 failed, 3 skipped" in ok.stdout  # tls, auth_surface, router_workers
    assert local_engine.api_key not in ok.stdout + ok.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 2}))
    usage = subprocess.run([sys.executable, "-m", "smoke", "check", "--outputs", str(bad)],
                           capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert usage.returncode == 2
    assert usage.stderr.startswith("error: ")
    assert "schema_version is 2" in usage.stderr
    assert "Traceback" not in usage.stderr


@pytest.mark.timeout(420)
def test_readme_flow_serve_local_then_check_then_ctrl_c(tmp_path: Path) -> None:
    """The README's main commands as a newcomer runs them; Ctrl-C stops the engine."""
    outputs = tmp_path / "outputs.json"
    serve = subprocess.Popen(
        [sys.executable, "-m", "smoke", "serve-local", "--outputs-file", str(outputs),
         "--model-dir", str(tmp_path / "model")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert serve.stdout is not None
        lines = []
        for line in serve.stdout:  # ends when serve-local exits (failure) or prints this
            lines.append(line)
            if line.startswith("serving until Ctrl-C"):
                break
        assert serve.poll() is None, "".join(lines) + (serve.stderr.read() if serve.stderr else "")
        assert f"outputs file: {outputs}" in "".join(lines)
        check = subprocess.run([sys.executable, "-m", "smoke", "check", "--outputs",
                                str(outputs)], cwd=REPO, capture_output=True, text=True,
                               timeout=120, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        port = json.loads(outputs.read_text())["endpoints"]["local"]["port"]
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=60) == 0
        assert "stopped the engine" in (serve.stderr.read() if serve.stderr else "")
        with pytest.raises(OSError):  # nothing listens on the engine's port any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=30)


def test_cluster_endpoint_checks_run_through_the_port_forward_bridge(
        local_engine: LocalEngine, outputs_variant: OutputsVariant, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A `cluster` endpoint is reached through `TcpBridge`; only the Kubernetes calls are
    replaced (the stream goes to the real engine), so streaming through the bridge is real."""
    def fake_pod_socket(core: Any, namespace: str, pod: str, port: int) -> socket.socket:
        return socket.create_connection(("127.0.0.1", local_engine.port))

    monkeypatch.setattr("smoke.reach.kube_core_api", lambda kubeconfig: object())
    monkeypatch.setattr("smoke.reach.resolve_target", lambda core, ep: ("engine-0", ep.port))
    monkeypatch.setattr("smoke.reach.pod_socket", fake_pod_socket)
    outputs = outputs_variant(
        top={"platform": "kubernetes", "kubeconfig": "apiVersion: v1"}, exposure="cluster",
        base_url="http://local.inference.svc.cluster.local:8000", namespace="inference")
    code, results, table = _check(outputs, tmp_path)
    assert code == 0, table
    assert results["stream"]["status"] == "pass"
    assert results["tls"]["status"] == "skip"
