"""The routing benchmark's config names (benchmarks/routing/run_routing.py): each renders the
flags the stack renders, and every name the README's tables use parses with its router's own
parser, so a table row can be rerun as written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from components import router_manifests as rm
from tests.contract.harness import parse_router_argv

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "routing" / "run_routing.py"


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_routing", RUNNER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_routing"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["vr-round_robin", "vr-power_of_two", "smg-rr-1s",
                                  "smg-rr-v1-1s", "smg-p2req-v1-1s", "smg-p2req-v2-5s",
                                  "smg-p2ew-1s", "smg-p2lreq-v1-k0.9-1s", "smg-ll-1s",
                                  "smg-ll-w4-1s"])
def test_every_config_name_parses_with_its_routers_own_parser(runner: ModuleType,
                                                             name: str) -> None:
    spec = runner.router_spec(name)
    args = runner.routing_args(name)
    parsed = parse_router_argv(spec.kind, [*args, "--worker-urls", "http://127.0.0.1:1"])
    assert parsed.policy == spec.policy


def test_names_render_the_stacks_flags_and_the_cap_only_for_least_load(
        runner: ModuleType) -> None:
    assert runner.routing_args("smg-p2req-v1-1s") == rm.routing_argv(
        runner.router_spec("smg-p2req-v1-1s"))
    capped = runner.routing_args("smg-ll-w4-1s")
    assert capped[capped.index("--least-load-max-waiting-requests") + 1] == "4"
    assert "--least-load-max-waiting-requests" not in runner.routing_args("smg-ll-1s")
    spec = runner.router_spec("smg-p2req-v2-5s")
    assert (spec.queue_veto, spec.load_monitor_interval_seconds) == (2, 5)


@pytest.mark.parametrize("name", ["smg-xx-1s", "smg-rr", "smg-p2req-v1", "vx-round_robin",
                                  "smg-rr-w4-1s"])
def test_unknown_names_are_refused(runner: ModuleType, name: str) -> None:
    with pytest.raises(ValueError, match="unknown router config"):
        runner.router_spec(name)
