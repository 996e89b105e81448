"""Outputs reader (contract v1): bad JSON, wrong schema_version, missing fields, sources."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from smoke.outputs import OutputsError, load_outputs, parse_outputs


def _valid() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "platform": "local",
        "kubeconfig": None,
        "endpoints": {
            "a": {"engine": "vllm", "model": "m", "served_model_name": "m",
                  "base_url": "http://127.0.0.1:8000", "exposure": "public", "port": 8000},
        },
    }


def test_valid_outputs_fill_endpoint_names_and_defaults() -> None:
    outputs = parse_outputs(json.dumps(_valid()), "t")
    endpoint = outputs.endpoints["a"]
    assert endpoint.name == "a"
    assert endpoint.health_path == "/health"
    assert endpoint.api_key is None
    assert outputs.select(None) == [endpoint]


def test_bad_json_names_source_and_line() -> None:
    with pytest.raises(OutputsError, match=r"^out.json: not JSON .* at line 2"):
        parse_outputs('{\n  "schema_version": 1,,\n}', "out.json")


def test_not_an_object() -> None:
    with pytest.raises(OutputsError, match="expected a JSON object"):
        parse_outputs("[1, 2]", "t")


@pytest.mark.parametrize("version", [None, 2, "1"])
def test_wrong_schema_version(version: Any) -> None:
    data = _valid()
    data["schema_version"] = version
    with pytest.raises(OutputsError, match=f"schema_version is {version!r}; this reader"):
        parse_outputs(json.dumps(data), "t")


def test_missing_field_is_named_with_its_path() -> None:
    data = _valid()
    del data["endpoints"]["a"]["served_model_name"]
    with pytest.raises(OutputsError, match=r"endpoints\.a\.served_model_name: Field required"):
        parse_outputs(json.dumps(data), "t")


def test_bad_exposure_value_is_rejected() -> None:
    data = _valid()
    data["endpoints"]["a"]["exposure"] = "world"
    with pytest.raises(OutputsError, match=r"endpoints\.a\.exposure"):
        parse_outputs(json.dumps(data), "t")


def test_unknown_endpoint_lists_known_ones() -> None:
    outputs = parse_outputs(json.dumps(_valid()), "t")
    with pytest.raises(OutputsError, match=r"endpoint nope not in outputs \(known: a\)"):
        outputs.select(["nope"])


def test_file_stdin_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps(_valid()))
    assert load_outputs(outputs=str(path)).platform == "local"
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_valid())))
    assert load_outputs(outputs="-").endpoints["a"].port == 8000
    with pytest.raises(OutputsError, match="No such file"):
        load_outputs(outputs=str(tmp_path / "missing.json"))
    with pytest.raises(OutputsError, match="exactly one of"):
        load_outputs()


def _fake_pulumi(tmp_path: Path, script: str) -> None:
    exe = tmp_path / "pulumi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_stack_without_pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no pulumi
    with pytest.raises(OutputsError, match="needs the Pulumi CLI"):
        load_outputs(stack="dev")


def test_stack_missing_reports_cli_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pulumi(tmp_path, "echo 'error: no stack named dev found' >&2\nexit 255\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(OutputsError, match="failed: error: no stack named dev found"):
        load_outputs(stack="dev")


def test_stack_output_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out.json").write_text(json.dumps(_valid()))
    # The fake CLI checks it was asked for secrets, which the contract needs (api_key).
    _fake_pulumi(tmp_path, f'case "$*" in *--show-secrets*) cat {tmp_path}/out.json;; '
                           '*) exit 3;; esac\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert load_outputs(stack="dev").endpoints["a"].served_model_name == "m"
