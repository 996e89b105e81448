"""`K3sHosts`: the K3s server (and agent) GPU VMs on GCP, their account, secrets and bootstrap.

Why: L4 exists only on G2 machine types, whose GPUs come with the machine type (no
`guest_accelerators`), GPU VMs must terminate on host maintenance, the Deep Learning VM image
ships the driver (Secure Boot off: the driver is not signed for it), and K3s must find the NVIDIA
container toolkit at its first start (docs/platforms/k3s.md). The kubeconfig cannot be read back
at deploy time, so the server publishes it to a Secret Manager secret the program created.

Trust chain (issue 12, point 5): the server and the agents run as different service accounts.
Only the server's may read the server join token and add kubeconfig versions; agents' may read
only the agent token (K3s `--agent-token`), which joins agents but not servers. So a
compromised agent can neither join a rogue server nor publish a kubeconfig that points the
workload stack elsewhere. The server encrypts Secrets at rest (`--secrets-encryption`), and
pods cannot reach the GCE metadata server (the node account's token lives there).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
import yaml

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
# K3s' default cluster CIDR, passed explicitly so the metadata block matches it.
POD_CIDR = "10.42.0.0/16"
METADATA_IP = "169.254.169.254"
K3S_API_PORT = 6443


def server_url(server_external_ip: str) -> str:
    """The API server URL the published kubeconfig must name."""
    return f"https://{server_external_ip}:{K3S_API_PORT}"


def kubeconfig_problems(kubeconfig: str, expected_server_url: str) -> list[str]:
    """What is wrong with a kubeconfig read back from Secret Manager for this cluster.

    The workload stack calls it before using the kubeconfig: exactly one cluster, pointing at
    the cluster stack's own server URL, with an embedded CA (never insecure-skip-tls-verify).
    """
    try:
        doc = yaml.safe_load(kubeconfig) or {}
    except yaml.YAMLError as exc:
        return [f"kubeconfig is not YAML: {exc}"]
    clusters = doc.get("clusters") or []
    if len(clusters) != 1:
        return [f"expected exactly one cluster, found {len(clusters)}"]
    cluster = clusters[0].get("cluster") or {}
    problems = []
    if cluster.get("server") != expected_server_url:
        problems.append(f"server is {cluster.get('server')!r}, expected {expected_server_url!r}")
    if cluster.get("insecure-skip-tls-verify"):
        problems.append("insecure-skip-tls-verify is set")
    if not cluster.get("certificate-authority-data"):
        problems.append("no embedded certificate-authority-data")
    return problems


@dataclass(frozen=True)
class StartupValues:
    """Everything the startup script needs; all plain (the token is fetched at boot)."""

    role: str  # "server" | "agent"
    k3s_version: str
    toolkit_version: str
    project: str
    token_secret: str  # server join token: read by the server only ("" on agents)
    kubeconfig_secret: str
    server_internal_ip: str
    server_external_ip: str
    machine_type: str
    model_cache_dir: str
    agent_token_secret: str = ""  # agent join token: read by the server and the agents


def render_startup_script(values: StartupValues, template: str | None = None) -> str:
    """The bootstrap script with every `@@NAME@@` replaced by a shell-quoted value."""
    text = template if template is not None else TEMPLATE.read_text(encoding="utf-8")
    if values.role not in ("server", "agent"):
        raise ValueError(f"role must be server or agent, got {values.role!r}")
    if not values.agent_token_secret:
        raise ValueError("agent_token_secret is required (agents join with the agent token)")
    replacements = {
        "ROLE": values.role,
        "K3S_VERSION": values.k3s_version,
        "TOOLKIT_VERSION": values.toolkit_version,
        "PROJECT": values.project,
        # Agents never learn which secret holds the server token.
        "TOKEN_SECRET": values.token_secret if values.role == "server" else "",
        "AGENT_TOKEN_SECRET": values.agent_token_secret,
        "POD_CIDR": POD_CIDR,
        "METADATA_IP": METADATA_IP,
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
                   agent_token_secret: pulumi.Input[str],
                   kubeconfig_secret: pulumi.Input[str]) -> pulumi.Output[str]:
    """The rendered script once the addresses and secret ids are known."""

    def render(values: list[Any]) -> str:
        internal, external, token, agent_token, kubeconfig = (str(v) for v in values)
        return render_startup_script(StartupValues(
            role=role, k3s_version=args.k3s_version, toolkit_version=args.toolkit_version,
            project=args.project, token_secret=token if role == "server" else "",
            agent_token_secret=agent_token, kubeconfig_secret=kubeconfig,
            server_internal_ip=internal, server_external_ip=external,
            machine_type=args.machine_type, model_cache_dir=args.model_cache_dir))

    return pulumi.Output.all(args.server_internal_ip, args.server_external_ip, token_secret,
                             agent_token_secret, kubeconfig_secret).apply(render)


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
    # Pulumi `protect` and GCE deletion protection on the VMs (the model cache is on their
    # boot disks, deleted with them).
    protect: bool = True


class K3sHosts(pulumi.ComponentResource):
    """Server + agents, one service account each role, the join tokens and kubeconfig secrets."""

    kubeconfig_secret_id: pulumi.Output[str]
    service_account_email: pulumi.Output[str]  # the server's: the only kubeconfig writer
    agent_service_account_email: pulumi.Output[str]
    server_url: pulumi.Output[str]
    node_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: K3sHostsArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "K3sHosts"), name, None,
                         with_aliases(opts, "inference-stacks:platform:K3sHosts"))
        child = pulumi.ResourceOptions(parent=self)
        server_account, server_member, server_roles = self._account(
            f"{name}-vm", "K3s server (inference-stacks)", args, child)
        agent_account, agent_member, agent_roles = self._account(
            f"{name}-agent", "K3s GPU agents (inference-stacks)", args, child)
        token_secret, token_access = self._token(
            name, "join-token", args, [server_member], child)
        agent_secret, agent_access = self._token(
            name, "agent-token", args, [server_member, agent_member], child)
        kubeconfig = self._secret(f"{name}-kubeconfig", args, child)
        adder = gcp.secretmanager.SecretIamMember(
            f"{name}-kubeconfig-adder", project=args.project, secret_id=kubeconfig.secret_id,
            role="roles/secretmanager.secretVersionAdder", member=server_member, opts=child)
        # The VMs boot only once their account may read their token (and publish, server).
        server_ready = [*server_roles, *token_access, *agent_access, adder]
        agent_ready = [*agent_roles, *agent_access]
        self.node_names = []
        for index in range(1 + args.agent_count):
            role = "server" if index == 0 else "agent"
            vm_name = f"{name}-server" if index == 0 else f"{name}-agent-{index}"
            script = startup_script(role, args, token_secret.secret_id, agent_secret.secret_id,
                                    kubeconfig.secret_id)
            account = server_account if role == "server" else agent_account
            vm = self._instance(vm_name, role, args, account.email, script,
                                pulumi.ResourceOptions(
                                    parent=self, protect=args.protect,
                                    depends_on=server_ready if role == "server" else agent_ready))
            self.node_names.append(vm.name)
        self.kubeconfig_secret_id = kubeconfig.secret_id
        self.service_account_email = server_account.email
        self.agent_service_account_email = agent_account.email
        self.server_url = pulumi.Output.from_input(args.server_external_ip).apply(server_url)
        self.register_outputs({
            "kubeconfig_secret_id": self.kubeconfig_secret_id,
            "service_account_email": self.service_account_email,
            "agent_service_account_email": self.agent_service_account_email,
            "server_url": self.server_url,
            "node_names": self.node_names,
        })

    @staticmethod
    def _account(account_name: str, display: str, args: K3sHostsArgs,
                 child: pulumi.ResourceOptions
                 ) -> tuple[gcp.serviceaccount.Account, pulumi.Output[str], list[Any]]:
        account = gcp.serviceaccount.Account(
            account_name, account_id=account_name[:30], project=args.project,
            display_name=display, opts=child)
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        roles = [
            gcp.projects.IAMMember(f"{account_name}-{role.rsplit('.', 1)[-1].lower()}",
                                   project=args.project, role=role, member=member, opts=child)
            for role in VM_PROJECT_ROLES
        ]
        return account, member, roles

    @staticmethod
    def _secret(secret_name: str, args: K3sHostsArgs,
                child: pulumi.ResourceOptions) -> gcp.secretmanager.Secret:
        return gcp.secretmanager.Secret(
            secret_name, secret_id=secret_name, project=args.project,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels=args.labels or None, opts=child)

    @classmethod
    def _token(cls, name: str, kind: str, args: K3sHostsArgs,
               readers: list[pulumi.Output[str]], child: pulumi.ResourceOptions
               ) -> tuple[gcp.secretmanager.Secret, list[gcp.secretmanager.SecretIamMember]]:
        """Generated token (Pulumi secret) in Secret Manager, readable by `readers` only."""
        token = random.RandomPassword(f"{name}-{kind}", length=JOIN_TOKEN_LENGTH,
                                      special=False, opts=child)
        secret = cls._secret(f"{name}-{kind}", args, child)
        gcp.secretmanager.SecretVersion(
            f"{name}-{kind}", secret=secret.id,
            secret_data=token.result, opts=child)  # `result` is a Pulumi secret already
        suffixes = ["reader", "agent-reader"]
        access = [
            gcp.secretmanager.SecretIamMember(
                f"{name}-{kind}-{suffixes[i]}", project=args.project,
                secret_id=secret.secret_id, role="roles/secretmanager.secretAccessor",
                member=member, opts=child)
            for i, member in enumerate(readers)
        ]
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
            deletion_protection=args.protect,
            opts=opts,
        )
