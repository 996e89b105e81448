"""`python -m smoke compare`: table, PNG charts and a self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smoke.__main__ import main
from smoke.results import fmt
from tests.bench.conftest import FakeServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def two_results(fake_server: FakeServer, tmp_path: Path) -> list[Path]:
    outputs = fake_server.outputs_file(tmp_path)
    paths = []
    for label, delay in (("baseline", 0.004), ("managed", 0.001)):
        fake_server.state.delay_s = delay
        path = tmp_path / f"{label}.json"
        code = main(["bench", "--outputs", str(outputs), "--no-progress", "--warmup", "0",
                     "--concurrency", "1,4", "--num-requests", "8", "--output-tokens", "6",
                     "--label", label, "--report", str(path)])
        assert code == 0
        paths.append(path)
    return paths


def test_compare_table_charts_and_html(two_results: list[Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, two_results), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines()[2:]]
    assert {(r[0], r[1]) for r in rows} == {
        (load, label) for load in ("c=1", "c=4") for label in ("baseline", "managed")}
    for path in two_results:
        result = json.loads(path.read_text())
        label = result["config"]["label"]
        for point in result["endpoints"][0]["load_points"]:
            row = next(r for r in rows if r[0] == point["label"] and r[1] == label)
            s = point["summary"]
            assert row[4] == fmt(s["output_token_throughput"])
            assert row[5] == fmt(s["ttft_ms"]["median"])
            assert row[7] == fmt(s["ttft_ms"]["p99"])
    for name in ("latency_percentiles.png", "throughput.png", "ttft_distribution.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<table>" in page
    assert "src=\"http" not in page  # self-contained


def test_labels_override_and_duplicate_names(two_results: list[Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    same = [str(two_results[0]), str(two_results[0])]
    assert main(["compare", *same, "--label", "a", "--label", "a", "--no-charts"]) == 0
    series = {line.split()[1] for line in capsys.readouterr().out.splitlines()[2:]}
    assert series == {"a", "a#2"}


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"something": "else"}')
    assert main(["compare", str(bogus)]) == 2
    assert "not a smoke bench result" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "absent.json")]) == 2
