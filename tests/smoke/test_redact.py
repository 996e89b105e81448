"""Redaction of echoed keys: every encoding a server may use, pieces of a cut key, patterns."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from smoke.__main__ import main
from smoke.loadgen import Client, RequestOutput, Target, Timeouts
from smoke.redact import Redactor

KEY = 'sk-Zq8"Lm\\Xw+Tr/Vb=Np3Kd7Hy'
REDACTOR = Redactor.of([KEY, None, "short"])


def leaks(text: str) -> list[str]:
    """Pieces of the key (8 characters or more) still in `text`."""
    return [KEY[i:i + 8] for i in range(len(KEY) - 7) if KEY[i:i + 8] in text]


@pytest.mark.parametrize("echo", [
    KEY,
    json.dumps(KEY)[1:-1],
    json.dumps({"k": KEY}),
    quote(KEY, safe=""),
    quote_plus(KEY),
    f"GET /x?api_key={quote_plus(KEY)}&y=1",
])
def test_escaped_and_encoded_echoes_are_replaced(echo: str) -> None:
    text = REDACTOR.text(f"server said: {echo} (end)")
    assert "***" in text and not leaks(text)
    assert text.startswith("server said: ") and text.endswith(" (end)")


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "Bearer ", "user:"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_of_the_key_is_found_at_any_alignment(prefix: str, encode: object) -> None:
    encoded = encode(f"{prefix}{KEY}!".encode()).decode()  # type: ignore[operator]
    text = REDACTOR.text(f"dump {encoded} done")
    core = encode(KEY.encode()).decode()[4:-4]  # type: ignore[operator]
    assert "***" in text and core not in text


def test_pieces_of_a_cut_key_at_the_edges_are_replaced() -> None:
    assert REDACTOR.text(f"rejected {KEY[:12]}") == "rejected ***"
    assert REDACTOR.text(f"{KEY[-9:]} was rejected") == "*** was rejected"
    # Pieces too short to be told from ordinary text stay.
    assert REDACTOR.text("ends with sk-Z") == "ends with sk-Z"


def test_excerpt_redacts_before_it_cuts() -> None:
    text = "x" * 290 + KEY
    excerpt = REDACTOR.excerpt(text, 300)
    assert len(excerpt) <= 300 and not leaks(excerpt)
    assert excerpt.endswith("***")


def test_patterns_cover_keys_nobody_told_the_redactor() -> None:
    plain = Redactor()
    assert plain.text("Authorization: Bearer abc.DEF-123") == "Authorization: Bearer ***"
    assert plain.text("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic ***"
    assert plain.text('{"api_key": "s3cr3t-value"}') == '{"api_key": "***"}'
    assert plain.text("https://h/v1?api-key=s3cr3t&x=1") == "https://h/v1?api-key=***&x=1"
    # Ordinary report text is left alone.
    for text in ("5 tokens in 30 ms", "max_tokens=16", "HTTP 401 from http://h/v1/models",
                 "Output tokens: the server's usage.completion_tokens"):
        assert plain.text(text) == text


def test_short_secrets_are_not_redacted() -> None:
    assert "short" not in REDACTOR.secrets
    assert REDACTOR.text("a short reason") == "a short reason"


def test_bench_error_texts_are_redacted_before_they_are_cut() -> None:
    client = Client(None, Target("http://h", "m", KEY), Timeouts())  # type: ignore[arg-type]
    out = RequestOutput(success=False)
    client._fail(out, "http_401", "y" * 295 + KEY)
    assert out.error_kind == "http_401" and len(out.error) <= 300 and not leaks(out.error)


def test_compare_redacts_result_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    point = {"label": "c=1", "mode": "concurrency", "spec": {"concurrency": 1}, "passed": True,
             "slo_checks": [], "summary": {
                 "success_rate": 1.0, "request_throughput": 1.0, "output_token_throughput": 1.0,
                 "goodput": None, **{k: {"median": 1.0, "p95": 1.0, "p99": 1.0}
                                     for k in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")}},
             "client": {"warnings": ["server echoed Authorization: Bearer sk-leaked-123456"]}}
    result = {"schema": "smoke-bench-result/1", "config": {"label": "api_key=sk-leaked-123456"},
              "endpoints": [{"name": "e", "load_points": [point]}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    out = tmp_path / "cmp"
    assert main(["compare", str(path), "--out", str(out), "--no-charts"]) == 0
    assert "sk-leaked" not in capsys.readouterr().out
