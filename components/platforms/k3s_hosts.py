"""`K3sHosts`: the K3s server (and agent) GPU VMs on GCP, their account, secrets and bootstrap.

Why: L4 exists only on G2 machine types, whose GPUs come with the machine type (no
`guest_accelerators`), GPU VMs must terminate on host maintenance, the Deep Learning VM image
ships the driver (Secure Boot off: the driver is not signed for it), and K3s must find the NVIDIA
container toolkit at its first start (docs/platforms/k3s.md). The kubeconfig cannot be read back
at deploy time, so the server publishes it to a Secret Manager secret the program created; the
VM account may only add versions to that secret and read the join token (least privilege).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.component import type_token, with_aliases
from components.platforms.gcp_network import NODE_TAG, SERVER_TAG

TEMPLATE = Path(__file__).parent / "templates" / "k3s-startup.sh.tmpl"
# Node label the startup script sets: K3s labels every node instance-type=k3s, so R3 pinning
# uses this label instead of node.kubernetes.io/instance-type.
MACHINE_TYPE_LABEL = "inference-stacks/machine-type"
# Base image, K3s and logs need ~60 GB before any model is cached.
BASE_DISK_GB = 60
# Project roles for the VM account: logs and metrics only. Secret access is per secret.
VM_PROJECT_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
JOIN_TOKEN_LENGTH = 48


@dataclass(frozen=True)
class StartupValues:
    """Everything the startup script needs; all plain (the token is fetched at boot)."""

    role: str  # "server" | "agent"
    k3s_version: str
    toolkit_version: str
    project: str
    token_secret: str
    kubeconfig_secret: str
    server_internal_ip: str
    server_external_ip: str
    machine_type: str
    model_cache_dir: str


def render_startup_script(values: StartupValues, template: str | None = None) -> str:
    """The bootstrap script with every `@@NAME@@` replaced by a shell-quoted value."""
    text = template if template is not None else TEMPLATE.read_text(encoding="utf-8")
    if values.role not in ("server", "agent"):
        raise ValueError(f"role must be server or agent, got {values.role!r}")
    replacements = {
        "ROLE": values.role,
        "K3S_VERSION": values.k3s_version,
        "TOOLKIT_VERSION": values.toolkit_version,
        "PROJECT": values.project,
        "TOKEN_SECRET": values.token_secret,
        "KUBECONFIG_SECRET": values.kubeconfig_secret,
        "SERVER_INTERNAL_IP": values.server_internal_ip,
        "SERVER_EXTERNAL_IP": values.server_external_ip,
        "MACHINE_TYPE": values.machine_type,
        "MODEL_CACHE_DIR": values.model_cache_dir,
        "MACHINE_TYPE_LABEL": MACHINE_TYPE_LABEL,
    }
    for key, value in replacements.items():
        text = text.replace(f"@@{key}@@", shlex.quote(value))
    if "@@" in text:
        leftover = text[text.index("@@"):].split("\n", 1)[0]
        raise ValueError(f"unrendered placeholder in startup script: {leftover}")
    return text


def boot_disk_gb(model_cache_gb: int) -> int:
    """Boot disk: the image and K3s plus the hostPath model cache (R18)."""
    return BASE_DISK_GB + model_cache_gb


def startup_script(role: str, args: K3sHostsArgs, token_secret: pulumi.Input[str],
                   kubeconfig_secret: pulumi.Input[str]) -> pulumi.Output[str]:
    """The rendered script once the addresses and secret ids are known."""

    def render(values: list[Any]) -> str:
        internal, external, token, kubeconfig = (str(v) for v in values)
        return render_startup_script(StartupValues(
            role=role, k3s_version=args.k3s_version, toolkit_version=args.toolkit_version,
            project=args.project, token_secret=token, kubeconfig_secret=kubeconfig,
            server_internal_ip=internal, server_external_ip=external,
            machine_type=args.machine_type, model_cache_dir=args.model_cache_dir))

    return pulumi.Output.all(args.server_internal_ip, args.server_external_ip, token_secret,
                             kubeconfig_secret).apply(render)


@dataclass(frozen=True)
class K3sHostsArgs:
    """Flat args for the cluster's VMs."""

    project: str
    zone: str
    machine_type: str
    agent_count: int
    image: str
    model_cache_gb: int
    model_cache_dir: str
    k3s_version: str
    toolkit_version: str
    subnetwork: pulumi.Input[str]
    server_external_ip: pulumi.Input[str]
    server_internal_ip: pulumi.Input[str]
    labels: dict[str, str] = field(default_factory=dict)


