"""Router-workers check (issue 18): the managed router sees every replica of its endpoint healthy.

A router that lost replicas keeps answering: smg and vllm-router both send everything to the
engines they still see, so `health`, `chat` and `stream` pass while half the capacity is gone (a
replica not Ready, a discovery watch that died, a health check that fails behind the router).
This check asks the router itself. Where the outputs name a router (`router.kind`,
`router.workers_path`), it GETs that path on the router's port and compares the healthy workers
it reports with what the endpoint should have: `replicas`, or with autoscaling at least
`autoscaling.min`.

What each router answers at `workers_path` (`/readiness`), checked on smg 1.13.0 and
vllm-router 0.1.17 running in front of a live vLLM engine and a dead worker URL:
- smg: 200 `{"healthy_workers": n, "total_workers": m, ...}` while n >= 1, else 503 with a
  text reason ("insufficient healthy workers");
- vllm-router: 200 with the same two counts while n >= 1, else 503.
A 503 therefore means "no healthy worker", whatever its body. Anything else (another status,
HTML, a body that is not a JSON object with two non-negative integer counts, a body over the
cap) fails with a named error kind, never a traceback.

Registered in `smoke/check.py:HTTP_CHECKS` as ("router_workers", check_router_workers).
"""

from __future__ import annotations

from typing import Any

from smoke.http import HttpError, json_of, status_error
from smoke.outputs import EndpointOutput
from smoke.target import Outcome, Target

NO_HEALTHY_STATUS = 503
# Both kinds answer the same shape today; one entry per kind keeps a future difference local.
COUNT_KEYS: dict[str, tuple[str, str]] = {
    "smg": ("healthy_workers", "total_workers"),
    "vllm-router": ("healthy_workers", "total_workers"),
}
_MAX_WORKERS = 10_000  # far above any endpoint's replicas (64); more is a broken answer


def expected_workers(endpoint: EndpointOutput) -> tuple[int, str]:
    """How many healthy workers the router must see, and where that number comes from."""
    if endpoint.autoscaling is not None:
        return endpoint.autoscaling.min, "autoscaling.min"
    return endpoint.replicas, "replicas"


def parse_counts(kind: str, body: Any) -> tuple[int, int]:
    """(healthy, total) from the router's answer, or HttpError(kind="body") naming the fault."""
    healthy_key, total_key = COUNT_KEYS[kind]
    if not isinstance(body, dict):
        raise HttpError("body", f"{kind} workers answer is not a JSON object "
                                f"(got {type(body).__name__})")
    counts = []
    for key in (healthy_key, total_key):
        value = body.get(key)
        # bool is an int in Python; a count of `true` is a broken answer, not 1.
        if not isinstance(value, int) or isinstance(value, bool) \
                or not 0 <= value <= _MAX_WORKERS:
            raise HttpError("body", f"{kind} workers answer has no valid {key!r} "
                                    f"(got {str(value)[:40]!r})")
        counts.append(value)
    healthy, total = counts
    if healthy > total:
        raise HttpError("body", f"{kind} workers answer says {healthy} healthy of {total}")
    return healthy, total


def check_router_workers(t: Target) -> Outcome:
    ep = t.endpoint
    router = ep.router
    if router is None:
        return "skip", "no managed router in front of the engines", {}
    if t.through_load_balancer:
        return "skip", (f"{router.workers_path} is not forwarded by the load balancer (only "
                        "/v1); run without --direct to check it through a port-forward"), {}
    if router.kind not in COUNT_KEYS:  # the contract allows only known kinds; belt and braces
        return "fail", f"unknown router kind {router.kind!r}", {"error_kind": "shape"}
    want, source = expected_workers(ep)
    reply = t.send("GET", router.workers_path, ep.api_key, expect=None)
    details: dict[str, Any] = {"kind": router.kind, "path": router.workers_path,
                               "status": reply.status_code, "expected": want,
                               "expected_from": source}
    if reply.status_code == NO_HEALTHY_STATUS:
        healthy, total = 0, None
    elif reply.status_code == 200:
        healthy, total = parse_counts(router.kind, json_of(reply, t.redactor))
    else:
        raise status_error(reply, t.redactor)
    details.update(healthy=healthy, total=total)
    seen = (f"router sees {healthy} of {total} workers healthy" if total is not None
            else f"router sees no healthy worker ({router.workers_path} HTTP 503)")
    if healthy < want:
        return "fail", f"{seen}; the endpoint needs {want} ({source})", details
    return "pass", f"{seen} ({source} {want})", details
