"""`GcpNetwork`: VPC, subnet, firewall rules and the server's static IP for a K3s GPU cluster.

Why the rules look like this (R24): SSH (22), the K3s API (6443) and, only when asked, the
NodePort range open to the configured admin CIDRs and nothing else; flannel VXLAN (8472/udp),
the kubelet (10250/tcp) and the API for joining agents only between cluster nodes (by network
tag). A custom-mode VPC denies all other ingress by default. `firewall_rules` is pure, so the
"never 0.0.0.0/0 unless the stack says so" property is unit-tested without Pulumi.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.component import type_token, with_aliases

NODE_TAG = "k3s-node"
SERVER_TAG = "k3s-server"
WORLD = ("0.0.0.0/0", "::/0")
NODEPORT_RANGE = "30000-32767"
# Host offset of the server's reserved internal address inside the subnet (GCP reserves .0, .1
# and the last two addresses; a fixed offset keeps the address stable across replacements).
SERVER_HOST_OFFSET = 10


@dataclass(frozen=True)
class FirewallRule:
    """One ingress rule: what is allowed, from where, to which tagged VMs."""

    name: str
    description: str
    protocol_ports: tuple[tuple[str, tuple[str, ...]], ...]
    target_tags: tuple[str, ...]
    source_ranges: tuple[str, ...] = ()
    source_tags: tuple[str, ...] = ()


def is_world(cidr: str) -> bool:
    """True for a CIDR covering the whole internet (any /0)."""
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


def firewall_rules(admin_cidrs: tuple[str, ...], open_nodeports: bool) -> list[FirewallRule]:
    """Admin rules from `admin_cidrs` only (none when empty), intra-cluster rules by tag (R24).

    Callers validate that a /0 in `admin_cidrs` was explicitly allowed by the stack.
    """
    rules = [FirewallRule(
        "intra-cluster",
        "K3s between cluster nodes: API for agents, flannel VXLAN, kubelet",
        (("tcp", ("6443", "10250")), ("udp", ("8472",))),
        target_tags=(NODE_TAG,), source_tags=(NODE_TAG,),
    )]
    if not admin_cidrs:
        return rules
    rules.append(FirewallRule(
        "admin-ssh", "SSH from the admin CIDRs", (("tcp", ("22",)),),
        target_tags=(NODE_TAG,), source_ranges=admin_cidrs,
    ))
    rules.append(FirewallRule(
        "admin-k3s-api", "K3s API from the admin CIDRs", (("tcp", ("6443",)),),
        target_tags=(SERVER_TAG,), source_ranges=admin_cidrs,
    ))
    if open_nodeports:
        rules.append(FirewallRule(
            "admin-nodeports", "Kubernetes NodePorts from the admin CIDRs",
            (("tcp", (NODEPORT_RANGE,)),), target_tags=(NODE_TAG,), source_ranges=admin_cidrs,
        ))
    return rules


def server_internal_ip(subnet_cidr: str) -> str:
    """The server's reserved internal address: a fixed host of the subnet."""
    return str(ipaddress.ip_network(subnet_cidr)[SERVER_HOST_OFFSET])


@dataclass(frozen=True)
class GcpNetworkArgs:
    """Flat args for the network of one K3s cluster."""

    project: str
    region: str
    subnet_cidr: str
    admin_cidrs: tuple[str, ...] = ()
    open_nodeports: bool = False
    labels: dict[str, str] = field(default_factory=dict)


class GcpNetwork(pulumi.ComponentResource):
    """VPC + subnet + firewall rules + a static external IP for the K3s server."""

    network: gcp.compute.Network
    subnetwork: gcp.compute.Subnetwork
    server_external_ip: pulumi.Output[str]
    server_internal_ip: pulumi.Output[str]

    def __init__(self, name: str, args: GcpNetworkArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "GcpNetwork"), name, None,
                         with_aliases(opts, "inference-stacks:platform:GcpNetwork"))
        child = pulumi.ResourceOptions(parent=self)
        self.network = gcp.compute.Network(
            f"{name}-vpc", project=args.project, auto_create_subnetworks=False,
            description="K3s GPU cluster (inference-stacks)", opts=child)
        self.subnetwork = gcp.compute.Subnetwork(
            f"{name}-subnet", project=args.project, region=args.region, network=self.network.id,
            ip_cidr_range=args.subnet_cidr, private_ip_google_access=True, opts=child)
        self.firewalls = [
            gcp.compute.Firewall(
                f"{name}-{rule.name}",
                project=args.project,
                network=self.network.id,
                description=rule.description,
                direction="INGRESS",
                allows=[gcp.compute.FirewallAllowArgs(protocol=proto, ports=list(ports))
                        for proto, ports in rule.protocol_ports],
                target_tags=list(rule.target_tags),
                source_ranges=list(rule.source_ranges) or None,
                source_tags=list(rule.source_tags) or None,
                opts=child,
            )
            for rule in firewall_rules(args.admin_cidrs, args.open_nodeports)
        ]
        external = gcp.compute.Address(
            f"{name}-server-ip", project=args.project, region=args.region,
            address_type="EXTERNAL",
            labels=args.labels or None, opts=child)
        internal = gcp.compute.Address(
            f"{name}-server-internal-ip", project=args.project, region=args.region,
            address_type="INTERNAL",
            subnetwork=self.subnetwork.id, address=server_internal_ip(args.subnet_cidr),
            opts=child)
        self.server_external_ip = external.address
        self.server_internal_ip = internal.address
        self.register_outputs({
            "network": self.network.name,
            "subnetwork": self.subnetwork.name,
            "server_external_ip": self.server_external_ip,
            "server_internal_ip": self.server_internal_ip,
        })
