"""Issue 12, points 1 and 3: load balancers forward only /v1; NLB refusal; ALB TLS; CIDRs."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path

import pytest

from components import manifests
from components.cidrs import world_cidr_problems
from components.manifests import ALB, EXPOSED_PREFIX, exposure_problems, is_exposed_path
from components.spec import ExposureSpec
from smoke.auth_surface import PROBES
from tests.helpers import plan, stack_names
from tests.unit.test_builders import make_spec

# Open (keyless) routes of the engines and the router, from their sources (vLLM 0.32: checked
# against the installed wheel below; SGLang 0.5.23 and vllm-router 0.1.17 from their docs).
VLLM_OPEN = ["/invocations", "/tokenize", "/detokenize", "/pooling", "/score", "/rerank",
             "/metrics", "/scale_elastic_ep", "/is_scaling_elastic_ep", "/health", "/ping",
             "/load", "/version", "/server_info", "/reset_prefix_cache", "/sleep", "/wake_up",
             "/collective_rpc", "/start_profile", "/stop_profile", "/classify", "/embed"]
SGLANG_ROUTES = ["/generate", "/flush_cache", "/get_model_info", "/get_server_info",
                 "/health", "/health_generate", "/ready", "/metrics", "/start_profile",
                 "/update_weights_from_disk", "/encode", "/classify", "/abort_request"]
ROUTER_ADMIN = ["/add_worker", "/remove_worker", "/list_workers", "/flush_cache",
                "/get_loads", "/workers"]
TRICKS = ["/", "/v10/models", "/v1../invocations", "/v1/../invocations", "/v1/./x",
          "//v1/models", "/v1//models", "/%761/models", "/v1%2F..%2Finvocations",
          "v1/models", "/V1/models", "/v1\\..\\invocations"]
CLIENT_PATHS = ["/v1", "/v1/models", "/v1/chat/completions", "/v1/completions",
                "/v1/chat/completions?stream=true", "/v1/embeddings"]


@pytest.mark.parametrize("path", VLLM_OPEN + SGLANG_ROUTES + ROUTER_ADMIN + TRICKS)
def test_engine_and_router_routes_are_not_exposed(path: str) -> None:
    assert not is_exposed_path(path)


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_openai_client_paths_are_exposed(path: str) -> None:
    assert is_exposed_path(path)


def test_every_probe_of_the_auth_surface_check_is_filtered() -> None:
    assert [p.path for p in PROBES if is_exposed_path(p.path)] == []


def _vllm_routes() -> list[str]:
    """Every route path vLLM 0.32 declares (`@router.get("/...")` and friends)."""
    vllm = pytest.importorskip("vllm", reason="needs the engines extra")
    root = Path(vllm.__file__).parent / "entrypoints"
    pattern = re.compile(r"""@\w+\.(?:get|post|put|delete|api_route)\(\s*["'](/[^"']*)["']""")
    found: set[str] = set()
    for path in root.rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
    return sorted(found)


def test_every_exposed_vllm_route_is_one_vllm_guards_with_the_key() -> None:
    from vllm.entrypoints.serve.middleware import authenticate

    routes = _vllm_routes()
    assert "/invocations" in routes and "/v1/chat/completions" in routes
    exposed = [r for r in routes if is_exposed_path(r.split("{", 1)[0])]
    assert exposed, "the filter must let the OpenAI API through"
    assert all(r.startswith(authenticate.GUARDED_PREFIX) for r in exposed), exposed
    unguarded = [r for r in routes if not r.startswith(authenticate.GUARDED_PREFIX)]
    assert "/invocations" in unguarded
    assert not [r for r in unguarded if is_exposed_path(r.split("{", 1)[0])]


def _prefix_match(rule_path: str, request_path: str) -> bool:
    """Kubernetes `Prefix` matching: element-wise on `/`-separated segments."""
    rule = [s for s in rule_path.split("/") if s]
    req = [s for s in request_path.split("?")[0].split("/") if s]
    return req[:len(rule)] == rule


@functools.cache
def _plan(stack: str):  # type: ignore[no-untyped-def]
    return plan(stack)


@pytest.mark.parametrize("stack", stack_names())
def test_rendered_ingresses_route_only_the_openai_api(stack: str) -> None:
    ingresses = [o for o in _plan(stack).manifests.values() if o["kind"] == "Ingress"]
    for ingress in ingresses:
        paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
        assert paths and all(p["path"] == EXPOSED_PREFIX and p["pathType"] == "Prefix"
                             for p in paths), paths
        for route in VLLM_OPEN + SGLANG_ROUTES + ROUTER_ADMIN:
            assert not any(_prefix_match(p["path"], route) for p in paths), route
        annotations = ingress["metadata"]["annotations"]
        assert annotations[f"{ALB}/healthcheck-path"].startswith("/")


def test_ingress_builder_uses_the_filter() -> None:
    spec = make_spec(exposure=ExposureSpec(type="alb", scheme="internal"))
    paths = manifests.ingress(spec)["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/v1"]
    assert all(is_exposed_path(p["path"]) for p in paths)


TLS = ExposureSpec(type="alb", scheme="internet-facing",
                   certificate_arn="arn:aws:acm:us-east-1:111122223333:certificate/x",
                   inbound_cidrs=("203.0.113.0/24",))


def test_alb_with_tls_has_an_explicit_tls13_policy_and_http_only_redirects() -> None:
    annotations = manifests.alb_annotations(TLS, "/health")
    assert annotations[f"{ALB}/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    listeners = json.loads(annotations[f"{ALB}/listen-ports"])
    assert {"HTTPS": 443} in listeners
    if {"HTTP": 80} in listeners:
        assert annotations[f"{ALB}/ssl-redirect"] == "443"


@pytest.mark.parametrize("stack", stack_names())
def test_every_rendered_tls_ingress_has_the_policy(stack: str) -> None:
    for obj in _plan(stack).manifests.values():
        if obj["kind"] == "Ingress":
            annotations = obj["metadata"]["annotations"]
            if f"{ALB}/certificate-arn" in annotations:
                assert annotations[f"{ALB}/ssl-policy"] == manifests.ALB_SSL_POLICY
                assert annotations[f"{ALB}/ssl-redirect"] == "443"


def test_public_nlb_is_refused_for_a_bare_engine() -> None:
    nlb = dataclasses.replace(TLS, type="nlb")
    assert any("cannot filter paths" in p for p in exposure_problems(nlb))
    assert exposure_problems(nlb, auth_proxy=True) == []
    internal = dataclasses.replace(nlb, scheme="internal")
    assert exposure_problems(internal) == []
    assert any("/add_worker" in p for p in exposure_problems(internal, routed=True))


def test_public_alb_is_accepted_and_plain_http_public_is_not() -> None:
    assert exposure_problems(TLS) == []
    assert exposure_problems(TLS, routed=True) == []
    plain = dataclasses.replace(TLS, certificate_arn=None)
    assert any("without TLS" in p for p in exposure_problems(plain))


@pytest.mark.parametrize(("cidr", "fragment"), [
    ("0.0.0.0/0", "whole internet"), ("::/0", "whole internet"),
    ("10.0.0.1/8", "host bits set; the network is 10.0.0.0/8"),
    ("198.51.100.7/24", "198.51.100.7/32"), ("0.0.0.0/1", "wider than /8"),
    ("2000::/8", "wider than /16"), ("not-a-cidr", "not a CIDR"),
])
def test_world_and_sloppy_cidrs_are_named(cidr: str, fragment: str) -> None:
    problems = world_cidr_problems([cidr])
    assert len(problems) == 1 and fragment in problems[0], problems


def test_client_cidrs_pass() -> None:
    assert world_cidr_problems(["203.0.113.0/24", "198.51.100.7/32", "10.0.0.0/8",
                                "2001:db8::/32"]) == []


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_passes_the_exposure_and_cidr_rules_the_config_will_call(stack: str) -> None:
    """The lead wires these into the config rules; the shipped stacks must already pass."""
    from tests.security.stack_specs import stack_specs

    specs = stack_specs(stack)
    routed = {r.endpoint for r in specs.routers}
    for spec in specs.endpoints:
        assert exposure_problems(spec.exposure, routed=spec.name in routed) == [], spec.name
        assert world_cidr_problems(spec.exposure.inbound_cidrs) == [], spec.name
