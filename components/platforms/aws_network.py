"""`Vpc`: a VPC across N availability zones with public and private subnets for EKS.

Public subnets hold only load balancers and NAT gateways; nodes and pods live in the private
subnets (the VPC CNI gives pods VPC addresses, so private subnets get the big ranges). Subnets
carry the tags the AWS Load Balancer Controller discovers them by: `kubernetes.io/role/elb` on
public (internet-facing LBs), `kubernetes.io/role/internal-elb` on private (internal LBs).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.component import type_token, with_aliases

ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: private = one eighth of the VPC per AZ, public = /24-ish slices.

    For 10.0.0.0/16 and 3 AZs: private 10.0.0.0/19, 10.0.32.0/19, 10.0.64.0/19 (8k pod/node IPs
    each), public 10.0.224.0/22, 10.0.228.0/22, 10.0.232.0/22 (load balancers and NAT only).
    """
    network = ipaddress.IPv4Network(vpc_cidr)
    if not 1 <= az_count <= 6:
        raise ValueError(f"az_count must be 1..6, got {az_count}")
    if network.prefixlen > 20:
        raise ValueError(f"VPC CIDR {vpc_cidr} is too small; use /20 or larger (e.g. /16)")
    eighths = list(network.subnets(prefixlen_diff=3))
    private = [str(s) for s in eighths[:az_count]]
    # The last eighth is cut into 8 public slices, one per AZ.
    public = [str(s) for s in list(eighths[-1].subnets(prefixlen_diff=3))[:az_count]]
    return public, private


@dataclass(frozen=True)
class VpcArgs:
    """Flat args. `availability_zones` are AZ names (Outputs allowed), one subnet pair each."""

    cluster_name: str
    cidr: str
    availability_zones: list[pulumi.Input[str]]
    nat_gateway_per_az: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Vpc(pulumi.ComponentResource):
    """VPC, internet gateway, public/private subnets, NAT and route tables."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "Vpc"), name, None,
                         with_aliases(opts, "inference-stacks:aws:Vpc"))
        child = pulumi.ResourceOptions(parent=self)
        az_count = len(args.availability_zones)
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, az_count)
        shared = {**args.tags, cluster_tag(args.cluster_name): "shared"}
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags={**shared, "Name": name}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id,
                                      tags={**args.tags, "Name": name}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**args.tags, "Name": f"{name}-public"}, opts=child)
        public, private, nats = [], [], []
        routed: list[aws.ec2.RouteTableAssociation] = []
        for i, az in enumerate(args.availability_zones):
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=public_cidrs[i],
                availability_zone=az, map_public_ip_on_launch=False,
                tags={**shared, ELB_TAG: "1", "Name": f"{name}-public-{i}"}, opts=child)
            routed.append(aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id, opts=child))
            public.append(pub)
            if args.nat_gateway_per_az or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc",
                                  tags={**args.tags, "Name": f"{name}-nat-{i}"}, opts=child)
                nats.append(aws.ec2.NatGateway(
                    f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=pub.id,
                    tags={**args.tags, "Name": f"{name}-nat-{i}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            priv = aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=private_cidrs[i],
                availability_zone=az,
                tags={**shared, INTERNAL_ELB_TAG: "1", "Name": f"{name}-private-{i}"},
                opts=child)
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}", vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                    nat_gateway_id=nats[-1].id)],
                tags={**args.tags, "Name": f"{name}-private-{i}"}, opts=child)
            routed.append(aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}", subnet_id=priv.id, route_table_id=rt.id, opts=child))
            private.append(priv)
        self.vpc_id = vpc.id
        # The subnet ids carry the route table associations as dependencies: whatever launches
        # in a subnet (node groups, HyperPod instances) waits for its route (NAT, IGW); a node
        # without egress cannot pull images or join the cluster.
        self.public_subnet_ids = _routed_ids(public, routed)
        self.private_subnet_ids = _routed_ids(private, routed)
        self.register_outputs({"vpc_id": self.vpc_id, "public_subnet_ids": self.public_subnet_ids,
                               "private_subnet_ids": self.private_subnet_ids})


def _routed_ids(subnets: list[aws.ec2.Subnet],
                routed: list[aws.ec2.RouteTableAssociation]) -> pulumi.Output[list[str]]:
    """The subnets' ids, resolved only once every route table association exists."""
    ready = pulumi.Output.all(*[s.id for s in subnets]).apply(list)
    return pulumi.Output.all(ready, *[r.id for r in routed]).apply(
        lambda values: values[0])


@dataclass(frozen=True)
class SubnetTagsArgs:
    """Existing subnets to tag for load balancer discovery (the VPC is not this stack's)."""

    cluster_name: str
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]


class SubnetTags(pulumi.ComponentResource):
    """`aws.ec2.Tag`s on existing subnets: without them the controller finds no subnets."""

    def __init__(self, name: str, args: SubnetTagsArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "SubnetTags"), name, None,
                         with_aliases(opts, "inference-stacks:aws:SubnetTags"))
        child = pulumi.ResourceOptions(parent=self)
        self.tag_ids: list[pulumi.Output[str]] = []
        for role, ids in ((ELB_TAG, args.public_subnet_ids),
                          (INTERNAL_ELB_TAG, args.private_subnet_ids)):
            for subnet in ids:
                role_tag = aws.ec2.Tag(f"{name}-{subnet}-{role.rsplit('/', 1)[-1]}",
                                       resource_id=subnet, key=role, value="1", opts=child)
                cluster = aws.ec2.Tag(f"{name}-{subnet}-cluster", resource_id=subnet,
                                      key=cluster_tag(args.cluster_name), value="shared",
                                      opts=child)
                self.tag_ids += [role_tag.id, cluster.id]
        self.register_outputs({"tag_ids": self.tag_ids})
