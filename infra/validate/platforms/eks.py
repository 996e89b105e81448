"""Platform `eks` rules: pools and pinning (R3, R25), exposure needs, cache vs root volume (R18),
pool capacity vs the replicas the endpoints ask for, and the GPU node bounds the Cluster
Autoscaler works within (`node_bounds`)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.gpu_catalog import lookup_gpu, lookup_instance_type
from components.platforms.cluster_autoscaler import VERSIONS, chart_for
from components.platforms.eks import POOL_LABEL
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, FsxSource
from infra.config.platforms.eks import EksSettings, GpuPool
from infra.config.stack import EksStack
from infra.validate.placement import (
    INSTANCE_TYPE_LABEL,
    Placement,
    PlacementError,
    least_replicas,
    peak_replicas,
    placed,
)
from infra.validate.sizing import cache_size

SECTION = f"{NAMESPACE}:eks"
# Images (vLLM/SGLang are ~10-20 GiB unpacked) and the OS share the root volume with emptyDir
# model caches; leave this much beside the caches (R18).
IMAGE_HEADROOM_GIB = 40


def _pool_summary(settings: EksSettings) -> str:
    return ", ".join(f"{p.name} ({', '.join(p.instance_types)})" for p in settings.gpu_pools)


def _resolve_pool(endpoint: EndpointConfig, settings: EksSettings) -> GpuPool:
    request = endpoint.gpu
    if request.pool is not None:
        pool = settings.pool(request.pool)
        if pool is None:
            raise PlacementError("gpu.pool", f"{request.pool!r} is not a GPU pool of "
                                 f"{SECTION}.gpu_pools; known: {_pool_summary(settings)}")
        return pool
    if request.instance_type is not None:
        wanted = request.instance_type.strip().lower()
        pools = [p for p in settings.gpu_pools if wanted in p.instance_types]
        if not pools:
            raise PlacementError("gpu.instance_type", f"no GPU pool allows {wanted!r}; pools: "
                                 f"{_pool_summary(settings)} (add it to {SECTION}.gpu_pools)")
        return pools[0]
    candidates = settings.gpu_pools
    if request.type is not None:
        gpu = lookup_gpu(request.type)
        candidates = [p for p in candidates if gpu is not None and
                      pool_gpu(p)[0].name == gpu.name]
    if len(candidates) == 1:
        return candidates[0]
    raise PlacementError("gpu.pool", f"name one of the GPU pools ({_pool_summary(settings)}) "
                         "or gpu.instance_type, so pods are pinned to it (R3)")


def pool_gpu(pool: GpuPool) -> tuple[Any, int]:
    instance = lookup_instance_type(pool.instance_types[0])
    assert instance is not None, "GpuPool validates its instance types against the catalog"
    return instance.gpu, instance.gpu_count


def place(endpoint: EndpointConfig, settings: EksSettings) -> Placement:
    """Pool -> instance type from the catalog -> pinned Placement + pool selector (R3, R25)."""
    request = endpoint.gpu
    pool = _resolve_pool(endpoint, settings)
    gpu, per_node = pool_gpu(pool)
    if request.instance_type is not None:
        instance_type = request.instance_type.strip().lower()
        if instance_type not in pool.instance_types:
            raise PlacementError("gpu.instance_type", f"{instance_type!r} is not in pool "
                                 f"{pool.name!r} ({', '.join(pool.instance_types)})")
    elif len(pool.instance_types) == 1:
        instance_type = pool.instance_types[0]
    else:
        raise PlacementError("gpu.instance_type", f"pool {pool.name!r} allows "
                             f"{', '.join(pool.instance_types)}; name one so pods are pinned (R3)")
    if request.type is not None and (found := lookup_gpu(request.type)) != gpu:
        name = found.name if found else repr(request.type)
        raise PlacementError("gpu.type", f"{name} but pool {pool.name!r} has {gpu.name}")
    if request.count > per_node:
        raise PlacementError("gpu.count", f"{request.count} GPUs per replica but "
                             f"{instance_type} has {per_node}")
    return Placement.pinned(gpu, request.count, instance_type, {POOL_LABEL: pool.name})


def _gib(quantity: str) -> float:
    """Kubernetes quantity -> GiB (binary and decimal suffixes)."""
    match = re.match(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$", quantity)
    if match is None:
        return 0.0
    factor = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6,
              "G": 1e9, "T": 1e12, None: 1}[match.group(2)]
    return float(match.group(1)) * factor / 2**30


def _endpoint_problems(index: int, endpoint: EndpointConfig, settings: EksSettings,
                       gpus_by_pool: dict[str, int]) -> list[Problem]:
    at = f"{NAMESPACE}:" + key_path("endpoints", index)
    problems = []
    exposure = endpoint.exposure
    if exposure.type != "cluster" and not settings.aws_load_balancer_controller:
        problems.append(Problem(f"{at}.exposure.type", f"{exposure.type!r} needs the AWS Load "
                                f"Balancer Controller; set {SECTION}.aws_load_balancer_controller"
                                ": true or use type cluster"))
    if exposure.scheme == "internet-facing" and settings.vpc.existing_vpc_id and \
            not settings.vpc.public_subnet_ids:
        problems.append(Problem(f"{at}.exposure.scheme", "internet-facing needs public subnets: "
                                f"set {SECTION}.vpc.public_subnet_ids"))
    if isinstance(endpoint.source, FsxSource):
        problems.append(Problem(f"{at}.source.type", "'fsx' is only for platform hyperpod"))
    try:
        placement = place(endpoint, settings)
    except PlacementError:
        return problems  # reported by the shared rules with its key path
    pool = settings.pool(placement.node_selector[POOL_LABEL])
    assert pool is not None
    gpus_by_pool[pool.name] += peak_replicas(endpoint) * placement.count
    if endpoint.cache.type == "emptydir":
        need = _gib(cache_size(endpoint)) * math.ceil(_per_node(endpoint, placement, pool))
        if need + IMAGE_HEADROOM_GIB > pool.root_volume_gib:
            problems.append(Problem(f"{at}.cache.size", (
                f"{cache_size(endpoint)} per replica on nodes of pool {pool.name!r} with a "
                f"{pool.root_volume_gib} GiB root volume leaves less than {IMAGE_HEADROOM_GIB} "
                f"GiB for images (R18); raise {SECTION}.gpu_pools[].root_volume_gib to at least "
                f"{math.ceil(need + IMAGE_HEADROOM_GIB)} or lower the cache size")))
    return problems


def _per_node(endpoint: EndpointConfig, placement: Placement, pool: GpuPool) -> float:
    """Replicas of this endpoint that can share one node of the pool."""
    return max(1, min(endpoint.replicas, pool_gpu(pool)[1] // placement.count))


def first_fit_nodes(gpu_counts: list[int], per_node: int) -> int:
    """Nodes of `per_node` GPUs that hold replicas needing `gpu_counts` GPUs each (a replica
    never spans nodes): first fit, largest first, as the scheduler would fill them."""
    free: list[int] = []
    for count in sorted(gpu_counts, reverse=True):
        for i, room in enumerate(free):
            if room >= count:
                free[i] -= count
                break
        else:
            free.append(per_node - count)
    return len(free)


def _placed(config: EksStack) -> list[tuple[int, EndpointConfig, str, int]]:
    """(index, endpoint, pool name, GPUs per replica) of every endpoint that places."""
    return [(index, endpoint, placement.node_selector[POOL_LABEL], placement.count)
            for index, endpoint, placement in placed(config.endpoints, config.platform_settings,
                                                     place)]


def nodes_needed(config: EksStack, replicas: Callable[[EndpointConfig], int] = peak_replicas,
                 ) -> dict[str, int]:
    """GPU nodes each pool needs for `replicas(endpoint)` of every endpoint placed on it (by
    default the peak)."""
    demand: dict[str, list[int]] = defaultdict(list)
    for _, endpoint, pool, count in _placed(config):
        demand[pool] += [count] * replicas(endpoint)
    return {pool.name: first_fit_nodes(demand[pool.name], pool_gpu(pool)[1])
            for pool in config.platform_settings.gpu_pools}


def cluster_autoscaler(config: EksStack) -> bool:
    """The Cluster Autoscaler runs when node groups are the autoscaling mode and an endpoint
    autoscales: only then do replicas (and so GPU nodes) change after `pulumi up`."""
    return config.platform_settings.autoscaling == "managed" and \
        any(e.autoscaling is not None for e in config.endpoints)


@dataclass(frozen=True)
class NodeBounds:
    """One node group's sizes and who changes them after creation."""

    min_size: int
    desired_size: int
    max_size: int
    autoscaler: str | None  # "cluster-autoscaler", "karpenter" (NodePools beside) or None


