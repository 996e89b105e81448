"""Resources of platform `hyperpod` and its endpoints (see `infra/platforms/hyperpod.py`).

Reuses the EKS pieces of platform eks (`Vpc`, `EksCluster`, the ALB controller's IAM policy);
the ALB controller itself is installed by the inference add-on (a second controller would
fight over the same Ingresses), so only its role is created here.
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
import pulumi_aws as aws

from components import engines
from components import hyperpod_manifest as hp
from components.iam import to_json
from components.platforms.aws_lb_controller_policy import controller_policy
from components.platforms.aws_network import Vpc, VpcArgs
from components.platforms.eks import EksCluster, EksClusterArgs, NodeGroupSpec
from components.platforms.hyperpod_cluster import (
    HyperPodCluster,
    HyperPodClusterArgs,
    InstanceGroup,
)
from components.platforms.hyperpod_endpoint import HyperPodEndpoint, HyperPodEndpointArgs
from components.platforms.inference_operator import InferenceOperator, InferenceOperatorArgs
from components.spec import ExposureSpec, ProbeSpec
from infra.config.endpoint import EndpointConfig, FsxSource, HuggingFaceSource, S3Source
from infra.config.stack import StackConfig
from infra.platforms.base import Placement, PlatformContext
from infra.platforms.hyperpod import HyperPodSettings, place

PREFIX = "hyperpod"  # every resource name of this platform starts with it (plan hooks scope)
PLAN_ACCOUNT = "123456789012"


def build_platform(config: StackConfig) -> PlatformContext:
    settings: HyperPodSettings = config.platform_settings
    vpc = Vpc(f"{PREFIX}-network", VpcArgs(
        cluster_name=settings.cluster_name, cidr=settings.vpc_cidr,
        availability_zones=_zones(settings)))
    eks = EksCluster(f"{PREFIX}-eks", EksClusterArgs(
        name=settings.cluster_name, kubernetes_version=settings.kubernetes_version,
        region=settings.region, vpc_id=vpc.vpc_id, public_subnet_ids=vpc.public_subnet_ids,
        private_subnet_ids=vpc.private_subnet_ids,
        system_nodes=NodeGroupSpec(
            name="system", instance_types=[settings.eks_system_instance_type],
            ami_type="AL2023_x86_64_STANDARD", min_size=settings.eks_system_nodes,
            desired_size=settings.eks_system_nodes, max_size=settings.eks_system_nodes,
            root_volume_gib=50),
        admin_principal_arns=list(settings.admin_principal_arns),
        public_access_cidrs=list(settings.api_public_access_cidrs),
        # HyperPod requires VPC CNI >= 1.18.3 (SageMaker HyperPod EKS prerequisites); the EKS user
        # guide lists v1.20.1-eksbuild.3 for Kubernetes 1.33.
        vpc_cni_addon_version=settings.vpc_cni_addon_version))
    cluster = HyperPodCluster(PREFIX, HyperPodClusterArgs(
        cluster_name=settings.cluster_name, eks_cluster_arn=eks.arn,
        subnet_ids=vpc.private_subnet_ids,
        security_group_ids=eks.cluster_security_group_id.apply(lambda sg: [sg]),
        instance_groups=[InstanceGroup(g.name, g.instance_type, g.count, g.ebs_volume_gb,
                                       g.threads_per_core) for g in settings.instance_groups],
        dependency_chart_path=settings.dependency_chart_path, provider=eks.provider,
        depends_on=[eks.system_node_group]))
    operator = InferenceOperator(f"{PREFIX}-operator", InferenceOperatorArgs(
        name_prefix=settings.cluster_name, eks_cluster_name=eks.name,
        oidc_provider_arn=eks.oidc_provider_arn, oidc_issuer=eks.oidc_issuer,
        hyperpod_cluster_arn=cluster.arn, alb_controller_policy_json=to_json(controller_policy()),
        model_buckets=sorted({e.source.bucket for e in config.endpoints
                              if isinstance(e.source, S3Source)})))
    tls_uri = operator.tls_bucket.apply(lambda b: f"s3://{b}/certificates")

    def deploy(endpoint: EndpointConfig, stack: StackConfig,
               platform: PlatformContext) -> dict[str, Any]:
        return deploy_endpoint(endpoint, stack, platform, tls_uri)

    return PlatformContext(
        name="hyperpod", provider=eks.provider, kubernetes_version=settings.kubernetes_version,
        kubeconfig=eks.kubeconfig, aws_region=settings.region, load_balancers=True,
        depends_on=[operator.addon],
        outputs={"operator_namespace": operator.namespace, "cluster_name": settings.cluster_name,
                 "hyperpod_cluster_arn": cluster.arn, "region": settings.region,
                 "tls_certificate_bucket": operator.tls_bucket},
        deploy_endpoint=deploy)


def _zones(settings: HyperPodSettings) -> list[pulumi.Input[str]]:
    if settings.availability_zone_names:
        return list(settings.availability_zone_names)
    zones = aws.get_availability_zones_output(state="available", region=settings.region)
    return [zones.names.apply(functools.partial(_nth_zone, i))
            for i in range(settings.availability_zones)]


def _nth_zone(index: int, names: list[str]) -> str:
    if index >= len(names):
        raise pulumi.RunError(f"only {len(names)} available zones; lower "
                              "hyperpod.availability_zones or pin availability_zone_names")
    return sorted(names)[index]


def _source(endpoint: EndpointConfig, settings: HyperPodSettings,
            has_hf_token: bool) -> hp.HyperPodSource:
    source, prefetch = endpoint.source, settings.prefetch_models and endpoint.kv_cache is None
    if isinstance(source, S3Source):
        return hp.HyperPodSource("s3", s3_bucket=source.bucket,
                                 s3_region=source.region or settings.region,
                                 location=source.prefix.strip("/") or None, prefetch=prefetch)
    if isinstance(source, FsxSource):
        return hp.HyperPodSource("fsx", fsx_file_system_id=source.file_system_id,
                                 fsx_mount_name=source.mount_name,
                                 location=source.path.strip("/") or None, prefetch=prefetch)
    assert isinstance(source, HuggingFaceSource)
    wanted = source.use_token is not False and has_hf_token
    return hp.HyperPodSource("huggingface", hf_model_id=endpoint.model,
                             hf_token_secret=f"{endpoint.name}-hf-token" if wanted else None,
                             hf_commit=source.revision, prefetch=prefetch)


def endpoint_spec(endpoint: EndpointConfig, placement: Placement, settings: HyperPodSettings,
                  has_hf_token: bool) -> hp.HyperPodEndpointSpec:
    """Engine-neutral endpoint config -> the flat spec the CR renderer takes."""
    from infra.compose import engine_settings  # compose imports the platform registry

    profile = engines.engine_profile(endpoint.engine, endpoint.profile)
    assert profile is not None, "rules.check_endpoint rejects unknown profiles"
    assert placement.instance_type is not None, "place() always pins an ml.* type"
    kv, auto = endpoint.kv_cache, endpoint.autoscaling
    return hp.HyperPodEndpointSpec(
        name=endpoint.name, namespace=endpoint.namespace, profile=profile,
        image=endpoint.image or profile.image, model=endpoint.model,
        served_model_name=endpoint.served_name,
        engine_settings=engine_settings(endpoint, placement),
        source=_source(endpoint, settings, has_hf_token), instance_type=placement.instance_type,
        replicas=endpoint.replicas, gpu_count=placement.count, cpu=endpoint.resources.cpu,
        memory=endpoint.resources.memory, probes=ProbeSpec(**endpoint.probes.model_dump()),
        routing_strategy=endpoint.routing.strategy if endpoint.routing else None,
        kv_cache=hp.HyperPodKvCache(kv.l1, kv.l2_backend, kv.l2_redis_url) if kv else None,
        autoscaling=hp.HyperPodAutoscaling(
            auto.min_replicas, auto.max_replicas, auto.prometheus_server_address,
            auto.query or f"sum({profile.queue_metric})", auto.target_value,
            auto.polling_interval_seconds, auto.cooldown_seconds) if auto else None,
        api_key=endpoint.api_key, extra_env=dict(endpoint.env),
        extra_args=tuple(endpoint.engine_args.extra_args),
    )


def deploy_endpoint(endpoint: EndpointConfig, stack: StackConfig, platform: PlatformContext,
                    tls_uri: pulumi.Input[str]) -> dict[str, Any]:
    """Create the endpoint's HyperPodEndpoint; return its outputs contract (v1) entry."""
    settings: HyperPodSettings = stack.platform_settings
    placement = place(endpoint, settings)
    spec = endpoint_spec(endpoint, placement, settings, stack.hf_token is not None)
    e = endpoint.exposure
    exposure = ExposureSpec(type=e.type, scheme=e.scheme, certificate_arn=e.certificate_arn,
                            inbound_cidrs=tuple(e.inbound_cidrs),
                            idle_timeout_seconds=e.idle_timeout_seconds,
                            group_name=e.group_name, hostname=e.hostname)
    namespace = platform.outputs["operator_namespace"]
    component = HyperPodEndpoint(f"{PREFIX}-{endpoint.name}", HyperPodEndpointArgs(
        spec=spec, exposure=exposure, operator_namespace=namespace,
        router_service=f"{hp.hyperpod_name(endpoint.name)}{settings.router_service_suffix}",
        router_port=settings.router_port, provider=platform.provider,
        hf_token=stack.hf_token, tls_certificate_uri=tls_uri,
        depends_on=[*platform.depends_on, platform.namespaces[endpoint.namespace]]))
    load_balancer = None
    if exposure.type == "alb":
        load_balancer = {"provider": "aws", "type": "alb", "scheme": exposure.scheme,
                         "region": platform.aws_region, "hostname": component.hostname}
    gpu = placement.gpu
    return {
        "engine": endpoint.engine, "model": endpoint.model,
        "served_model_name": spec.served_model_name, "base_url": component.base_url,
        "exposure": exposure.label, "namespace": component.service_namespace,
        "service": component.service, "port": component.port, "api_key": component.api_key,
        "health_path": spec.profile.health_path, "metrics_path": spec.profile.metrics_path,
        "gpu": {"type": gpu.name if gpu else None, "count": placement.count,
                "instance_type": placement.instance_type},
        "replicas": endpoint.replicas, "slos": stack.slos_for(endpoint).model_dump(),
        "selector": component.selector, "load_balancer": load_balancer,
    }


