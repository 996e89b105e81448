"""GPU/instance catalog: the facts behind R3, R4, R9 and R25."""

from __future__ import annotations

import pytest

from components.gpu_catalog import (
    GPUS,
    INSTANCE_TYPES,
    SAGEMAKER_CPU_TYPES,
    default_dtype,
    gcp_families_for_gpu,
    instance_types_for_gpu,
    known_instance_types,
    lookup_gpu,
    lookup_instance_type,
    needs_flashinfer_sampler_off,
    sagemaker_cpu_type_at_least,
)

# (instance type, GPU, count) as in docs/field-rules.md (GPU catalog).
EXPECTED = [
    ("g4dn.xlarge", "T4", 1),
    ("g4dn.16xlarge", "T4", 1),
    ("g4dn.12xlarge", "T4", 4),
    ("g4dn.metal", "T4", 8),
    ("g5.xlarge", "A10G", 1),
    ("g5.16xlarge", "A10G", 1),
    ("g5.12xlarge", "A10G", 4),
    ("g5.24xlarge", "A10G", 4),
    ("g5.48xlarge", "A10G", 8),
    ("g6.2xlarge", "L4", 1),
    ("g6.12xlarge", "L4", 4),
    ("g6.48xlarge", "L4", 8),
    ("g6e.xlarge", "L40S", 1),
    ("g6e.24xlarge", "L40S", 4),
    ("g6e.48xlarge", "L40S", 8),
    ("p4d.24xlarge", "A100-40GB", 8),
    ("p4de.24xlarge", "A100-80GB", 8),
    ("p5.48xlarge", "H100", 8),
    ("p5.4xlarge", "H100", 1),
    ("ml.g5.xlarge", "A10G", 1),
    ("ml.g5.48xlarge", "A10G", 8),
    ("ml.g6e.12xlarge", "L40S", 4),
    ("ml.p4d.24xlarge", "A100-40GB", 8),
    ("ml.p5.48xlarge", "H100", 8),
    ("g2-standard-4", "L4", 1),
    ("g2-standard-16", "L4", 1),
    ("g2-standard-24", "L4", 2),
    ("g2-standard-32", "L4", 1),
    ("g2-standard-48", "L4", 4),
    ("g2-standard-96", "L4", 8),
    ("a3-highgpu-1g", "H100", 1),
    ("a3-highgpu-2g", "H100", 2),
    ("a3-highgpu-4g", "H100", 4),
    ("a3-highgpu-8g", "H100", 8),
]


@pytest.mark.parametrize(("name", "gpu", "count"), EXPECTED)
def test_instance_types(name: str, gpu: str, count: int) -> None:
    it = lookup_instance_type(name)
    assert it is not None, name
    assert (it.gpu.name, it.gpu_count) == (gpu, count)


def test_providers() -> None:
    assert lookup_instance_type("g5.xlarge").provider == "aws"  # type: ignore[union-attr]
    assert lookup_instance_type("ml.g5.xlarge").provider == "sagemaker"  # type: ignore[union-attr]
    assert lookup_instance_type("g2-standard-8").provider == "gcp"  # type: ignore[union-attr]


def test_lookup_instance_type_is_forgiving_about_case_only() -> None:
    assert lookup_instance_type(" G5.XLarge ") == lookup_instance_type("g5.xlarge")
    assert lookup_instance_type("g5.xl") is None
    assert lookup_instance_type("g5.3xlarge") is None


def test_no_sagemaker_g4dn() -> None:
    # HyperPod has no ml.g4dn (section 5).
    assert not [n for n in known_instance_types("sagemaker") if n.startswith("ml.g4dn")]
    assert lookup_instance_type("ml.g4dn.xlarge") is None


def test_r25_a3_highgpu_1g_is_one_h100_not_eight_l4() -> None:
    it = lookup_instance_type("a3-highgpu-1g")
    assert it is not None
    assert (it.gpu.name, it.gpu.memory_gib, it.gpu_count) == ("H100", 80, 1)
    assert gcp_families_for_gpu("L4") == ["g2-standard"]
    assert gcp_families_for_gpu("l4") == ["g2-standard"]
    assert gcp_families_for_gpu("H100") == ["a3-highgpu"]
    assert gcp_families_for_gpu("T4") == []
    assert gcp_families_for_gpu("nonsense") == []


