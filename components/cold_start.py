"""Cold-start budget of a scale-to-zero endpoint: how long the first request after an idle spell
waits for a replica (node + image + weights + load), as an estimate with its assumptions, and
whether the part the startup probe covers fits `probes.startup_budget_seconds`.

Pure: the plan summary prints it (infra/plan/offline.py). Every number below is an assumption,
not a measurement; each stage says which, so a reader can replace it with their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GB = 1e9
# Sustained download from the Hugging Face hub, S3 or a registry to one node: 1 Gbit/s.
DOWNLOAD_BYTES_PER_S = 125e6
# Reading weights from the node's disk into GPU memory (safetensors, one NVMe/EBS gp3 volume).
LOAD_BYTES_PER_S = 1e9
# Engine start besides reading weights: CUDA context, profiling, CUDA graph capture.
ENGINE_INIT_S = 60
# The pinned vLLM/SGLang CUDA images are 10-20 GB (docs/autoscaling.md); components/images.py
# records no sizes, so the low end is assumed, and pulling also unpacks (x1.5).
ENGINE_IMAGE_BYTES = 10 * GB
IMAGE_UNPACK_FACTOR = 1.5

# Time for a GPU node to join and advertise its GPUs, per platform (and EKS node scaling mode).
# (seconds, assumption, whether the node - and its image and hostPath cache - stays at zero)
NODE: dict[str, tuple[int, str, bool]] = {
    "eks/managed": (0, "the managed node group keeps a GPU node at zero replicas (its min_size, "
                    "or no autoscaler: sized to the peak; it still bills)", True),
    "eks/cluster-autoscaler": (270, "the Cluster Autoscaler grows the managed node group: "
                               "Auto Scaling launch, EKS AMI boot and join, NVIDIA device "
                               "plugin (~4.5 min)", False),
    "eks/karpenter": (240, "Karpenter launches a GPU instance: EC2 start, EKS AMI boot and "
                      "join, NVIDIA device plugin (~4 min)", False),
    "kubernetes": (0, "assumes a free GPU node; add your cluster autoscaler's time", True),
    "k3s-workload": (0, "fixed VMs keep their GPUs at zero replicas", True),
    "hyperpod": (0, "the instance group keeps its nodes at zero replicas", True),
}


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: int
    assumption: str
    in_startup_probe: bool  # happens after the engine container started


@dataclass(frozen=True)
class ColdStart:
    stages: tuple[Stage, ...]
    startup_budget_s: int

    @property
    def total_s(self) -> int:
        return sum(s.seconds for s in self.stages)

    @property
    def probed_s(self) -> int:
        """The part the startup probe must allow (download in the engine, and the load)."""
        return sum(s.seconds for s in self.stages if s.in_startup_probe)

    @property
    def over_budget(self) -> bool:
        return self.probed_s > self.startup_budget_s


def estimate(node: str, weights_bytes: int | None, *, cache: str, download_in_engine: bool,
             startup_budget_s: int) -> ColdStart:
    """The cold start of one replica on a node of kind `node` (a `NODE` key). `weights_bytes`
    None: a model outside the catalog, so its download and load are not estimated."""
    node_s, node_why, node_stays = NODE[node]
    stages = [Stage("node", node_s, node_why, False)]
    if node_stays:
        stages.append(Stage("image", 0, "cached on the node that stayed", False))
    else:
        pull = math.ceil(ENGINE_IMAGE_BYTES * IMAGE_UNPACK_FACTOR / DOWNLOAD_BYTES_PER_S)
        stages.append(Stage("image", pull, f"{ENGINE_IMAGE_BYTES / GB:g} GB assumed (size not "
                            f"recorded), {DOWNLOAD_BYTES_PER_S * 8 / GB:g} Gbit/s, unpack "
                            f"x{IMAGE_UNPACK_FACTOR:g}", False))
    if weights_bytes is None:
        stages.append(Stage("weights", 0, "model not in the catalog: not estimated", True))
    else:
        size = f"{weights_bytes / GB:.1f} GB"
        cached = cache in ("pvc", "fsx") or (cache == "hostpath" and node_stays)
        download = 0 if cached else math.ceil(weights_bytes / DOWNLOAD_BYTES_PER_S)
        why = (f"{size} from the {cache} cache" if cached else
               f"{size} at {DOWNLOAD_BYTES_PER_S * 8 / GB:g} Gbit/s ({cache}: downloaded again)")
        stages.append(Stage("weights", download, why, download_in_engine))
        load = math.ceil(weights_bytes / LOAD_BYTES_PER_S) + ENGINE_INIT_S
        stages.append(Stage("load", load, f"{size} at {LOAD_BYTES_PER_S / GB:g} GB/s + "
                            f"{ENGINE_INIT_S} s engine init", True))
    return ColdStart(tuple(stages), startup_budget_s)


def describe(name: str, cold: ColdStart) -> list[str]:
    """Plan summary lines: the estimate, each stage with its assumption, the probe budget."""
    lines = [f"{name}: cold start ~{_duration(cold.total_s)} from zero (estimate; startup probe "
             f"covers {_duration(cold.probed_s)} of it, budget "
             f"{_duration(cold.startup_budget_s)})"]
    lines += [f"  {s.name} {_duration(s.seconds)}: {s.assumption}" for s in cold.stages]
    return lines


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds / 60:.1f} min"