# --- offline plan: what the mock engine cannot know ------------------------------------------
# `eks:index:Cluster` outputs (kubeconfig, OIDC, cluster security group) come from platform eks's
# hook, which is name-independent and always registered; only what it lacks is added here.

def _others(token: str, mine: Any, args: Any) -> dict[str, Any]:
    """Another platform's hook for the same token (hooks are merged into one dict)."""
    from infra.platforms import PLATFORMS

    for spec in PLATFORMS.values():
        hook = spec.plan_state_hooks.get(token)
        if hook is not None and hook is not mine:
            return dict(hook(args))
    return {}


def _own(token: str, state: Any) -> Any:
    """A state hook for this platform's resources (names start with PREFIX) that leaves other
    platforms' resources to their own hooks, whichever registered last."""
    def hook(args: Any) -> dict[str, Any]:
        if str(args.name).startswith(PREFIX):
            return dict(state(args))
        return _others(token, hook, args)
    return hook


def _bucket(args: Any) -> dict[str, Any]:
    name = str(args.inputs.get("bucket") or args.name)
    return {"bucket": name, "arn": f"arn:aws:s3:::{name}"}


def _role(args: Any) -> dict[str, Any]:
    name = str(args.inputs.get("name") or args.name)
    return {"name": name, "arn": f"arn:aws:iam::{PLAN_ACCOUNT}:role/{name}"}


def _hyperpod_cluster(args: Any) -> dict[str, Any]:
    return {"clusterArn": f"arn:aws:sagemaker:us-east-1:{PLAN_ACCOUNT}:cluster/plan0hyperpod"}


PLAN_STATE_HOOKS: dict[str, Any] = {
    "aws:s3/bucket:Bucket": _own("aws:s3/bucket:Bucket", _bucket),
    "aws:iam/role:Role": _own("aws:iam/role:Role", _role),
    "aws-native:sagemaker:Cluster": _hyperpod_cluster,
}
PLAN_CALL_HOOKS: dict[str, Any] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones":
        lambda a: {"names": ["us-east-1a", "us-east-1b", "us-east-1c"],
                   "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "id": "us-east-1"},
    "aws:index/getCallerIdentity:getCallerIdentity":
        lambda a: {"accountId": PLAN_ACCOUNT, "arn": f"arn:aws:iam::{PLAN_ACCOUNT}:user/plan",
                   "userId": "plan", "id": PLAN_ACCOUNT},
}
