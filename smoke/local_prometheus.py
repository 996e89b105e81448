"""A real Prometheus on loopback, scraping local targets: for tests and the dashboard snapshot.

Uses the `prometheus` binary (Debian package; scripts/install-prometheus.sh). Static targets get
the labels the generated PodMonitor would give them in a cluster (`inference_endpoint`,
`inference_component`, `namespace`, `pod`), so the generated rules and dashboard queries run
unchanged. Bounded start-up, temporary data directory, stopped on exit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml

from smoke.http import Timeouts, wait_ready
from smoke.local import free_port, stop_group


class LocalPrometheusError(Exception):
    """Prometheus is not installed, did not start, or died."""


@dataclass(frozen=True)
class StaticTarget:
    """host:port scraped at `metrics_path`, labelled like a PodMonitor target."""

    address: str
    endpoint: str
    pod: str
    namespace: str = "local"
    component: str = "engine"
    metrics_path: str = "/metrics"
    bearer_token: str | None = None
    # The exposed labels win over the target's, as kube-prometheus-stack's ServiceMonitor of
    # kube-state-metrics does (honorLabels: true): its `namespace` is the object's, not its own.
    honor_labels: bool = False

    def labels(self) -> dict[str, str]:
        return {"inference_endpoint": self.endpoint, "inference_component": self.component,
                "namespace": self.namespace, "pod": self.pod}


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


@dataclass
class LocalPrometheus:
    targets: list[StaticTarget]
    scrape_interval_s: int = 2
    rule_files: list[Path] = field(default_factory=list)
    port: int = 0
    ready_timeout_s: float = 30.0
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        jobs = []
        for i, target in enumerate(self.targets):
            job: dict[str, Any] = {
                "job_name": f"{target.endpoint}-{target.component}-{i}",
                "metrics_path": target.metrics_path,
                "static_configs": [{"targets": [target.address], "labels": target.labels()}],
            }
            if target.honor_labels:
                job["honor_labels"] = True
            if target.bearer_token:
                job["authorization"] = {"type": "Bearer", "credentials": target.bearer_token}
            jobs.append(job)
        interval = f"{self.scrape_interval_s}s"
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "scrape_timeout": interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": jobs,
        }

    def start(self) -> LocalPrometheus:
        binary = prometheus_binary()
        if binary is None:
            raise LocalPrometheusError("prometheus is not installed "
                                       "(scripts/install-prometheus.sh)")
        self.workdir = Path(tempfile.mkdtemp(prefix="local-prometheus-"))
        self.port = self.port or free_port()
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config()))
        self.log_path = self.workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config_path}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--web.enable-lifecycle", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        process = self.process
        assert process is not None
        with requests.Session() as session:
            result = wait_ready(
                session, f"{self.url}/-/ready", deadline_s=self.ready_timeout_s,
                timeouts=Timeouts(2.0, 2.0), interval_s=0.3,
                give_up=lambda: None if process.poll() is None else "exited")
        if result.gave_up:
            raise LocalPrometheusError(f"prometheus exited: {self.log_tail()}")
        if not result.ready:
            raise LocalPrometheusError(f"prometheus not ready in {self.ready_timeout_s:g}s "
                                       f"({result.last_error})")

    def log_tail(self, lines: int = 10) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    def reload(self, targets: list[StaticTarget]) -> None:
        """Replace the scrape targets (POST /-/reload)."""
        assert self.workdir is not None
        self.targets = targets
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.config()))
        requests.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def wait_for(self, expr: str, timeout_s: float) -> list[dict[str, Any]]:
        """Poll an instant query until it returns something; [] after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            body = requests.get(f"{self.url}/api/v1/query", params={"query": expr},
                                timeout=10).json()
            result = body.get("data", {}).get("result", [])
            if result or time.monotonic() >= deadline:
                return list(result)
            time.sleep(0.5)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_group(process)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
