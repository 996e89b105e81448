"""`ExistingCluster`: a Kubernetes provider for a cluster the stack does not own (on-prem too)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.component import type_token, with_aliases


@dataclass(frozen=True)
class ExistingClusterArgs:
    """Flat args: a kubeconfig (secret text) and/or a context; neither = the ambient config."""

    kubeconfig: pulumi.Input[str] | None = None
    context: str | None = None


class ExistingCluster(pulumi.ComponentResource):
    """Wraps the provider so endpoints on an existing cluster share one parent and provider."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(type_token(__name__, "ExistingCluster"), name, None,
                         with_aliases(opts, "inference-stacks:platform:ExistingCluster"))
        self.kubeconfig = (
            pulumi.Output.secret(args.kubeconfig) if args.kubeconfig is not None else None
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            context=args.context,
            # Fail the preview if the cluster is unreachable instead of planning against nothing.
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})
