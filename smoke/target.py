"""What every HTTP check works on: the endpoint, the URL it is reached at, one session.

Its own module so that checks living beside `smoke/check.py` (auth surface, metrics live)
share the types without importing the module that registers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from smoke.http import Reply, Timeouts, request
from smoke.outputs import EndpointOutput
from smoke.report import Redactor, Status

PROMPT = "Say hello in one short sentence."
Outcome = tuple[Status, str, dict[str, Any]]


@dataclass(frozen=True)
class CheckSettings:
    timeouts: Timeouts = field(default_factory=Timeouts)  # per request, streamed ones included
    wait_s: float = 60.0  # readiness deadline per endpoint
    max_tokens: int = 16
    direct: bool = False
    aws: bool = True
    # metrics-live through this Prometheus (a port-forward of the outputs' observability
    # entry); None reads the engine's own counters.
    prometheus_url: str | None = None
    scrape_interval_s: float = 30.0


@dataclass
class Target:
    """What every HTTP check needs: the endpoint, the URL it is reached at, one session."""

    endpoint: EndpointOutput
    base_url: str
    session: requests.Session
    settings: CheckSettings
    redactor: Redactor = field(default_factory=Redactor)

    @property
    def through_load_balancer(self) -> bool:
        """Reached at the endpoint's load balancer URL, which forwards only `/v1` paths."""
        ep = self.endpoint
        return ep.load_balancer is not None and \
            self.base_url.rstrip("/") == ep.base_url.rstrip("/")

    @property
    def engine_metrics_hidden(self) -> str | None:
        """Why the engine's `metrics_path` cannot be read at this URL, or None when it can.

        smg (1.13.0) answers 404 to `/metrics` on its port: unlike vllm-router it does not pass
        an engine's metrics through, so a routed smg endpoint's engine metrics are only seen by
        Prometheus (the engines' PodMonitor)."""
        router = self.endpoint.router
        if router is not None and router.kind == "smg":
            return (f"smg serves no {self.endpoint.metrics_path} on its port: the engines' "
                    "metrics are scraped from the engine pods")
        return None

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def send(self, method: str, path: str, key: str | None, **kw: Any) -> Reply:
        return request(self.session, method, self.url(path), timeouts=self.settings.timeouts,
                       api_key=key, redactor=self.redactor, **kw)

    def chat_body(self, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.endpoint.served_model_name,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": self.settings.max_tokens,
            "temperature": 0,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body
