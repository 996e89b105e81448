"""The whole stack config: `inference-stacks:*` keys of `stacks/Pulumi.<stack>.yaml`.

Models only. `StackConfig` is a union discriminated on `platform`: each member carries its own
typed `platform_settings` (the section `inference-stacks:<section>`), so code that knows its
platform gets its settings without a cast. Validation (`infra/validate/load.py`) picks the
member from `STACK_MODELS` and reports every problem with its key path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from components.observability_config import ObservabilityConfig
from infra.config import formats as f
from infra.config.base import StrictModel
from infra.config.batch import BatchJobConfig
from infra.config.endpoint import EndpointConfig, Slos
from infra.config.platforms.eks import EksSettings
from infra.config.platforms.hyperpod import HyperPodSettings
from infra.config.platforms.k3s_gcp import K3sGcpSettings
from infra.config.platforms.k3s_workload import K3sWorkloadSettings
from infra.config.platforms.kubernetes import KubernetesSettings

TOP_LEVEL_KEYS = ("platform", "endpoints", "batch_jobs", "observability", "slos", "hf_token")


class StackBase(StrictModel):
    """What every stack has, whatever its platform."""

    endpoints: list[EndpointConfig] = Field(
        default_factory=list, description="Endpoints to deploy on the platform."
    )
    batch_jobs: list[BatchJobConfig] = Field(
        default_factory=list, description="Batch inference jobs (OpenAI batch files) to run.")
    observability: ObservabilityConfig | None = Field(
        None, description="Metrics, dashboards and alerts; default per platform (bundled on "
        "eks, hyperpod and k3s-workload, none elsewhere).")
    slos: Slos = Field(default_factory=Slos, description="Default benchmark SLOs per endpoint.")
    hf_token: f.Token | None = Field(
        None, repr=False, description="Hugging Face token (set with `pulumi config set --secret`)."
    )

    def slos_for(self, endpoint: EndpointConfig) -> Slos:
        return endpoint.slos or self.slos


class KubernetesStack(StackBase):
    platform: Literal["kubernetes"] = Field(description="An existing cluster.")
    platform_settings: KubernetesSettings = Field(description="Section `kubernetes`.")


class EksStack(StackBase):
    platform: Literal["eks"] = Field(description="EKS with GPU node pools.")
    platform_settings: EksSettings = Field(description="Section `eks`.")


class HyperPodStack(StackBase):
    platform: Literal["hyperpod"] = Field(description="SageMaker HyperPod (EKS orchestrator).")
    platform_settings: HyperPodSettings = Field(description="Section `hyperpod`.")


class K3sGcpStack(StackBase):
    platform: Literal["k3s-gcp"] = Field(description="The K3s cluster stack on GCP.")
    platform_settings: K3sGcpSettings = Field(description="Section `k3s_gcp`.")


class K3sWorkloadStack(StackBase):
    platform: Literal["k3s-workload"] = Field(description="Endpoints on a k3s-gcp cluster.")
    platform_settings: K3sWorkloadSettings = Field(description="Section `k3s_workload`.")


StackConfig = Annotated[
    KubernetesStack | EksStack | HyperPodStack | K3sGcpStack | K3sWorkloadStack,
    Field(discriminator="platform"),
]

STACK_MODELS: dict[str, type[StackBase]] = {
    "kubernetes": KubernetesStack,
    "eks": EksStack,
    "hyperpod": HyperPodStack,
    "k3s-gcp": K3sGcpStack,
    "k3s-workload": K3sWorkloadStack,
}


def section_of(platform: str) -> str:
    """Config key of a platform's section: `inference-stacks:<section>`."""
    return platform.replace("-", "_")


def settings_model(platform: str) -> type[StrictModel]:
    """The settings model of a platform (the annotation of its `platform_settings`)."""
    annotation = STACK_MODELS[platform].model_fields["platform_settings"].annotation
    assert isinstance(annotation, type) and issubclass(annotation, StrictModel)
    return annotation
