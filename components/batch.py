"""`BatchJob`: one batch inference run (Indexed Job + feeder ConfigMap + optional output PVC).

Like `InferenceEndpoint`, the component only instantiates what `components/batch_manifests.py`
renders and wires secrets and dependencies. Its outputs are the stack outputs' `batch_jobs` entry
that `python -m smoke batch` reads: `job`, `namespace`, `input`, `output`, `status`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import batch_manifests, manifests
from components.batch_manifests import BatchJobSpec
from components.component import type_token
from components.k8s_objects import create_object
from components.secrets import generated_api_key

TYPE_TOKEN = type_token(__name__, "BatchJob")
# pulumi-kubernetes waits for a Job to complete by default: a batch of hours would hold
# `pulumi up` for hours. Progress is watched with `smoke batch` instead.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}

@dataclass
class BatchJobArgs:
    """Flat args: the rendered spec, the cluster's provider and the secrets the pod needs."""

    spec: BatchJobSpec
    provider: k8s.Provider | None = None
    hf_token: pulumi.Input[str] | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    protect: bool = True  # Pulumi `protect` on a results claim the job creates (`output.size`)


class BatchJob(pulumi.ComponentResource):
    """An OpenAI batch file run on the GPU pool by the engine an endpoint would use."""

    job_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    input: pulumi.Output[str]
    output: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(self, name: str, args: BatchJobArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE_TOKEN, name, None, opts)
        spec = args.spec
        batch_manifests.check_spec(spec)
        secrets = self._secrets(name, args)
        created: list[pulumi.Resource] = []
        for obj in batch_manifests.objects(spec):
            kind = obj["kind"]
            if kind == "Job":
                obj = {**obj, "metadata": {**obj["metadata"], "annotations": SKIP_AWAIT}}
            suffix = {"ConfigMap": "-feeder", "PersistentVolumeClaim": "-output"}.get(kind, "")
            # A created claim holds the results of hours of GPU time: protected as a bucket is.
            protect = args.protect if kind == "PersistentVolumeClaim" else None
            created.append(create_object(f"{name}{suffix}", obj,
                                          self._opts(args, secrets + created, protect)))
        self.job = created[-1]
        self.job_name = pulumi.Output.from_input(spec.name)
        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.input = pulumi.Output.from_input(spec.input)
        self.output = pulumi.Output.from_input(spec.output_location)
        self.status = pulumi.Output.from_input(spec.status_location)
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Output[str]]:
        """The stack outputs' `batch_jobs[<name>]` entry."""
        return {"job": self.job_name, "namespace": self.namespace, "input": self.input,
                "output": self.output, "status": self.status}

    def _opts(self, args: BatchJobArgs, extra: list[pulumi.Resource],
              protect: bool | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[*args.depends_on, *extra],
            # Fixed names (the Job's pods and smoke find them by name): replace delete-first.
            delete_before_replace=True, protect=protect,
        )

    def _secrets(self, name: str, args: BatchJobArgs) -> list[pulumi.Resource]:
        """The engine's API key and HF token Secrets, as for an endpoint (R15)."""
        endpoint = args.spec.endpoint
        created: list[pulumi.Resource] = []
        opts = self._opts(args, [])
        if endpoint.api_key_secret is not None:
            key = generated_api_key(name, self)
            created.append(create_object(f"{name}-api-key", manifests.secret(
                endpoint, endpoint.api_key_secret, {"api-key": key}), opts))
        if endpoint.source.hf_token_secret is not None and args.hf_token is not None:
            token = pulumi.Output.secret(args.hf_token)
            created.append(create_object(f"{name}-hf-token", manifests.secret(
                endpoint, endpoint.source.hf_token_secret, {"token": token}), opts))
        return created
