"""The K3s startup script: rendered from its template by a pure function, pinned, valid shell."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from components.platforms.k3s_hosts import (
    MACHINE_TYPE_LABEL,
    TEMPLATE,
    StartupValues,
    boot_disk_gb,
    render_startup_script,
)
from infra.config.platforms.k3s_gcp import K3S_VERSION, TOOLKIT_VERSION

VALUES = StartupValues(
    role="server", k3s_version=K3S_VERSION, toolkit_version=TOOLKIT_VERSION,
    project="inference-stacks-demo", token_secret="k3s-l4-join-token",
    kubeconfig_secret="k3s-l4-kubeconfig", server_internal_ip="10.40.0.10",
    server_external_ip="203.0.113.10", machine_type="g2-standard-48",
    model_cache_dir="/var/lib/model-cache", agent_token_secret="k3s-l4-agent-token",
)


def bash_n(script: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, "-n"], input=script, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("role", ["server", "agent"])
def test_rendered_script_is_valid_bash_with_the_pinned_versions(role: str) -> None:
    script = render_startup_script(dataclasses.replace(VALUES, role=role))
    result = bash_n(script)
    assert result.returncode == 0, result.stderr
    assert "@@" not in script
    assert f"K3S_VERSION={K3S_VERSION}" in script or f"K3S_VERSION='{K3S_VERSION}'" in script
    assert f"TOOLKIT_VERSION={TOOLKIT_VERSION}" in script
    assert f"ROLE={role}" in script
    # The installer comes from the same pinned tag as the binary.
    assert 'raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION}/install.sh' in script
    assert 'nvidia-container-toolkit=${TOOLKIT_VERSION}-1' in script


def test_pins_are_exact_versions() -> None:
    assert K3S_VERSION.startswith("v1.33.") and "+k3s" in K3S_VERSION
    assert TOOLKIT_VERSION.count(".") == 2 and TOOLKIT_VERSION[0].isdigit()


def test_toolkit_is_installed_before_k3s_and_the_cache_dir_exists() -> None:
    script = render_startup_script(VALUES)
    toolkit = script.index("apt-get install -y --allow-downgrades")
    k3s = script.index("sh /tmp/k3s-install.sh server")
    assert toolkit < k3s, "K3s detects the nvidia runtime only at its first start"
    assert script.index('mkdir -p "$MODEL_CACHE_DIR"') < k3s
    assert "MODEL_CACHE_DIR=/var/lib/model-cache" in script


def test_server_flags_and_kubeconfig_publication() -> None:
    script = render_startup_script(VALUES)
    start = script.index('if [ "$ROLE" = "server" ]')
    server = script[start:script.index("else\n  export K3S_URL")]
    for flag in ('--tls-san "$SERVER_EXTERNAL_IP"', "--disable traefik",
                 '--node-label "nvidia.com/gpu.present=true"', "--write-kubeconfig-mode 0600"):
        assert flag in server or flag in script, flag
    assert '"${MACHINE_TYPE_LABEL}=${MACHINE_TYPE}"' in script
    assert f"MACHINE_TYPE_LABEL={MACHINE_TYPE_LABEL}" in script
    # Published with the server rewritten to the static IP, to the secret the program made.
    assert 's#https://127.0.0.1:6443#https://${SERVER_EXTERNAL_IP}:6443#' in server
    assert 'gcloud secrets versions add "$KUBECONFIG_SECRET"' in server


def test_agents_join_the_internal_address_with_the_token_from_secret_manager() -> None:
    script = render_startup_script(dataclasses.replace(VALUES, role="agent"))
    assert 'export K3S_URL="https://${SERVER_INTERNAL_IP}:6443"' in script
    assert 'gcloud secrets versions access latest --secret="$AGENT_TOKEN_SECRET"' in script
    assert "sh /tmp/k3s-install.sh agent" in script


def test_no_secret_is_rendered_and_values_are_shell_quoted() -> None:
    hostile = dataclasses.replace(VALUES, project="x'; rm -rf / #", model_cache_dir="/a b")
    script = render_startup_script(hostile)
    assert bash_n(script).returncode == 0
    assert "PROJECT='x'\"'\"'; rm -rf / #'" in script
    assert "MODEL_CACHE_DIR='/a b'" in script
    assert "K3S_TOKEN=$(gcloud" in script  # fetched at boot, never in instance metadata


def test_unknown_role_and_leftover_placeholders_are_rejected() -> None:
    with pytest.raises(ValueError, match="role"):
        render_startup_script(dataclasses.replace(VALUES, role="worker"))
    with pytest.raises(ValueError, match="@@TYPO@@"):
        render_startup_script(VALUES, template=TEMPLATE.read_text() + "\necho @@TYPO@@\n")


def test_boot_disk_holds_the_model_cache() -> None:
    assert boot_disk_gb(200) == 260
    assert boot_disk_gb(20) > 20
