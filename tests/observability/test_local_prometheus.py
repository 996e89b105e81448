"""LocalPrometheus start-up: the shared readiness wait (smoke/http.py `wait_ready`) ends at once
when the binary exits, with its log, instead of waiting out the ready timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smoke.local_prometheus import LocalPrometheus, LocalPrometheusError


@pytest.mark.timeout(60)
def test_a_prometheus_that_exits_while_starting_fails_at_once(prometheus_bin: str,
                                                              tmp_path: Path) -> None:
    broken = tmp_path / "rules.yml"
    broken.write_text("groups: [{name: g, rules: [{record: r, expr: 'sum('}]}]\n")
    prometheus = LocalPrometheus([], rule_files=[broken], ready_timeout_s=45)
    start = time.monotonic()
    with pytest.raises(LocalPrometheusError, match="prometheus exited"):
        prometheus.start()
    assert time.monotonic() - start < 20, "the exit must not cost the ready timeout"
    assert prometheus.process is None and prometheus.workdir is None  # stopped and cleaned
