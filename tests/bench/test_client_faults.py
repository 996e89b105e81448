"""The bench client in-process against the misbehaving server: each fault is its named kind.

(`tests/faults` runs the same server against the commands as subprocesses; this one runs the
client in the test process, so mutation testing sees which test covers which branch.)
"""

from __future__ import annotations

import pytest

from smoke.loadgen import Timeouts
from tests.bench.test_loadgen import _send
from tests.faults.server import KEY, FaultServer

pytestmark = pytest.mark.timeout(30)
LIMITS = Timeouts(connect=1, read=0.5, total=1.5, max_body_bytes=100_000)


@pytest.mark.parametrize(("fault", "kind", "error"), [
    ("none", "", ""),
    ("reset-mid-stream", "disconnected", "Response payload is not completed"),
    ("huge-headers", "client_error", "ClientResponseError: 400"),
    ("bad-utf8", "stream_error", "stream line is not UTF-8"),
    ("bad-shapes", "stream_error", "stream event is not a JSON object but list"),
    ("keepalive-drip", "stalled", "no stream event for 0.5 s (only keep-alive comments)"),
    ("endless-body", "too_large", "answer larger than 100000 bytes"),
    ("no-headers", "timeout", "no complete answer within the configured timeouts"),
    ("sse-no-done", "incomplete_stream", "stream ended without [DONE]"),
    ("html-200", "no_tokens", "stream ended without a token chunk"),
    ("http-500", "http_500", '{"error": {"message": "internal error"'),
    ("key-echo", "stream_error", "error event mid-stream: rejected ***"),
])
def test_each_fault_is_a_named_error(fault: str, kind: str, error: str) -> None:
    with FaultServer(fault) as server:
        out = _send(server.url, "hi", key=KEY, timeouts=LIMITS)
    assert out.success is (kind == "")
    assert out.error_kind == kind
    assert out.error.startswith(error) and KEY not in out.error