class K3sHosts(pulumi.ComponentResource):
    """Server + agents, a dedicated service account, the token and kubeconfig secrets."""

    kubeconfig_secret_id: pulumi.Output[str]
    service_account_email: pulumi.Output[str]
    node_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: K3sHostsArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "K3sHosts"), name, None,
                         with_aliases(opts, "inference-stacks:platform:K3sHosts"))
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-vm", account_id=f"{name}-vm"[:30], project=args.project,
            display_name="K3s GPU nodes (inference-stacks)", opts=child)
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        project_roles = [
            gcp.projects.IAMMember(f"{name}-vm-{role.rsplit('.', 1)[-1].lower()}",
                                   project=args.project, role=role, member=member, opts=child)
            for role in VM_PROJECT_ROLES
        ]
        token_secret, token_access = self._join_token(name, args, member, child)
        kubeconfig = gcp.secretmanager.Secret(
            f"{name}-kubeconfig", secret_id=f"{name}-kubeconfig", project=args.project,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels=args.labels or None, opts=child)
        adder = gcp.secretmanager.SecretIamMember(
            f"{name}-kubeconfig-adder", project=args.project, secret_id=kubeconfig.secret_id,
            role="roles/secretmanager.secretVersionAdder", member=member, opts=child)
        # The VMs boot only once their account may read the token and publish the kubeconfig.
        ready = [*project_roles, token_access, adder]
        self.node_names = []
        for index in range(1 + args.agent_count):
            role = "server" if index == 0 else "agent"
            vm_name = f"{name}-server" if index == 0 else f"{name}-agent-{index}"
            script = startup_script(role, args, token_secret.secret_id, kubeconfig.secret_id)
            vm = self._instance(vm_name, role, args, account.email, script,
                                pulumi.ResourceOptions(parent=self, depends_on=ready))
            self.node_names.append(vm.name)
        self.kubeconfig_secret_id = kubeconfig.secret_id
        self.service_account_email = account.email
        self.register_outputs({
            "kubeconfig_secret_id": self.kubeconfig_secret_id,
            "service_account_email": self.service_account_email,
            "node_names": self.node_names,
        })

    @staticmethod
    def _join_token(name: str, args: K3sHostsArgs, member: pulumi.Output[str],
                    child: pulumi.ResourceOptions
                    ) -> tuple[gcp.secretmanager.Secret, gcp.secretmanager.SecretIamMember]:
        """Generated join token (Pulumi secret) in Secret Manager, readable by the VM account."""
        token = random.RandomPassword(f"{name}-join-token", length=JOIN_TOKEN_LENGTH,
                                      special=False, opts=child)
        secret = gcp.secretmanager.Secret(
            f"{name}-join-token", secret_id=f"{name}-join-token", project=args.project,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels=args.labels or None, opts=child)
        gcp.secretmanager.SecretVersion(
            f"{name}-join-token", secret=secret.id,
            secret_data=token.result, opts=child)  # `result` is a Pulumi secret already
        access = gcp.secretmanager.SecretIamMember(
            f"{name}-join-token-reader", project=args.project, secret_id=secret.secret_id,
            role="roles/secretmanager.secretAccessor", member=member, opts=child)
        return secret, access

    @staticmethod
    def _instance(vm_name: str, role: str, args: K3sHostsArgs, email: pulumi.Output[str],
                  script: pulumi.Output[str],
                  opts: pulumi.ResourceOptions) -> gcp.compute.Instance:
        server = role == "server"
        # The server keeps the static IP (kubeconfig and --tls-san point at it); agents get an
        # ephemeral one for egress (apt, K3s, model downloads).
        interface = gcp.compute.InstanceNetworkInterfaceArgs(
            subnetwork=args.subnetwork,
            network_ip=args.server_internal_ip if server else None,
            access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(
                nat_ip=args.server_external_ip if server else None)],
        )
        return gcp.compute.Instance(
            vm_name,
            name=vm_name,
            project=args.project,
            zone=args.zone,
            machine_type=args.machine_type,  # G2: the L4s come with the machine type
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=args.image, size=boot_disk_gb(args.model_cache_gb),
                    type="pd-balanced")),
            network_interfaces=[interface],
            # GPU VMs cannot live-migrate.
            scheduling=gcp.compute.InstanceSchedulingArgs(
                on_host_maintenance="TERMINATE", automatic_restart=True),
            # The DLVM driver is not signed for Secure Boot.
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_secure_boot=False, enable_vtpm=True, enable_integrity_monitoring=True),
            # Access is governed by the account's IAM roles, so the scope can be broad.
            service_account=gcp.compute.InstanceServiceAccountArgs(
                email=email, scopes=["cloud-platform"]),
            metadata={"startup-script": script},
            tags=[NODE_TAG, SERVER_TAG] if role == "server" else [NODE_TAG],
            labels={**args.labels, "k3s-role": role},
            allow_stopping_for_update=True,
            opts=opts,
        )
