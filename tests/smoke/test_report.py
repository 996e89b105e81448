"""Report renderings: table, JSON, JUnit; secrets never appear in any of them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from smoke.outputs import parse_outputs
from smoke.report import CheckResult, Redactor, render_table, to_json, to_junit

KEY = "sk-very-secret-key-123"
TOKEN = "kube-bearer-token-456"
KUBECONFIG = f"""
apiVersion: v1
kind: Config
users:
- name: admin
  user:
    username: admin
    token: {TOKEN}
"""


def _outputs() -> Redactor:
    doc = {"schema_version": 1, "platform": "eks", "kubeconfig": KUBECONFIG, "endpoints": {
        "a": {"engine": "vllm", "model": "m", "served_model_name": "m", "port": 8000,
              "base_url": "http://a:8000", "exposure": "cluster", "api_key": KEY}}}
    return Redactor.for_outputs(parse_outputs(json.dumps(doc), "t"))


RESULTS = [
    CheckResult("a", "health", "pass", "/health 200", 0.01),
    CheckResult("a", "auth", "fail", f"server echoed Bearer {KEY}", 0.02,
                {"header": f"Bearer {KEY}", TOKEN: [TOKEN]}),
    CheckResult("a", "tls", "skip", "exposure cluster", 0.0),
]


def test_redactor_collects_api_keys_and_kubeconfig_credentials() -> None:
    redactor = _outputs()
    assert KEY in redactor.secrets
    assert TOKEN in redactor.secrets
    assert "admin" not in redactor.secrets  # a username is not a secret
    assert redactor.text(f"x {KEY} y {TOKEN}") == "x *** y ***"


def test_table_has_one_row_per_check_and_a_summary() -> None:
    table = render_table(RESULTS, _outputs())
    lines = table.splitlines()
    assert lines[0].split() == ["ENDPOINT", "CHECK", "STATUS", "TIME", "REASON"]
    assert lines[2].split()[:3] == ["a", "auth", "FAIL"]
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"
    assert KEY not in table


def test_json_report_is_redacted_everywhere() -> None:
    text = to_json(RESULTS, _outputs(), {"source": "t"})
    assert KEY not in text
    assert TOKEN not in text
    doc = json.loads(text)
    assert doc["summary"] == {"pass": 1, "fail": 1, "skip": 1}
    assert doc["results"][1]["details"] == {"header": "Bearer ***", "***": ["***"]}


def test_junit_counts_failures_and_skips() -> None:
    text = to_junit(RESULTS, _outputs())
    assert KEY not in text
    suite = ET.fromstring(text.split("?>", 1)[1]).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["health", "auth", "tls"]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "server echoed Bearer ***"
    assert cases[2].find("skipped") is not None
