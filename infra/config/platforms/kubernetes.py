"""Section `inference-stacks:kubernetes`: an existing cluster from a kubeconfig (on-prem too)."""

from __future__ import annotations

from pydantic import Field

from infra.config import formats as f
from infra.config.base import StrictModel


class KubernetesSettings(StrictModel):
    """Section `inference-stacks:kubernetes`."""

    kubeconfig_path: str | None = Field(
        None, description="Kubeconfig file; exported as a secret output for smoke checks."
    )
    context: str | None = Field(None, description="Kubeconfig context; default the current one.")
    kubernetes_version: str = Field(
        "1.33", pattern=r"^1\.[0-9]+$", description="Cluster version, for schema validation."
    )
    aws_load_balancer_controller: bool = Field(
        False, description="The cluster runs the AWS Load Balancer Controller (allows alb/nlb)."
    )
    aws_region: f.AwsRegion | None = Field(
        None, description="AWS region of the cluster, if on AWS.")
    gpu_node_selector: f.K8sLabels = Field(
        default_factory=dict, description="Extra node labels GPU pods must match."
    )
    load_balancer_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs of the subnets the AWS load balancers' ENIs "
        "use (the VPC CIDR): NetworkPolicies admit them to exposed endpoints.")
    keda_installed: bool = Field(
        False, description="The cluster already runs KEDA: autoscaled endpoints do not "
        "install it.")
    gpu_capacity: f.GpuCapacity = Field(
        default_factory=dict,
        description="GPUs the endpoints may use, by model (e.g. {L4: 12}): when stated, the plan "
        "fails if their peak (autoscaling.max or replicas x gpu.count) exceeds it.")
    runtime_class: f.DnsSubdomain | None = Field(
        None, description="RuntimeClass for GPU pods (nvidia on K3s); default none."
    )