def node_bounds(config: EksStack) -> dict[str, NodeBounds]:
    """Per GPU pool. With the Cluster Autoscaler: min = the nodes the endpoints' least replicas
    need (at least the pool's min_size, for warm nodes), max = the nodes their peak needs
    (autoscaling.max x tensor_parallel_size, first fit), desired = min at creation. Without it
    nothing resizes the group after `pulumi up`, so it starts with the peak (desired raised to
    the demand, within the pool's sizes)."""
    settings = config.platform_settings
    peak = nodes_needed(config)
    if not cluster_autoscaler(config):
        mode = "karpenter" if settings.autoscaling == "karpenter" else None
        return {p.name: NodeBounds(p.min_size, min(p.max_size, max(p.desired_size,
                                                                    peak[p.name])),
                                   p.max_size, mode) for p in settings.gpu_pools}
    least = nodes_needed(config, least_replicas)
    bounds = {}
    for pool in settings.gpu_pools:
        low = min(pool.max_size, max(pool.min_size, least[pool.name]))
        bounds[pool.name] = NodeBounds(low, low, max(low, peak[pool.name]), "cluster-autoscaler")
    return bounds


def pool_of(config: EksStack, endpoint: EndpointConfig) -> str | None:
    """The GPU pool an endpoint places on (None when it does not place)."""
    for _, candidate, pool, _ in _placed(config):
        if candidate is endpoint:
            return pool
    return None


