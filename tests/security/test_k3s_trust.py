"""Issue 12, point 5: K3s on GCP trust chain (accounts, tokens, metadata, secrets at rest)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from components.platforms import k3s_hosts
from components.platforms.k3s_hosts import StartupValues, kubeconfig_problems, render_startup_script
from tests.helpers import plan

VALUES = StartupValues(
    role="server", k3s_version="v1.33.4+k3s1", toolkit_version="1.17.8", project="p",
    token_secret="c-join-token", kubeconfig_secret="c-kubeconfig",
    server_internal_ip="10.40.0.10", server_external_ip="203.0.113.10",
    machine_type="g2-standard-48", model_cache_dir="/var/lib/model-cache",
    agent_token_secret="c-agent-token",
)


@functools.cache
def _resources() -> list[dict[str, Any]]:
    return plan("k3s-l4").resources


def _of(type_token: str) -> list[dict[str, Any]]:
    return [r for r in _resources() if r["type"] == type_token]


def _emails() -> tuple[str, str]:
    instances = {r["name"]: r["inputs"]["serviceAccount"]["email"]
                 for r in _of("gcp:compute/instance:Instance")}
    server = instances.pop("k3s-l4-server")
    agents = set(instances.values())
    assert len(agents) == 1 and instances
    return server, agents.pop()


def test_server_and_agents_run_as_different_accounts() -> None:
    server, agent = _emails()
    assert server != agent


def test_agents_can_read_only_the_agent_token_and_publish_nothing() -> None:
    server, agent = _emails()
    grants = [(r["inputs"]["secretId"], r["inputs"]["role"], r["inputs"]["member"])
              for r in _of("gcp:secretmanager/secretIamMember:SecretIamMember")]
    agent_grants = [(s, role) for s, role, m in grants if m == f"serviceAccount:{agent}"]
    assert agent_grants == [("k3s-l4-agent-token", "roles/secretmanager.secretAccessor")]
    adders = [m for _s, role, m in grants if role == "roles/secretmanager.secretVersionAdder"]
    assert adders == [f"serviceAccount:{server}"]
    readers = {m for s, _r, m in grants if s == "k3s-l4-join-token"}
    assert readers == {f"serviceAccount:{server}"}


def test_agent_script_never_names_the_server_token() -> None:
    agent = render_startup_script(dataclasses.replace(VALUES, role="agent"))
    assert "c-join-token" not in agent
    assert 'K3S_TOKEN=$(gcloud secrets versions access latest --secret="$AGENT_TOKEN_SECRET"' \
        in agent
    server = render_startup_script(VALUES)
    assert "export K3S_AGENT_TOKEN" in server


def test_server_encrypts_secrets_at_rest() -> None:
    script = render_startup_script(VALUES)
    server_install = script[script.index("sh /tmp/k3s-install.sh server"):]
    assert "--secrets-encryption" in server_install.split("\n\n")[0]


@pytest.mark.parametrize("role", ["server", "agent"])
def test_pods_cannot_reach_the_metadata_server_on_any_boot(role: str) -> None:
    script = render_startup_script(dataclasses.replace(VALUES, role=role))
    rule = 'iptables -t raw -I PREROUTING 1 -s "$POD_CIDR" -d "${METADATA_IP}/32" -j DROP'
    assert rule in script
    assert f"POD_CIDR={k3s_hosts.POD_CIDR}" in script
    assert f"METADATA_IP={k3s_hosts.METADATA_IP}" in script
    # Before the "already bootstrapped" early exit, so it is re-applied after every reboot.
    assert script.index(rule) < script.index('if [ -f "$DONE_MARKER" ]')
    if role == "server":
        assert '--cluster-cidr "$POD_CIDR"' in script


def test_agent_token_secret_is_required() -> None:
    with pytest.raises(ValueError, match="agent_token_secret"):
        render_startup_script(dataclasses.replace(VALUES, agent_token_secret=""))


def test_component_exports_what_the_workload_stack_verifies() -> None:
    hosts = [r for r in _resources() if r["type"] == "inference-stacks:k3s_hosts:K3sHosts"]
    assert hosts
    assert k3s_hosts.server_url("203.0.113.10") == "https://203.0.113.10:6443"


GOOD = """
apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    server: https://203.0.113.10:6443
    certificate-authority-data: LS0tLS1CRUdJTg==
contexts: []
users: []
"""


def test_kubeconfig_check_accepts_the_servers_own() -> None:
    assert kubeconfig_problems(GOOD, "https://203.0.113.10:6443") == []


@pytest.mark.parametrize(("text", "fragment"), [
    (GOOD.replace("203.0.113.10", "198.51.100.66"), "expected"),
    (GOOD.replace("    certificate-authority-data: LS0tLS1CRUdJTg==\n",
                  "    insecure-skip-tls-verify: true\n"), "insecure"),
    ("clusters: []", "exactly one cluster"),
])
def test_kubeconfig_check_refuses_a_redirected_or_unverified_cluster(text: str,
                                                                     fragment: str) -> None:
    problems = kubeconfig_problems(text, "https://203.0.113.10:6443")
    assert any(fragment in p for p in problems), problems
