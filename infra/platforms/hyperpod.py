"""Platform `hyperpod` resources: SageMaker HyperPod on EKS with the inference operator add-on.

Build order (each step waits for the previous): VPC -> EKS (API auth, OIDC, a small system node
group for the dependency chart) -> HyperPod dependency chart -> HyperPod cluster (instance
groups from config) -> dependency add-ons (S3/FSx CSI, cert-manager) -> inference operator
add-on. Endpoints are `InferenceEndpointConfig`s (`HyperPodEndpoint`), deployed by `deploy`.
When an endpoint autoscales without naming an Amazon Managed Prometheus workspace, one
`AmpWorkspace` per stack: the bundled Prometheus remote-writes to it (IRSA, SigV4), the
operator's KEDA queries it, and the endpoints' autoScalingSpec points at it.
Reuses the EKS pieces of platform eks (`Vpc`, `EksCluster`, the ALB controller's IAM policy);
the ALB controller itself is installed by the inference add-on (a second controller would
fight over the same Ingresses), so only its role is created here.
Rules and placement: `infra/validate/platforms/hyperpod.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components import hyperpod_manifest as hp
from components import observability_manifests as om
from components.iam import to_json
from components.platforms import amp as amp_workspace
from components.platforms.amp import AmpWorkspace, AmpWorkspaceArgs
from components.platforms.aws_lb_controller_policy import controller_policy
from components.platforms.aws_network import Vpc, VpcArgs
from components.platforms.eks import EksCluster, EksClusterArgs, NodeGroupSpec
from components.platforms.hyperpod_cluster import (
    NODE_HEALTH_TAINT,
    HyperPodCluster,
    HyperPodClusterArgs,
    InstanceGroup,
    gpu_node_affinity,
)
from components.platforms.hyperpod_endpoint import HyperPodEndpoint, HyperPodEndpointArgs
from components.platforms.hyperpod_policies import arn_parts
from components.platforms.inference_operator import InferenceOperator, InferenceOperatorArgs
from infra.config.endpoint import FsxSource, S3Source
from infra.config.platforms.hyperpod import HyperPodSettings
from infra.config.stack import HyperPodStack
from infra.platforms.base import (
    EndpointRequest,
    PlatformBuilder,
    PlatformContext,
    PlatformMonitoring,
)
from infra.resolve.hyperpod import (
    autoscaling_addresses,
    hyperpod_endpoint_spec,
    needs_amp_workspace,
)
from infra.validate.exposure import exposure_spec
from infra.validate.observability import observability_config
from infra.validate.platforms.hyperpod import dependency_chart_dir, missing_chart_message

PREFIX = "hyperpod"  # prefix of this platform's resource names


@dataclass
class HyperPodContext(PlatformContext):
    """The platform context plus what HyperPod endpoints need from the operator."""

    operator_namespace: Any = None
    tls_certificate_uri: Any = None
    aws_opts: pulumi.ResourceOptions | None = None  # the region-pinned aws/aws-native providers
    amp_query_url: Any = None  # the stack's AMP workspace (autoScalingSpec's serverAddress)


def build(config: HyperPodStack) -> HyperPodContext:
    settings = config.platform_settings
    # First: without the chart checkout `pulumi up` stops here, before registering anything.
    chart_path = dependency_chart(settings, pulumi.runtime.is_dry_run())
    # Explicit providers pinned to hyperpod.region: every AWS resource (and the zone lookup) is
    # created there whatever AWS_REGION / the profile of the shell running `pulumi up` says.
    provider = aws.Provider(f"{PREFIX}-aws", region=settings.region)
    native = aws_native.Provider(f"{PREFIX}-aws-native", region=settings.region)
    opts = pulumi.ResourceOptions(providers=[provider, native])
    vpc = Vpc(f"{PREFIX}-network", VpcArgs(
        cluster_name=settings.cluster_name, cidr=settings.vpc_cidr,
        availability_zones=_zones(settings, provider)), opts=opts)
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
        vpc_cni_addon_version=settings.vpc_cni_addon_version), opts=opts)
    cluster = HyperPodCluster(PREFIX, HyperPodClusterArgs(
        cluster_name=settings.cluster_name, eks_cluster_arn=eks.arn,
        subnet_ids=vpc.private_subnet_ids,
        security_group_ids=eks.cluster_security_group_id.apply(lambda sg: [sg]),
        instance_groups=[InstanceGroup(g.name, g.instance_type, g.count, g.ebs_volume_gb,
                                       g.threads_per_core) for g in settings.instance_groups],
        dependency_chart_path=chart_path, provider=eks.provider,
        depends_on=[eks.system_node_group]), opts=opts)
    amp = _amp_workspace(config, eks.oidc_provider_arn, eks.oidc_issuer, opts)
    operator = InferenceOperator(f"{PREFIX}-operator", InferenceOperatorArgs(
        name_prefix=settings.cluster_name, eks_cluster_name=eks.name,
        oidc_provider_arn=eks.oidc_provider_arn, oidc_issuer=eks.oidc_issuer,
        hyperpod_cluster_arn=cluster.arn, alb_controller_policy_json=to_json(controller_policy()),
        model_buckets=sorted({e.source.bucket for e in config.endpoints
                              if isinstance(e.source, S3Source)}),
        # The FSx CSI role exists only for the file systems the endpoints use.
        fsx_file_system_ids=sorted({e.source.file_system_id for e in config.endpoints
                                    if isinstance(e.source, FsxSource)}),
        prometheus_workspace_arns=_workspace_arns(config, cluster.arn, amp),
        # The add-ons run pods: they need the cluster and nodes to schedule on.
        depends_on=[eks.system_node_group]), opts=opts)
    return HyperPodContext(
        name="hyperpod", provider=eks.provider, kubeconfig=eks.kubeconfig,
        aws_region=settings.region, depends_on=[operator.addon],
        outputs={"operator_namespace": operator.namespace, "cluster_name": settings.cluster_name,
                 "hyperpod_cluster_arn": cluster.arn, "region": settings.region,
                 "tls_certificate_bucket": operator.tls_bucket},
        operator_namespace=operator.namespace, aws_opts=opts,
        tls_certificate_uri=operator.tls_bucket.apply(lambda b: f"s3://{b}/certificates"),
        monitoring=_monitoring(config, amp), amp_query_url=amp.query_url if amp else None)


def _amp_workspace(config: HyperPodStack, oidc_provider_arn: Any, oidc_issuer: Any,
                   opts: pulumi.ResourceOptions) -> AmpWorkspace | None:
    """One workspace per stack when an endpoint autoscales without naming one (the rules
    accept that only with the bundled Prometheus, whose service account the role trusts)."""
    if not needs_amp_workspace(config):
        return None
    obs = observability_config(config)
    return AmpWorkspace(f"{PREFIX}-amp", AmpWorkspaceArgs(
        alias=config.platform_settings.cluster_name, oidc_provider_arn=oidc_provider_arn,
        oidc_issuer=oidc_issuer, prometheus_namespace=obs.namespace,
        prometheus_service_account=om.PROMETHEUS_SERVICE_ACCOUNT), opts=opts)


def _workspace_arns(config: HyperPodStack, cluster_arn: pulumi.Output[str],
                    amp: AmpWorkspace | None) -> pulumi.Output[list[str]]:
    """Every workspace the endpoints' autoscaling queries: the stack's own and the named ones
    (in the cluster's account and partition), for KEDA's query permission."""
    addresses = autoscaling_addresses(config)

    def arns(values: list[Any]) -> list[str]:
        partition, _, account = arn_parts(str(values[0]))
        named = [amp_workspace.workspace_arn(a, account, partition) for a in addresses]
        return sorted({*named, *(str(v) for v in values[1:])})

    return pulumi.Output.all(cluster_arn, *([amp.arn] if amp else [])).apply(arns)


def _monitoring(config: HyperPodStack, amp: AmpWorkspace | None) -> PlatformMonitoring:
    """GPU exporter placement on HyperPod's GPU nodes, and the AMP remote write if any."""
    settings, obs = config.platform_settings, observability_config(config)
    gpu_types = [g.instance_type for g in settings.instance_groups if g.role == "gpu"]
    user_selector = "node_selector" in obs.dcgm.model_fields_set
    monitoring = PlatformMonitoring(
        dcgm_node_selector=None if user_selector else {},
        dcgm_affinity={} if user_selector or not gpu_types else gpu_node_affinity(gpu_types),
        dcgm_tolerations=[dict(NODE_HEALTH_TAINT)])
    if amp is not None:
        monitoring.remote_write = om.RemoteWrite(cast(str, amp.remote_write_url), settings.region)
        monitoring.prometheus_service_account_annotations = {
            "eks.amazonaws.com/role-arn": amp.remote_write_role_arn}
        monitoring.outputs = {"amp": {
            "workspace_id": amp.workspace_id, "arn": amp.arn, "region": settings.region,
            "query_url": amp.query_url, "remote_write_url": amp.remote_write_url}}
    return monitoring


def dependency_chart(settings: HyperPodSettings, dry_run: bool) -> str | None:
    """The chart path to install; None at preview without a checkout (the plan warns, see
    `stack_warnings`); `pulumi up` without one stops with the command that vendors it."""
    found = dependency_chart_dir(settings)
    if found is not None:
        return str(found)
    if dry_run:
        return None
    raise pulumi.RunError(missing_chart_message(settings))


def _zones(settings: HyperPodSettings, provider: aws.Provider) -> list[pulumi.Input[str]]:
    if settings.availability_zone_names:
        return list(settings.availability_zone_names)
    zones = aws.get_availability_zones_output(
        state="available", region=settings.region,
        opts=pulumi.InvokeOutputOptions(provider=provider))
    return [zones.names.apply(functools.partial(_nth_zone, i))
            for i in range(settings.availability_zones)]


def _nth_zone(index: int, names: list[str]) -> str:
    if index >= len(names):
        raise pulumi.RunError(f"only {len(names)} available zones; lower "
                              "hyperpod.availability_zones or pin availability_zone_names")
    return sorted(names)[index]


def deploy(request: EndpointRequest) -> HyperPodEndpoint:
    """The endpoint as an `InferenceEndpointConfig` the operator runs (+ the program's ALB)."""
    platform, stack, endpoint = request.platform, request.stack, request.endpoint
    assert isinstance(platform, HyperPodContext) and isinstance(stack, HyperPodStack)
    settings = stack.platform_settings
    spec = hyperpod_endpoint_spec(endpoint, request.placement, settings,
                                  stack.hf_token is not None)
    return HyperPodEndpoint(f"{PREFIX}-{endpoint.name}", HyperPodEndpointArgs(
        spec=spec, exposure=exposure_spec(endpoint), operator_namespace=platform.operator_namespace,
        router_service=f"{hp.hyperpod_name(endpoint.name)}{settings.router_service_suffix}",
        router_port=settings.router_port, provider=platform.provider,
        hf_token=stack.hf_token, tls_certificate_uri=platform.tls_certificate_uri,
        # No workspace named: the stack's own (the rules guarantee it exists then).
        autoscaling_server_address=(platform.amp_query_url if spec.autoscaling is not None
                                    and not spec.autoscaling.server_address else None),
        depends_on=request.depends_on), opts=platform.aws_opts)


BUILDER = PlatformBuilder(build=build, deploy=deploy, engine_pods=False)
