"""What the load generator sends (body, headers) and how its arrival process is shaped."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time

import pytest

from smoke.loadgen import RequestInput, Target, Timeouts, arrival_offsets, build_payload
from smoke.prompts import Prompt
from tests.bench.conftest import API_KEY, FakeServer
from tests.bench.test_loadgen import _send

pytestmark = pytest.mark.timeout(60)


def test_chat_payload_is_an_openai_streaming_request() -> None:
    body = json.loads(build_payload(Target("http://h", "m"), RequestInput(0, Prompt(text="hi"), 7)))
    assert body == {"model": "m", "max_tokens": 7, "stream": True,
                    "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": "hi"}], "ignore_eos": True}


def test_chat_payload_keeps_dataset_messages_and_can_let_the_model_stop() -> None:
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    target = Target("http://h", "m", ignore_eos=False)
    body = json.loads(build_payload(target, RequestInput(0, Prompt(messages=messages), 3)))
    assert body["messages"] == list(messages) and "ignore_eos" not in body


def test_completions_payload_sends_a_prompt() -> None:
    target = Target("http://h/", "m", api="completions")
    body = json.loads(build_payload(target, RequestInput(0, Prompt(text="hi"), 2)))
    assert body["prompt"] == "hi" and "messages" not in body and body["stream"] is True
    assert target.url == "http://h/v1/completions"
    with pytest.raises(ValueError, match="text prompts"):
        build_payload(target, RequestInput(0, Prompt(messages=({"role": "user"},)), 2))


def test_headers_ask_for_json_uncompressed_with_the_key(fake_server: FakeServer) -> None:
    assert _send(fake_server.base_url, "hello", tokens=2).success
    headers = fake_server.state.headers[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Authorization"] == f"Bearer {API_KEY}"


def test_read_timeout_ends_a_silent_stream_early(fake_server: FakeServer) -> None:
    fake_server.state.delay_s = 2.0
    start = time.monotonic()
    out = _send(fake_server.base_url, "slow", tokens=3,
                timeouts=Timeouts(connect=1, read=0.3, total=10))
    assert out.error_kind == "timeout" and time.monotonic() - start < 1.5


def test_total_timeout_ends_a_steady_but_long_stream(fake_server: FakeServer) -> None:
    fake_server.state.delay_s = 0.1  # never silent for the read timeout, 3 s in all
    start = time.monotonic()
    out = _send(fake_server.base_url, "long", tokens=30,
                timeouts=Timeouts(connect=1, read=5, total=0.6))
    assert out.error_kind == "timeout" and time.monotonic() - start < 1.5


def test_unbounded_arrivals_have_the_requested_rate_and_burstiness() -> None:
    offsets = list(itertools.islice(arrival_offsets(10.0, 0.5, 7, None), 4000))
    gaps = [b - a for a, b in itertools.pairwise([0.0, *offsets])]
    assert all(g > 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(0.1, rel=0.1)
    # gamma shape k: coefficient of variation 1/sqrt(k)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(math.sqrt(2), rel=0.1)
    assert list(itertools.islice(arrival_offsets(math.inf, 1.0, 0, None), 3)) == [0.0] * 3


def test_counted_arrivals_end_at_count_over_rate() -> None:
    offsets = list(arrival_offsets(4.0, 2.0, 3, 40))
    assert len(offsets) == 40 and offsets[-1] == pytest.approx(10.0)
    assert offsets[0] > 0 and offsets == sorted(offsets)
    assert list(arrival_offsets(5.0, 1.0, 0, 0)) == []


@pytest.mark.parametrize("burstiness", [0.0, -1.0])
def test_burstiness_must_be_positive(burstiness: float) -> None:
    with pytest.raises(ValueError, match="burstiness must be > 0"):
        list(arrival_offsets(1.0, burstiness, 0, 3))
