"""Platform `eks`: EKS with GPU node pools pinned to instance types and the AWS LB Controller.

Settings live in `eks_settings.py`; this module resolves GPU placement (R3), checks the rules
that span endpoints and the platform, builds the cluster from the shared AWS components, and
provides the offline plan's state for resources whose outputs only AWS knows.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import defaultdict
from typing import Any

import pulumi
import pulumi_aws as aws

from components.gpu_catalog import lookup_gpu, lookup_instance_type
from components.platforms.aws_lb_controller import (
    AwsLoadBalancerController,
    AwsLoadBalancerControllerArgs,
)
from components.platforms.aws_lb_controller_policy import CHART_VERSION, CONTROLLER_VERSION
from components.platforms.aws_network import SubnetTags, SubnetTagsArgs, Vpc, VpcArgs
from components.platforms.eks import POOL_LABEL, EksCluster, EksClusterArgs, NodeGroupSpec
from components.platforms.gpu_nodes import (
    DEVICE_PLUGIN_VERSION,
    GpuNodes,
    GpuNodesArgs,
    KarpenterPool,
)
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, FsxSource, S3Source
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlacementError, PlatformContext, PlatformSpec
from infra.platforms.eks_settings import EksSettings, GpuPool

__all__ = ["SPEC", "EksSettings", "check", "place"]

SECTION = f"{NAMESPACE}:eks"
# Images (vLLM/SGLang are ~10-20 GiB unpacked) and the OS share the root volume with emptyDir
# model caches; leave this much beside the caches (R18).
IMAGE_HEADROOM_GIB = 40
PLAN_ACCOUNT = "123456789012"


def _pool_summary(settings: EksSettings) -> str:
    return ", ".join(f"{p.name} ({', '.join(p.instance_types)})" for p in settings.gpu_pools)


def _resolve_pool(endpoint: EndpointConfig, settings: EksSettings) -> GpuPool:
    request = endpoint.gpu
    if request.pool is not None:
        pool = settings.pool(request.pool)
        if pool is None:
            raise PlacementError("gpu.pool", f"{request.pool!r} is not a GPU pool of "
                                 f"{SECTION}.gpu_pools; known: {_pool_summary(settings)}")
        return pool
    if request.instance_type is not None:
        wanted = request.instance_type.strip().lower()
        pools = [p for p in settings.gpu_pools if wanted in p.instance_types]
        if not pools:
            raise PlacementError("gpu.instance_type", f"no GPU pool allows {wanted!r}; pools: "
                                 f"{_pool_summary(settings)} (add it to {SECTION}.gpu_pools)")
        return pools[0]
    candidates = settings.gpu_pools
    if request.type is not None:
        gpu = lookup_gpu(request.type)
        candidates = [p for p in candidates if gpu is not None and
                      _pool_gpu(p)[0].name == gpu.name]
    if len(candidates) == 1:
        return candidates[0]
    raise PlacementError("gpu.pool", f"name one of the GPU pools ({_pool_summary(settings)}) "
                         "or gpu.instance_type, so pods are pinned to it (R3)")


def _pool_gpu(pool: GpuPool) -> tuple[Any, int]:
    instance = lookup_instance_type(pool.instance_types[0])
    assert instance is not None, "GpuPool validates its instance types against the catalog"
    return instance.gpu, instance.gpu_count


def place(endpoint: EndpointConfig, settings: EksSettings) -> Placement:
    """Pool -> instance type from the catalog -> pinned Placement + pool selector (R3, R25)."""
    request = endpoint.gpu
    pool = _resolve_pool(endpoint, settings)
    gpu, per_node = _pool_gpu(pool)
    if request.instance_type is not None:
        instance_type = request.instance_type.strip().lower()
        if instance_type not in pool.instance_types:
            raise PlacementError("gpu.instance_type", f"{instance_type!r} is not in pool "
                                 f"{pool.name!r} ({', '.join(pool.instance_types)})")
    elif len(pool.instance_types) == 1:
        instance_type = pool.instance_types[0]
    else:
        raise PlacementError("gpu.instance_type", f"pool {pool.name!r} allows "
                             f"{', '.join(pool.instance_types)}; name one so pods are pinned (R3)")
    if request.type is not None and (found := lookup_gpu(request.type)) != gpu:
        name = found.name if found else repr(request.type)
        raise PlacementError("gpu.type", f"{name} but pool {pool.name!r} has {gpu.name}")
    if request.count > per_node:
        raise PlacementError("gpu.count", f"{request.count} GPUs per replica but "
                             f"{instance_type} has {per_node}")
    return Placement.pinned(gpu, request.count, instance_type, {POOL_LABEL: pool.name})


def _gib(quantity: str) -> float:
    """Kubernetes quantity -> GiB (binary and decimal suffixes)."""
    match = re.match(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$", quantity)
    if match is None:
        return 0.0
    factor = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6,
              "G": 1e9, "T": 1e12, None: 1}[match.group(2)]
    return float(match.group(1)) * factor / 2**30


def _endpoint_problems(index: int, endpoint: EndpointConfig, settings: EksSettings,
                       gpus_by_pool: dict[str, int]) -> list[Problem]:
    from infra.compose import cache_size  # compose imports the platform registry

    at = f"{NAMESPACE}:" + key_path("endpoints", index)
    problems = []
    exposure = endpoint.exposure
    if exposure.type != "cluster" and not settings.aws_load_balancer_controller:
        problems.append(Problem(f"{at}.exposure.type", f"{exposure.type!r} needs the AWS Load "
                                f"Balancer Controller; set {SECTION}.aws_load_balancer_controller"
                                ": true or use type cluster"))
    if exposure.scheme == "internet-facing" and settings.vpc.existing_vpc_id and \
            not settings.vpc.public_subnet_ids:
        problems.append(Problem(f"{at}.exposure.scheme", "internet-facing needs public subnets: "
                                f"set {SECTION}.vpc.public_subnet_ids"))
    if isinstance(endpoint.source, FsxSource):
        problems.append(Problem(f"{at}.source.type", "'fsx' is only for platform hyperpod"))
    if isinstance(endpoint.source, S3Source) and endpoint.source.credentials_secret is None:
        problems.append(Problem(
            f"{at}.source.credentials_secret", "missing; platform eks does not create an IRSA "
            "role for engine pods and node credentials are not reachable from pods (IMDSv2 hop "
            "limit 1), so name a Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"))
    try:
        placement = place(endpoint, settings)
    except PlacementError:
        return problems  # reported by the shared rules with its key path
    pool = settings.pool(placement.node_selector[POOL_LABEL])
    assert pool is not None
    gpus_by_pool[pool.name] += endpoint.replicas * placement.count
    if endpoint.cache.type == "emptydir":
        need = _gib(cache_size(endpoint)) * math.ceil(_per_node(endpoint, placement, pool))
        if need + IMAGE_HEADROOM_GIB > pool.root_volume_gib:
            problems.append(Problem(f"{at}.cache.size", (
                f"{cache_size(endpoint)} per replica on nodes of pool {pool.name!r} with a "
                f"{pool.root_volume_gib} GiB root volume leaves less than {IMAGE_HEADROOM_GIB} "
                f"GiB for images (R18); raise {SECTION}.gpu_pools[].root_volume_gib to at least "
                f"{math.ceil(need + IMAGE_HEADROOM_GIB)} or lower the cache size")))
    return problems


def _per_node(endpoint: EndpointConfig, placement: Placement, pool: GpuPool) -> float:
    """Replicas of this endpoint that can share one node of the pool."""
    return max(1, min(endpoint.replicas, _pool_gpu(pool)[1] // placement.count))


def check(config: StackConfig) -> list[Problem]:
    """Exposure needs, sources, cache vs root volume, and pool capacity vs replicas."""
    settings: EksSettings = config.platform_settings
    problems: list[Problem] = []
    gpus_by_pool: dict[str, int] = defaultdict(int)
    for index, endpoint in enumerate(config.endpoints):
        problems += _endpoint_problems(index, endpoint, settings, gpus_by_pool)
    for i, pool in enumerate(settings.gpu_pools):
        capacity = pool.max_size * _pool_gpu(pool)[1]
        if settings.autoscaling == "managed" and gpus_by_pool[pool.name] > capacity:
            problems.append(Problem(
                f"{SECTION}.gpu_pools[{i}].max_size",
                f"{pool.max_size} nodes x {_pool_gpu(pool)[1]} GPU = {capacity} GPUs, but the "
                f"endpoints on pool {pool.name!r} need {gpus_by_pool[pool.name]}; raise max_size",
            ))
    return problems


def _node_specs(settings: EksSettings) -> tuple[NodeGroupSpec, list[NodeGroupSpec]]:
    system = settings.system_nodes
    system_spec = NodeGroupSpec(
        name="system", instance_types=[system.instance_type], ami_type="AL2023_x86_64_STANDARD",
        min_size=system.min_size, desired_size=system.desired_size, max_size=system.max_size,
        root_volume_gib=system.root_volume_gib)
    pools = [NodeGroupSpec(
        name=p.name, instance_types=list(p.instance_types), ami_type=p.ami_type,
        min_size=p.min_size, desired_size=p.desired_size, max_size=p.max_size,
        root_volume_gib=p.root_volume_gib, labels=dict(p.labels), capacity_type=p.capacity_type,
    ) for p in settings.gpu_pools]
    return system_spec, pools


def cluster_name(settings: EksSettings, stack: str) -> str:
    return settings.cluster_name or f"inference-stacks-{stack}"[:100]


def build(config: StackConfig) -> PlatformContext:
    settings: EksSettings = config.platform_settings
    name = cluster_name(settings, pulumi.get_stack())
    tags = {"inference-stacks:stack": pulumi.get_stack(), "inference-stacks:cluster": name,
            **settings.tags}
    provider = aws.Provider("aws", region=settings.region,
                            default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    opts = pulumi.ResourceOptions(providers=[provider])
    network = _network(settings, name, provider, opts)
    system_spec, pool_specs = _node_specs(settings)
    cluster = EksCluster("eks", EksClusterArgs(
        name=name, kubernetes_version=settings.kubernetes_version, region=settings.region,
        vpc_id=network[0], public_subnet_ids=network[1], private_subnet_ids=network[2],
        system_nodes=system_spec, admin_principal_arns=list(settings.admin_principal_arns),
        public_access_cidrs=list(settings.api_public_access_cidrs),
        log_types=list(settings.cluster_log_types)), opts=opts)
    karpenter = {
        p.name: KarpenterPool(settings.karpenter.node_class, _pool_gpu(p)[0].name.lower(),
                              settings.karpenter.gpu_limit)
        for p in settings.gpu_pools
    } if settings.autoscaling == "karpenter" else {}
    gpu_nodes = GpuNodes("gpu", GpuNodesArgs(
        cluster_name=name, node_role_arn=cluster.node_role_arn, subnet_ids=network[2],
        pools=pool_specs, provider=cluster.provider, karpenter=karpenter,
        depends_on=[cluster.system_node_group]), opts=opts)
    depends_on: list[pulumi.Resource] = [cluster.system_node_group, gpu_nodes.device_plugin,
                                         *gpu_nodes.node_groups.values()]
    outputs: dict[str, Any] = {
        "cluster_name": name, "cluster_arn": cluster.arn, "region": settings.region,
        "kubernetes_version": settings.kubernetes_version,
        "oidc_provider_arn": cluster.oidc_provider_arn, "oidc_issuer": cluster.oidc_issuer,
        "vpc_id": network[0], "private_subnet_ids": network[2], "public_subnet_ids": network[1],
        "node_role_arn": cluster.node_role_arn,
        "node_pools": _pool_outputs(settings),
        "device_plugin_chart_version": DEVICE_PLUGIN_VERSION,
    }
    if settings.aws_load_balancer_controller:
        controller = AwsLoadBalancerController("aws-lb-controller", AwsLoadBalancerControllerArgs(
            cluster_name=name, region=settings.region, vpc_id=network[0],
            oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
            provider=cluster.provider, node_selector={POOL_LABEL: "system"},
            depends_on=[cluster.system_node_group]), opts=opts)
        depends_on.append(controller.release)
        outputs["aws_load_balancer_controller"] = {
            "version": CONTROLLER_VERSION, "chart_version": CHART_VERSION,
            "role_arn": controller.role_arn}
    return PlatformContext(
        name="eks", provider=cluster.provider, kubernetes_version=settings.kubernetes_version,
        kubeconfig=cluster.kubeconfig, aws_region=settings.region,
        load_balancers=settings.aws_load_balancer_controller, depends_on=depends_on,
        outputs=outputs)


def _network(settings: EksSettings, name: str, provider: aws.Provider,
             opts: pulumi.ResourceOptions) -> tuple[Any, Any, Any]:
    """(vpc_id, public_subnet_ids, private_subnet_ids) of a new or the existing VPC."""
    vpc = settings.vpc
    if vpc.existing_vpc_id is not None:
        if vpc.tag_existing_subnets:
            SubnetTags("subnet-tags", SubnetTagsArgs(name, list(vpc.public_subnet_ids),
                                                     list(vpc.private_subnet_ids)), opts=opts)
        return vpc.existing_vpc_id, list(vpc.public_subnet_ids), list(vpc.private_subnet_ids)
    if vpc.availability_zone_names:
        names: list[Any] = list(vpc.availability_zone_names)
        return _new_vpc(settings, name, names, opts)
    zones = aws.get_availability_zones_output(
        state="available", region=settings.region,
        opts=pulumi.InvokeOutputOptions(provider=provider))
    names = [zones.names.apply(functools.partial(_zone, index=i, region=settings.region))
             for i in range(vpc.availability_zones)]
    return _new_vpc(settings, name, names, opts)


def _new_vpc(settings: EksSettings, name: str, zones: list[Any],
             opts: pulumi.ResourceOptions) -> tuple[Any, Any, Any]:
    network = Vpc("network", VpcArgs(cluster_name=name, cidr=settings.vpc.cidr,
                                     availability_zones=zones,
                                     nat_gateway_per_az=settings.vpc.nat_gateway_per_az),
                  opts=opts)
    return network.vpc_id, network.public_subnet_ids, network.private_subnet_ids


def _zone(names: list[str], index: int, region: str) -> str:
    if index >= len(names):
        raise pulumi.RunError(f"{region} has {len(names)} available zones; lower "
                              f"{SECTION}.vpc.availability_zones to {len(names)} or fewer")
    return sorted(names)[index]


def _pool_outputs(settings: EksSettings) -> dict[str, Any]:
    result = {}
    for pool in settings.gpu_pools:
        gpu, count = _pool_gpu(pool)
        result[pool.name] = {
            "instance_types": list(pool.instance_types), "gpu": gpu.name, "gpus_per_node": count,
            "ami_type": pool.ami_type, "capacity_type": pool.capacity_type,
            "min_size": pool.min_size, "max_size": pool.max_size,
            "node_selector": {POOL_LABEL: pool.name},
        }
    return result


# --- Offline plan: what AWS would return -------------------------------------------------------

def _plan_cluster(args: Any) -> dict[str, Any]:
    """`eks:index:Cluster` outputs the program reads (one opaque resource under mocks)."""
    name = args.inputs.get("name") or args.name
    issuer = f"oidc.eks.plan.invalid/id/{name.upper().replace('-', '')[:32]}"
    endpoint = f"https://{name}.eks.plan.invalid"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": endpoint,
                                                "certificate-authority-data": "UExBTg=="}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--output", "json"]}}}],
    }
    return {
        "kubeconfigJson": json.dumps(kubeconfig), "kubeconfig": kubeconfig,
        "oidcIssuer": issuer, "oidcProviderUrl": f"https://{issuer}",
        "oidcProviderArn": f"arn:aws:iam::{PLAN_ACCOUNT}:oidc-provider/{issuer}",
        "clusterSecurityGroupId": f"sg-{name}-cluster",
    }


def _plan_arn(service: str, kind: str) -> Any:
    return lambda args: {"arn": f"arn:aws:{service}::{PLAN_ACCOUNT}:{kind}/{args.name}"}


def _plan_zones(args: Any) -> dict[str, Any]:
    region = args.args.get("region") or "us-east-1"
    return {"names": [f"{region}{s}" for s in "abc"], "zoneIds": [f"z{s}" for s in "abc"],
            "id": region, "state": "available"}


SPEC = PlatformSpec(
    name="eks",
    settings_model=EksSettings,
    place=place,
    check=check,
    build=build,
    kubernetes_version=lambda settings: settings.kubernetes_version,
    plan_state_hooks={
        "eks:index:Cluster": _plan_cluster,
        "aws:iam/role:Role": _plan_arn("iam", "role"),
        "aws:iam/policy:Policy": _plan_arn("iam", "policy"),
        "aws:kms/key:Key": lambda a: {"arn": f"arn:aws:kms:plan:{PLAN_ACCOUNT}:key/{a.name}",
                                      "keyId": a.name},
        "aws:ec2/launchTemplate:LaunchTemplate": lambda a: {"latestVersion": 1},
    },
    plan_call_hooks={
        "aws:index/getAvailabilityZones:getAvailabilityZones": _plan_zones,
    },
)
