"""`AmpWorkspace`: the Amazon Managed Prometheus workspace HyperPod autoscaling queries.

The HyperPod inference operator's `autoScalingSpec.prometheusTrigger.serverAddress` must be an
Amazon Managed Prometheus workspace (the CRD's pattern:
`https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-...`, no trailing slash), so the
engines' metrics have to reach one. When an endpoint autoscales without naming a workspace, the
platform creates one per stack with this component: the workspace, and an IRSA role for the
bundled Prometheus's service account that may `aps:RemoteWrite` to that workspace only.
The operator's KEDA queries it with its own IRSA role (`hyperpod_policies.keda_policy`).

Pure helpers (URLs from the workspace's `prometheus_endpoint`, the policy documents) are
module functions, tested without Pulumi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.component import type_token

REMOTE_WRITE_PATH = "api/v1/remote_write"
_WORKSPACE_URL = re.compile(
    r"^https://aps-workspaces\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/workspaces/"
    r"(?P<id>ws-[a-zA-Z0-9-]+)/?$")


def server_address(prometheus_endpoint: str) -> str:
    """The workspace URL the operator's prometheusTrigger takes: `prometheus_endpoint` (which
    AWS returns with a trailing slash) without the slash, as the CRD's pattern requires."""
    return prometheus_endpoint.rstrip("/")


def remote_write_url(prometheus_endpoint: str) -> str:
    """Prometheus `remoteWrite` URL of the workspace (AMP's `.../api/v1/remote_write`)."""
    return f"{server_address(prometheus_endpoint)}/{REMOTE_WRITE_PATH}"


def workspace_arn(address: str, account_id: str, partition: str = "aws") -> str:
    """ARN of the workspace a user-supplied workspace URL names (same account as the cluster:
    KEDA's IRSA role cannot query another account's workspace without a role of that account)."""
    match = _WORKSPACE_URL.match(address)
    if match is None:
        raise ValueError(f"not an Amazon Managed Prometheus workspace URL: {address!r}")
    return (f"arn:{partition}:aps:{match.group('region')}:{account_id}:workspace/"
            f"{match.group('id')}")


def workspace_id(arn: str) -> str:
    """`arn:aws:aps:<region>:<account>:workspace/ws-...` -> `ws-...`."""
    return arn.rsplit("/", 1)[-1]


def remote_write_policy(arn: str) -> dict[str, Any]:
    """What the bundled Prometheus may do: remote-write samples into this one workspace."""
    return iam.policy_document([
        iam.statement(["aps:RemoteWrite"], [arn], sid="RemoteWriteStackWorkspace"),
    ])


@dataclass
class AmpWorkspaceArgs:
    """Flat args: the workspace alias and the Prometheus service account the role trusts."""

    alias: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    prometheus_namespace: str
    prometheus_service_account: str
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class AmpWorkspace(pulumi.ComponentResource):
    """The workspace and the remote-write role of the bundled Prometheus."""

    arn: pulumi.Output[str]
    workspace_id: pulumi.Output[str]
    query_url: pulumi.Output[str]  # autoScalingSpec.prometheusTrigger.serverAddress
    remote_write_url: pulumi.Output[str]
    remote_write_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AmpWorkspaceArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "AmpWorkspace"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        workspace = aws.amp.Workspace(name, alias=args.alias, opts=child)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: iam.to_json(iam.irsa_trust_policy(
                v[0], v[1], args.prometheus_namespace, args.prometheus_service_account)))
        role = aws.iam.Role(f"{name}-remote-write", assume_role_policy=trust,
                            opts=pulumi.ResourceOptions(parent=self))
        grant = aws.iam.RolePolicy(
            f"{name}-remote-write", role=role.id,
            policy=workspace.arn.apply(lambda arn: iam.to_json(remote_write_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self))
        self.arn = workspace.arn
        self.workspace_id = workspace.arn.apply(workspace_id)
        self.query_url = workspace.prometheus_endpoint.apply(server_address)
        self.remote_write_url = workspace.prometheus_endpoint.apply(remote_write_url)
        # The ARN as Prometheus takes it (IRSA annotation): it carries the policy as a
        # dependency, so the pod never starts with the role but without its permissions.
        self.remote_write_role_arn = pulumi.Output.all(role.arn, grant.id).apply(lambda v: v[0])
        self.register_outputs({"arn": self.arn, "query_url": self.query_url,
                               "remote_write_url": self.remote_write_url,
                               "remote_write_role_arn": self.remote_write_role_arn})
