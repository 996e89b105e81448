"""GPU and instance-type catalog (pure data, no Pulumi).

Why this exists: rule R3 (pin GPU pods to the instance type the stack names), R4 (GPUs below
compute capability 8.0 need `VLLM_USE_FLASHINFER_SAMPLER=0` and fp16 because they have no
bf16), R9 (memory fit needs the GPU's memory) and R25 (machine type and GPU are validated
together: "8x L4 on a3-highgpu-1g" was a wrong plan). Facts come from AWS's and
GCP's public instance-type documentation (summarised in docs/field-rules.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Provider = Literal["aws", "sagemaker", "gcp"]


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: int  # per GPU, as the vendor sells it (the "GB" in the catalog table)
    compute_capability: tuple[int, int]
    bf16: bool


# Keys are the canonical names used in error messages and stack config.
GPUS: dict[str, Gpu] = {
    "T4": Gpu("T4", memory_gib=16, compute_capability=(7, 5), bf16=False),
    "A10G": Gpu("A10G", memory_gib=24, compute_capability=(8, 6), bf16=True),
    "L4": Gpu("L4", memory_gib=24, compute_capability=(8, 9), bf16=True),
    "L40S": Gpu("L40S", memory_gib=48, compute_capability=(8, 9), bf16=True),
    "A100-40GB": Gpu("A100-40GB", memory_gib=40, compute_capability=(8, 0), bf16=True),
    "A100-80GB": Gpu("A100-80GB", memory_gib=80, compute_capability=(8, 0), bf16=True),
    "H100": Gpu("H100", memory_gib=80, compute_capability=(9, 0), bf16=True),
}

# Other spellings people write in stack config ("a100" alone is ambiguous, so it is absent).
_GPU_ALIASES: dict[str, str] = {
    "A10": "A10G",
    "A100-40G": "A100-40GB",
    "A100_40GB": "A100-40GB",
    "A100-80G": "A100-80GB",
    "A100_80GB": "A100-80GB",
    "H100-80GB": "H100",
    "H100_80GB": "H100",
}


@dataclass(frozen=True)
class InstanceType:
    name: str
    provider: Provider
    gpu: Gpu
    gpu_count: int


def _build_catalog() -> dict[str, InstanceType]:
    catalog: dict[str, InstanceType] = {}

    def add(name: str, provider: Provider, gpu: str, count: int) -> None:
        catalog[name] = InstanceType(name, provider, GPUS[gpu], count)

    # AWS EC2 families with the same size ladder: 1 GPU up to 16xlarge, 4 on 12x/24x, 8 on 48x.
    single = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    ladder = {"g5": "A10G", "g6": "L4", "g6e": "L40S"}
    for family, gpu in ladder.items():
        for size in single:
            add(f"{family}.{size}", "aws", gpu, 1)
        add(f"{family}.12xlarge", "aws", gpu, 4)
        add(f"{family}.24xlarge", "aws", gpu, 4)
        add(f"{family}.48xlarge", "aws", gpu, 8)
    # g4dn has no 24x/48x; its 8-GPU size is the metal one.
    for size in single:
        add(f"g4dn.{size}", "aws", "T4", 1)
    add("g4dn.12xlarge", "aws", "T4", 4)
    add("g4dn.metal", "aws", "T4", 8)
    add("p4d.24xlarge", "aws", "A100-40GB", 8)
    add("p4de.24xlarge", "aws", "A100-80GB", 8)
    add("p5.48xlarge", "aws", "H100", 8)
    add("p5.4xlarge", "aws", "H100", 1)

    # SageMaker (HyperPod) uses the `ml.` names of the same hardware; there is no ml.g4dn.
    for name, it in list(catalog.items()):
        if not name.startswith("g4dn."):
            add(f"ml.{name}", "sagemaker", it.gpu.name, it.gpu_count)

    # GCP: L4 exists only on G2 (GPUs come with the machine type, no guest_accelerators).
    # Note g2-standard-32 has ONE L4 although it is bigger than g2-standard-24 (2 L4).
    for name, count in {
        "g2-standard-4": 1,
        "g2-standard-8": 1,
        "g2-standard-12": 1,
        "g2-standard-16": 1,
        "g2-standard-24": 2,
        "g2-standard-32": 1,
        "g2-standard-48": 4,
        "g2-standard-96": 8,
    }.items():
        add(name, "gcp", "L4", count)
    for suffix, count in {"1g": 1, "2g": 2, "4g": 4, "8g": 8}.items():
        add(f"a3-highgpu-{suffix}", "gcp", "H100", count)
    return catalog


INSTANCE_TYPES: dict[str, InstanceType] = _build_catalog()


def lookup_instance_type(name: str) -> InstanceType | None:
    """Exact instance/machine type name; case and surrounding spaces are forgiven."""
    return INSTANCE_TYPES.get(name.strip().lower())


def _natural(name: str) -> list[object]:
    # "g2-standard-4" before "g2-standard-12"; "g5.xlarge" < "g5.2xlarge" < "g5.12xlarge".
    name = name.replace(".xlarge", ".1xlarge")
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def known_instance_types(provider: str | None = None) -> list[str]:
    """Names in natural order, optionally for one provider ("aws", "sagemaker", "gcp")."""
    return sorted(
        (n for n, it in INSTANCE_TYPES.items() if provider in (None, it.provider)), key=_natural
    )


def lookup_gpu(name: str) -> Gpu | None:
    """GPU by name, case-insensitive ("l4", "A10G", "a100-80gb", "nvidia-l4" all work)."""
    key = name.strip().upper().replace(" ", "-")
    # GKE/GCP accelerator names look like "nvidia-l4" / "nvidia-h100-80gb".
    key = key.removeprefix("NVIDIA-").removeprefix("TESLA-")
    by_upper = {k.upper(): k for k in GPUS}
    if key in by_upper:
        return GPUS[by_upper[key]]
    alias = _GPU_ALIASES.get(key)
    return GPUS[alias] if alias else None


def gcp_families_for_gpu(gpu_name: str) -> list[str]:
    """GCP machine families carrying this GPU, e.g. "L4" -> ["g2-standard"] (for R25 errors)."""
    gpu = lookup_gpu(gpu_name)
    if gpu is None:
        return []
    families = {
        name.rsplit("-", 1)[0]
        for name, it in INSTANCE_TYPES.items()
        if it.provider == "gcp" and it.gpu == gpu
    }
    return sorted(families)


def instance_types_for_gpu(gpu_name: str, provider: str | None = None) -> list[str]:
    """All catalog types with this GPU (sorted), to suggest alternatives in error messages."""
    gpu = lookup_gpu(gpu_name)
    if gpu is None:
        return []
    names = (n for n, it in INSTANCE_TYPES.items() if it.gpu == gpu)
    return sorted(
        (n for n in names if provider in (None, INSTANCE_TYPES[n].provider)), key=_natural
    )


def needs_flashinfer_sampler_off(gpu: Gpu) -> bool:
    """R4: FlashInfer's sampler crash-looped vLLM on T4 (7.5); it needs compute capability 8.0+."""
    return gpu.compute_capability < (8, 0)