def _autoscaled_fit(config: EksStack) -> list[Problem]:
    """An endpoint whose autoscaling.max x tensor_parallel_size alone cannot fit its pool's
    max_size: KEDA would ask for replicas no node can hold."""
    settings = config.platform_settings
    problems = []
    for index, endpoint, pool_name, count in _placed(config):
        pool = settings.pool(pool_name)
        if endpoint.autoscaling is None or pool is None:
            continue
        per_node = pool_gpu(pool)[1]
        needed = first_fit_nodes([count] * endpoint.autoscaling.max, per_node)
        if needed > pool.max_size:
            fits = pool.max_size * (per_node // count)
            problems.append(Problem(
                f"{NAMESPACE}:" + key_path("endpoints", index, "autoscaling", "max"),
                f"{endpoint.autoscaling.max} replicas x {count} GPU (tensor_parallel_size) need "
                f"{needed} nodes of pool {pool.name!r} ({per_node} GPU per node), but its "
                f"max_size is {pool.max_size}; lower autoscaling.max to {fits} or raise "
                f"{SECTION}.gpu_pools[].max_size to {needed}"))
    return problems


def _autoscaler_version(config: EksStack) -> list[Problem]:
    version = config.platform_settings.kubernetes_version
    if not cluster_autoscaler(config) or chart_for(version) is not None:
        return []
    return [Problem(f"{SECTION}.kubernetes_version", (
        f"{version!r}: autoscaled endpoints need the Cluster Autoscaler, whose minor must match "
        f"the cluster's; pinned for {', '.join(VERSIONS)}"))]


def _demand_note(config: EksStack, pool: str) -> str:
    """Which endpoints make up a pool's peak, by key: 'qwen (endpoints[0].autoscaling.max 3 x
    1 GPU)'."""
    parts = []
    for index, endpoint, placed_on, count in _placed(config):
        if placed_on != pool:
            continue
        key = "autoscaling.max" if endpoint.autoscaling is not None else "replicas"
        parts.append(f"{endpoint.name} (endpoints[{index}].{key} {peak_replicas(endpoint)} x "
                     f"{count} GPU)")
    return ", ".join(parts)


def check(config: EksStack) -> list[Problem]:
    """Exposure needs, sources, cache vs root volume, and pool capacity vs replicas."""
    settings = config.platform_settings
    problems: list[Problem] = []
    gpus_by_pool: dict[str, int] = defaultdict(int)
    for index, endpoint in enumerate(config.endpoints):
        problems += _endpoint_problems(index, endpoint, settings, gpus_by_pool)
    needed = nodes_needed(config)
    for i, pool in enumerate(settings.gpu_pools):
        if reserved := sorted(set(pool.labels) & {POOL_LABEL, INSTANCE_TYPE_LABEL}):
            problems.append(Problem(f"{SECTION}.gpu_pools[{i}].labels", (
                f"{', '.join(reserved)} is set by the program: endpoints are pinned by it (R3); "
                "remove it")))
        # Whatever the autoscaling mode: the node group's max (the Cluster Autoscaler's bound,
        # or the fixed size it starts with) must hold the peak.
        if needed[pool.name] > pool.max_size:
            per_node = pool_gpu(pool)[1]
            problems.append(Problem(
                f"{SECTION}.gpu_pools[{i}].max_size",
                f"{pool.max_size} nodes x {per_node} GPU = {pool.max_size * per_node} GPUs, but "
                f"the endpoints on pool {pool.name!r} need {gpus_by_pool[pool.name]} GPUs on "
                f"{needed[pool.name]} nodes at their peak ({_demand_note(config, pool.name)}); "
                f"raise max_size to {needed[pool.name]} or lower those replicas",
            ))
    return problems + _autoscaled_fit(config) + _autoscaler_version(config)