def test_known_instance_types_natural_order_and_filtered() -> None:
    names = known_instance_types()
    assert sorted(names) == sorted(INSTANCE_TYPES)
    g5 = [n for n in names if n.startswith("g5.")]
    assert g5 == [
        "g5.xlarge", "g5.2xlarge", "g5.4xlarge", "g5.8xlarge", "g5.12xlarge", "g5.16xlarge",
        "g5.24xlarge", "g5.48xlarge",
    ]
    gcp = known_instance_types("gcp")
    assert gcp and all(lookup_instance_type(n).provider == "gcp" for n in gcp)  # type: ignore[union-attr]
    assert "g5.xlarge" not in gcp
    assert known_instance_types("azure") == []


def test_instance_types_for_gpu() -> None:
    assert instance_types_for_gpu("L4", "gcp")[:3] == [
        "g2-standard-4", "g2-standard-8", "g2-standard-12",
    ]
    assert "g6.xlarge" in instance_types_for_gpu("L4")
    assert instance_types_for_gpu("bogus") == []


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("a10g", "A10G"),
        ("A10", "A10G"),
        ("l40s", "L40S"),
        ("nvidia-l4", "L4"),
        ("nvidia-tesla-t4", "T4"),
        ("a100-80gb", "A100-80GB"),
        ("nvidia-h100-80gb", "H100"),
        ("H100", "H100"),
    ],
)
def test_lookup_gpu(spelling: str, canonical: str) -> None:
    gpu = lookup_gpu(spelling)
    assert gpu is not None and gpu.name == canonical


def test_lookup_gpu_unknown_and_ambiguous() -> None:
    assert lookup_gpu("V100") is None
    assert lookup_gpu("A100") is None  # 40 or 80 GB: refuse to guess


def test_r4_t4_needs_sampler_off_and_half() -> None:
    t4 = GPUS["T4"]
    assert t4.compute_capability == (7, 5) and not t4.bf16
    assert needs_flashinfer_sampler_off(t4)
    assert default_dtype(t4) == "half"
    for name in ("A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100"):
        assert not needs_flashinfer_sampler_off(GPUS[name]), name
        assert default_dtype(GPUS[name]) == "auto", name


def test_gpu_memory_and_capability() -> None:
    assert {n: g.memory_gib for n, g in GPUS.items()} == {
        "T4": 16, "A10G": 24, "L4": 24, "L40S": 48, "A100-40GB": 40, "A100-80GB": 80, "H100": 80,
    }
    assert GPUS["A100-40GB"].compute_capability == (8, 0)
    assert GPUS["H100"].compute_capability == (9, 0)
    assert GPUS["L4"].compute_capability == (8, 9)


def test_sagemaker_cpu_types_for_the_system_group() -> None:
    assert SAGEMAKER_CPU_TYPES["ml.c5.4xlarge"] == 16
    assert sagemaker_cpu_type_at_least("ml.c5.4xlarge")
    assert sagemaker_cpu_type_at_least("ml.m5.8xlarge")
    assert sagemaker_cpu_type_at_least("ml.c5.24xlarge")
    assert not sagemaker_cpu_type_at_least("ml.c5.2xlarge")
    assert not sagemaker_cpu_type_at_least("ml.m5.xlarge")
    assert not sagemaker_cpu_type_at_least("ml.g5.12xlarge")  # a GPU type is not a CPU type
    assert not sagemaker_cpu_type_at_least("c5.4xlarge")  # EC2 name, not SageMaker
    assert sagemaker_cpu_type_at_least("ml.c5.2xlarge", minimum="ml.m5.2xlarge")
    with pytest.raises(KeyError):
        sagemaker_cpu_type_at_least("ml.c5.4xlarge", minimum="ml.bogus")
