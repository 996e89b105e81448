"""Auth surface check: no engine or router route answers a request that carries no API key.

vLLM 0.32 checks the key only on /v1, /v2, /inference and /cohere
(`vllm/entrypoints/serve/middleware/authenticate.py`), so on a bare engine `POST /invocations`
runs a chat completion without a key and /tokenize, /detokenize, /pooling, /score, /rerank and
/metrics are open; vllm-router's admin routes take no credentials at all. The deployment's
answer is the load balancer's path filter (`components.manifests.is_exposed_path`: only /v1)
and NetworkPolicy. This check proves it from the client's side: every probe below, sent with
no key, must not come back 2xx. It fails against a bare vLLM engine by design.

`check_auth_surface` runs only when the endpoint is reached at its own, non-loopback base URL
(a load balancer): through a port-forward or on a bare local engine it reports skip.
`probe_auth_surface` is the unconditional probe (the e2e test runs it on the bare engine).
Registered in `smoke/check.py:HTTP_CHECKS` as ("auth_surface", check_auth_surface).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from smoke.http import HttpError
from smoke.target import Outcome, Target

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    body: str  # "chat" | "tokenize" | "detokenize" | "pooling" | "score" | "none"
    public_only: bool = False  # in-cluster, /metrics is open to Prometheus on purpose


# Read-only or bounded probes only: nothing here changes the engine's or router's state
# (`/scale_elastic_ep` and `POST /add_worker` are never sent; `GET /list_workers` stands in for
# the router's admin surface).
PROBES: tuple[Probe, ...] = (
    Probe("POST", "/invocations", "chat"),
    Probe("POST", "/tokenize", "tokenize"),
    Probe("POST", "/detokenize", "detokenize"),
    Probe("GET", "/metrics", "none", public_only=True),
    Probe("POST", "/pooling", "pooling"),
    Probe("POST", "/score", "score"),
    Probe("POST", "/rerank", "score"),
    Probe("GET", "/list_workers", "none"),
)


def probe_body(kind: str, model: str) -> dict[str, Any] | None:
    """A well-formed request for each route, so a 4xx means "refused", not "malformed"."""
    bodies: dict[str, dict[str, Any]] = {
        "chat": {"model": model, "messages": [{"role": "user", "content": "hi"}],
                 "max_tokens": 1, "temperature": 0},
        "tokenize": {"model": model, "prompt": "hi"},
        "detokenize": {"model": model, "tokens": [1, 2]},
        "pooling": {"model": model, "input": "hi"},
        "score": {"model": model, "query": "hi", "documents": ["hi"], "text_1": "hi",
                  "text_2": "hi"},
    }
    return bodies.get(kind)


def probes_for(exposure: str) -> list[Probe]:
    return [p for p in PROBES if not p.public_only or exposure == "public"]


def check_auth_surface(t: Target) -> Outcome:
    """The registered check: probes only what a client reaches through a load balancer."""
    ep = t.endpoint
    if not ep.api_key:
        return "skip", "no API key in outputs: the endpoint is open by configuration", {}
    if t.base_url.rstrip("/") != ep.base_url.rstrip("/"):
        # A port-forward lands on the pod itself, behind the load balancer's path filter:
        # the bare engine's open routes are expected there (NetworkPolicy guards the pod).
        return "skip", "reached through a port-forward, not the endpoint's own URL", {}
    if urlparse(ep.base_url).hostname in LOOPBACK:
        return "skip", "loopback address: a bare local engine, no load balancer in front", {}
    return probe_auth_surface(t)


def probe_auth_surface(t: Target) -> Outcome:
    """Send every probe without a key to `t.base_url`; fail on any 2xx (no skips)."""
    ep = t.endpoint
    statuses: dict[str, Any] = {}
    opened: list[str] = []
    for probe in probes_for(ep.exposure):
        label = f"{probe.method} {probe.path}"
        try:
            response = t.send(probe.method, probe.path, None,
                              json_body=probe_body(probe.body, ep.served_model_name),
                              expect=None)
        except HttpError as exc:
            statuses[label] = exc.kind  # unreachable is closed, as far as a client can tell
            continue
        statuses[label] = response.status_code
        if 200 <= response.status_code < 300:
            opened.append(f"{label} {response.status_code}")
    details = {"statuses": statuses, "exposure": ep.exposure}
    if opened:
        return "fail", "answered without an API key: " + ", ".join(opened), details
    return "pass", f"{len(statuses)} non-/v1 routes refuse keyless requests", details
