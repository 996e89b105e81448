"""Platform `eks` resources: EKS with GPU node pools pinned to instance types and the AWS LB
Controller, built from the shared AWS components.

Rules and placement live in `infra/validate/platforms/eks.py`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.endpoint import InferenceEndpoint
from components.engine_iam import EngineIdentity, EngineIdentityArgs
from components.platforms.aws_lb_controller import (
    AwsLoadBalancerController,
    AwsLoadBalancerControllerArgs,
)
from components.platforms.aws_lb_controller_policy import CHART_VERSION, CONTROLLER_VERSION
from components.platforms.aws_network import SubnetTags, SubnetTagsArgs, Vpc, VpcArgs
from components.platforms.cluster_autoscaler import (
    DO_NOT_DISRUPT,
    GPU_LABEL,
    MIN_EMPTY_NODE_SECONDS,
    SAFE_TO_EVICT,
    VERSIONS,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    duration,
    node_template_tags,
)
from components.platforms.eks import POOL_LABEL, EksCluster, EksClusterArgs, NodeGroupSpec
from components.platforms.gpu_nodes import (
    DEVICE_PLUGIN_VERSION,
    GpuNodes,
    GpuNodesArgs,
    KarpenterPool,
    gpu_pool_spec,
    node_labels,
)
from infra.config.endpoint import S3Source
from infra.config.platforms.eks import EksSettings
from infra.config.stack import EksStack
from infra.platforms.base import (
    EndpointRequest,
    PlatformBuilder,
    PlatformContext,
    deploy_engines,
    keda_if_autoscaled,
)
from infra.resolve.endpoint import endpoint_spec
from infra.validate.platforms.eks import (
    SECTION,
    NodeBounds,
    cluster_autoscaler,
    node_bounds,
    pool_gpu,
)


def _node_specs(config: EksStack) -> tuple[NodeGroupSpec, list[NodeGroupSpec]]:
    """System and GPU node groups, sized by `node_bounds` (the rules check the peak fits)."""
    settings = config.platform_settings
    bounds = node_bounds(config)
    autoscaled = cluster_autoscaler(config)
    system = settings.system_nodes
    system_spec = NodeGroupSpec(
        name="system", instance_types=[system.instance_type], ami_type="AL2023_x86_64_STANDARD",
        min_size=system.min_size, desired_size=system.desired_size, max_size=system.max_size,
        root_volume_gib=system.root_volume_gib, autoscaled=autoscaled)
    pools = [NodeGroupSpec(
        name=p.name, instance_types=list(p.instance_types), ami_type=p.ami_type,
        min_size=bounds[p.name].min_size, desired_size=bounds[p.name].desired_size,
        max_size=bounds[p.name].max_size, root_volume_gib=p.root_volume_gib,
        labels={**p.labels, **_gpu_label(p, autoscaled)},
        capacity_type=p.capacity_type, kubernetes_version=settings.kubernetes_version,
        autoscaled=autoscaled,
    ) for p in settings.gpu_pools]
    return system_spec, pools


def _gpu_label(pool: Any, autoscaled: bool) -> dict[str, str]:
    """With the autoscaler: the accelerator label, set before the node joins."""
    return {GPU_LABEL: f"nvidia-{pool_gpu(pool)[0].name.lower()}"} if autoscaled else {}


def empty_node_seconds(config: EksStack) -> int:
    """How long a GPU node stays once empty: at least the autoscaler's default, and at least
    the longest replica scale-down window, so a replica that returns finds its node."""
    windows = [e.autoscaling.scale_down_window_s for e in config.endpoints if e.autoscaling]
    return max([MIN_EMPTY_NODE_SECONDS, *windows])


def pod_annotations(config: EksStack) -> dict[str, str]:
    """Engine pods on nodes an autoscaler may remove: never evicted to consolidate."""
    if config.platform_settings.autoscaling == "karpenter":
        return {**SAFE_TO_EVICT, **DO_NOT_DISRUPT}
    return dict(SAFE_TO_EVICT) if cluster_autoscaler(config) else {}


def cluster_name(settings: EksSettings, stack: str) -> str:
    return settings.cluster_name or f"inference-stacks-{stack}"[:100]


def build(config: EksStack) -> PlatformContext:
    settings = config.platform_settings
    name = cluster_name(settings, pulumi.get_stack())
    tags = {"inference-stacks:stack": pulumi.get_stack(), "inference-stacks:cluster": name,
            **settings.tags}
    provider = aws.Provider("aws", region=settings.region,
                            default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    opts = pulumi.ResourceOptions(providers=[provider])
    network = _network(settings, name, provider, opts)
    system_spec, pool_specs = _node_specs(config)
    cluster = EksCluster("eks", EksClusterArgs(
        name=name, kubernetes_version=settings.kubernetes_version, region=settings.region,
        vpc_id=network[0], public_subnet_ids=network[1], private_subnet_ids=network[2],
        system_nodes=system_spec, admin_principal_arns=list(settings.admin_principal_arns),
        public_access_cidrs=list(settings.api_public_access_cidrs),
        log_types=list(settings.cluster_log_types), protect=config.protect), opts=opts)
    karpenter = {
        p.name: KarpenterPool(settings.karpenter.node_class, pool_gpu(p)[0].name.lower(),
                              settings.karpenter.gpu_limit, duration(empty_node_seconds(config)))
        for p in settings.gpu_pools
    } if settings.autoscaling == "karpenter" else {}
    gpu_nodes = GpuNodes("gpu", GpuNodesArgs(
        cluster_name=name, node_role_arn=cluster.node_role_arn, subnet_ids=network[2],
        pools=pool_specs, provider=cluster.provider, karpenter=karpenter,
        asg_tags=_asg_tags(config, pool_specs), depends_on=[cluster.system_node_group]),
        opts=opts)
    depends_on: list[pulumi.Resource] = [cluster.system_node_group, gpu_nodes.device_plugin,
                                         *gpu_nodes.node_groups.values()]
    outputs: dict[str, Any] = {
        "cluster_name": name, "cluster_arn": cluster.arn, "region": settings.region,
        "kubernetes_version": settings.kubernetes_version,
        "oidc_provider_arn": cluster.oidc_provider_arn, "oidc_issuer": cluster.oidc_issuer,
        "vpc_id": network[0], "private_subnet_ids": network[2], "public_subnet_ids": network[1],
        "node_role_arn": cluster.node_role_arn,
        "node_pools": _pool_outputs(settings, node_bounds(config)),
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
    if cluster_autoscaler(config):
        autoscaler = ClusterAutoscaler("cluster-autoscaler", ClusterAutoscalerArgs(
            cluster_name=name, region=settings.region,
            kubernetes_version=settings.kubernetes_version,
            oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
            provider=cluster.provider, node_selector={POOL_LABEL: "system"},
            empty_node_seconds=empty_node_seconds(config),
            depends_on=[cluster.system_node_group]), opts=opts)
        chart_version, image_tag = VERSIONS[settings.kubernetes_version]
        outputs["cluster_autoscaler"] = {"chart_version": chart_version, "version": image_tag,
                                         "role_arn": autoscaler.role_arn}
    depends_on += keda_if_autoscaled(config, cluster.provider, {POOL_LABEL: "system"},
                                     [cluster.system_node_group])
    return EksContext(
        aws_provider=provider, oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        load_balancer_cidrs=(_vpc_cidr(settings, provider),),
        name="eks", provider=cluster.provider, kubeconfig=cluster.kubeconfig,
        aws_region=settings.region, depends_on=depends_on,
        outputs=outputs, protect=config.protect)


def _vpc_cidr(settings: EksSettings, provider: aws.Provider) -> Any:
    """The VPC's CIDR: the load balancers' ENIs (IP target mode) live in its subnets."""
    if settings.vpc.existing_vpc_id is None:
        return settings.vpc.cidr
    return aws.ec2.get_vpc_output(id=settings.vpc.existing_vpc_id,
                                  opts=pulumi.InvokeOutputOptions(provider=provider)).cidr_block


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


def _asg_tags(config: EksStack, pools: list[NodeGroupSpec]) -> dict[str, dict[str, str]]:
    """Node-template tags per GPU pool, so the Cluster Autoscaler can add a first node to an
    empty group (it learns GPUs, labels and taints from them)."""
    if not cluster_autoscaler(config):
        return {}
    settings = config.platform_settings
    result = {}
    for spec in pools:
        pool = settings.pool(spec.name)
        assert pool is not None
        gpu_spec = gpu_pool_spec(spec)
        result[spec.name] = node_template_tags(node_labels(gpu_spec), gpu_spec.taints,
                                               pool_gpu(pool)[1])
    return result


def _pool_outputs(settings: EksSettings, bounds: dict[str, NodeBounds]) -> dict[str, Any]:
    result = {}
    for pool in settings.gpu_pools:
        gpu, count = pool_gpu(pool)
        size = bounds[pool.name]
        result[pool.name] = {
            "instance_types": list(pool.instance_types), "gpu": gpu.name, "gpus_per_node": count,
            "ami_type": pool.ami_type, "capacity_type": pool.capacity_type,
            "min_size": size.min_size, "desired_size": size.desired_size,
            "max_size": size.max_size, "autoscaler": size.autoscaler,
            "node_selector": {POOL_LABEL: pool.name},
        }
    return result


@dataclass
class EksContext(PlatformContext):
    """The platform context plus what engine identities (IRSA) need."""

    aws_provider: Any = None
    oidc_provider_arn: Any = None
    oidc_issuer: Any = None


def deploy(request: EndpointRequest) -> InferenceEndpoint:
    """Engines as on any Kubernetes platform; an S3 source without static keys gets its own
    IAM role (IRSA) that reads only its bucket prefix, through a dedicated ServiceAccount."""
    endpoint, platform = request.endpoint, request.platform
    source = endpoint.source
    spec = request.spec or endpoint_spec(endpoint, request.placement,
                                         request.stack.hf_token is not None)
    assert isinstance(request.stack, EksStack)
    spec = dataclasses.replace(spec, pod_annotations=pod_annotations(request.stack))
    if not isinstance(source, S3Source) or source.credentials_secret is not None:
        return deploy_engines(dataclasses.replace(request, spec=spec))
    assert isinstance(platform, EksContext)
    account = f"{endpoint.name}-engine"
    identity = EngineIdentity(f"{endpoint.name}-identity", EngineIdentityArgs(
        namespace=endpoint.namespace, service_account=account, labels=dict(spec.labels),
        bucket=source.bucket, prefix=source.prefix,
        oidc_provider_arn=platform.oidc_provider_arn, oidc_issuer=platform.oidc_issuer,
        provider=platform.provider, depends_on=request.depends_on),
        opts=pulumi.ResourceOptions(providers=[platform.aws_provider]))
    return deploy_engines(
        dataclasses.replace(request, spec=dataclasses.replace(spec, service_account=account)),
        extra_depends_on=[identity.service_account])


BUILDER = PlatformBuilder(build=build, deploy=deploy)
