"""`smoke check` through its CLI against a stub server: flags reach the requests, files are
written whatever happens, exit codes follow the results."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pytest

from smoke.__main__ import main
from smoke.check import HTTP_CHECKS, add_arguments
from tests.smoke.conftest import Stream, StubRequest, StubServer, slow

pytestmark = pytest.mark.timeout(30)
KEY = "k-cli-0123456789"


def serve_well(server: StubServer) -> None:
    served = [0]  # chat answers so far: the engine's counters advance with them (metrics-live)

    def keyed(answer: Any) -> Any:
        def route(req: StubRequest) -> tuple[int, Any]:
            if req.headers.get("Authorization") != f"Bearer {KEY}":
                return 401, {"error": "Unauthorized"}
            if req.path == "/v1/chat/completions":
                served[0] += 1
                if json.loads(req.body)["stream"]:
                    return 200, Stream([(0.0, b'data: {"choices": [{"delta": {"content": '
                                              b'"hi"}}]}\n\ndata: [DONE]\n\n')])
            if req.path == "/metrics":
                n = served[0]
                return 200, (f"vllm:num_requests_waiting 0\nvllm:request_success_total {n}\n"
                             f"vllm:generation_tokens_total {2 * n}\n").encode()
            return 200, answer
        return route

    server.routes.update({
        "/health": lambda _: (200, {}),
        "/v1/models": keyed({"data": [{"id": "m"}]}),
        "/v1/chat/completions": keyed({"choices": [{"message": {"content": "hi"}}],
                                       "usage": {"completion_tokens": 1}}),
        "/metrics": keyed(b"vllm:num_requests_waiting 0\n"),
    })


def outputs(tmp_path: Path, url: str) -> Path:
    ep = {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 1, "base_url": url,
          "exposure": "internal", "api_key": KEY}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"schema_version": 1, "platform": "local",
                                "endpoints": {"m": ep}}))
    return path


def check(tmp_path: Path, url: str, *extra: str) -> tuple[int, dict[str, Any]]:
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    code = main(["check", "--outputs", str(outputs(tmp_path, url)), "--report", str(report),
                 "--junit", str(junit), "--no-aws", "--wait", "2", *extra])
    assert junit.read_text().count("<testcase") == len(HTTP_CHECKS)
    return code, {r["name"]: r for r in json.loads(report.read_text())["results"]}


def test_defaults_of_the_limits() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--outputs", "o.json"])
    assert (args.connect_timeout, args.read_timeout, args.request_timeout, args.wait) == \
        (10.0, 30.0, 60.0, 60.0)
    assert args.max_body_bytes == 16 * 1024 * 1024


@pytest.mark.parametrize("flag", ["--request-timeout", "--read-timeout", "--connect-timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_limits_must_be_finite_and_positive(flag: str, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "--outputs", "o.json", flag, value])
    assert info.value.code == 2


def test_all_pass_exits_0(stub_server: StubServer, tmp_path: Path) -> None:
    serve_well(stub_server)
    code, results = check(tmp_path, stub_server.url)
    assert code == 0, results
    assert {r["status"] for r in results.values()} == {"pass", "skip"}


def test_request_timeout_bounds_a_slow_answer(stub_server: StubServer, tmp_path: Path) -> None:
    serve_well(stub_server)
    stub_server.routes["/v1/models"] = slow(3.0)
    start = time.monotonic()
    code, results = check(tmp_path, stub_server.url, "--request-timeout", "0.5")
    assert code == 1 and time.monotonic() - start < 3
    assert results["models"]["details"]["error_kind"] == "deadline"
    assert "within 0.5 s" in results["models"]["reason"]


def test_max_body_bytes_caps_an_answer(stub_server: StubServer, tmp_path: Path) -> None:
    serve_well(stub_server)
    stub_server.routes["/metrics"] = lambda _: (200, b"vllm:num_requests_waiting 0\n" * 100)
    code, results = check(tmp_path, stub_server.url, "--max-body-bytes", "1000")
    assert code == 1
    assert results["metrics"]["details"]["error_kind"] == "too-large"
    assert results["chat"]["status"] == "pass"  # smaller answers are read whole