def default_dtype(gpu: Gpu) -> str:
    """R4: "half" where the GPU has no bf16 (T4), otherwise let the engine follow the model."""
    return "auto" if gpu.bf16 else "half"


# --- SageMaker CPU types (HyperPod system / controller instance groups) ---------------------
# The inference operator and its dependencies need ~13 pods of capacity; the field rule is
# "ml.c5.4xlarge or larger" for the system group, compared here by vCPU count.
SAGEMAKER_CPU_TYPES: dict[str, int] = {
    "ml.c5.large": 2,
    "ml.c5.xlarge": 4,
    "ml.c5.2xlarge": 8,
    "ml.c5.4xlarge": 16,
    "ml.c5.9xlarge": 36,
    "ml.c5.12xlarge": 48,
    "ml.c5.18xlarge": 72,
    "ml.c5.24xlarge": 96,
    "ml.m5.large": 2,
    "ml.m5.xlarge": 4,
    "ml.m5.2xlarge": 8,
    "ml.m5.4xlarge": 16,
    "ml.m5.8xlarge": 32,
    "ml.m5.12xlarge": 48,
    "ml.m5.16xlarge": 64,
    "ml.m5.24xlarge": 96,
    "ml.t3.medium": 2,
    "ml.t3.large": 2,
    "ml.t3.xlarge": 4,
    "ml.t3.2xlarge": 8,
}


def sagemaker_cpu_type_at_least(name: str, minimum: str = "ml.c5.4xlarge") -> bool:
    """True when `name` is a known SageMaker CPU type with at least `minimum`'s vCPUs.

    Unknown names (including GPU types) return False so the caller can say "unknown/not a CPU
    type" rather than silently accepting it. Raises KeyError if `minimum` itself is unknown,
    which is a programming error.
    """
    vcpus = SAGEMAKER_CPU_TYPES.get(name.strip().lower())
    return vcpus is not None and vcpus >= SAGEMAKER_CPU_TYPES[minimum]
