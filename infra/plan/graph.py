"""The deploy-order graph of a plan and the invariants `pulumi up` / `pulumi destroy` rely on.

Pure functions over the registrations the mock engine recorded (`infra/plan/mocks.py`): every
resource waits on its parent, its `depends_on`, the resources its inputs come from and its
provider. From that graph the plan writes `graph.json` and `order.md` (the waves in which
`pulumi up` can create resources; `pulumi destroy` deletes in the reverse order) and checks the
invariants listed in docs/deploy-order.md. Each violation is one line naming both resources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.plan.mocks import Registration

STACK_TYPE = "pulumi:pulumi:Stack"
# Resources that create a Kubernetes control plane in the stack.
CLUSTER_TYPES = frozenset({"eks:index:Cluster", "aws:eks/cluster:Cluster",
                           "gcp:container/cluster:Cluster"})
# Resources that bring nodes pods can be scheduled on.
NODE_TYPES = frozenset({"aws:eks/nodeGroup:NodeGroup", "aws-native:sagemaker:Cluster",
                        "gcp:container/nodePool:NodePool"})
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_MARKERS = ("nvidia.com/gpu.present", GPU_RESOURCE)
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
POD_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                       "CronJob", "Release", "Chart", "InferenceEndpointConfig",
                       "JumpStartModel"})
# API groups Kubernetes serves itself (no CRD to wait for).
BUILTIN_GROUPS = frozenset({
    "core", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "storage.k8s.io",
    "rbac.authorization.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io",
    "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io",
    "certificates.k8s.io", "apiregistration.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "helm.sh", "yaml", "kustomize",
})


def _addon(name: str) -> Callable[[Node], bool]:
    return lambda n: n.type == "aws:eks/addon:Addon" and n.inputs.get("addonName") == name


def _chart(name: str) -> Callable[[Node], bool]:
    return lambda n: n.type.startswith("kubernetes:helm.sh/") and n.inputs.get("chart") == name


# CRD API group -> what installs the CRD (and runs the operator that owns its finalizers).
CRD_INSTALLERS: dict[str, tuple[str, Callable[[Node], bool]]] = {
    "inference.sagemaker.aws.amazon.com": (
        "the amazon-sagemaker-hyperpod-inference add-on",
        _addon("amazon-sagemaker-hyperpod-inference")),
    "karpenter.sh": ("the karpenter chart", _chart("karpenter")),
    "karpenter.k8s.aws": ("the karpenter chart", _chart("karpenter")),
    "cert-manager.io": ("cert-manager", lambda n: _addon("cert-manager")(n)
                        or _chart("cert-manager")(n)),
    "keda.sh": ("KEDA (its chart, or the HyperPod inference add-on that bundles it)",
                lambda n: _chart("keda")(n)
                or _addon("amazon-sagemaker-hyperpod-inference")(n)),
    "monitoring.coreos.com": ("kube-prometheus-stack", _chart("kube-prometheus-stack")),
}


@dataclass(frozen=True)
class Node:
    """One registered resource with the URNs it waits on."""

    urn: str
    type: str
    name: str
    custom: bool
    remote: bool
    parent: str
    provider: str  # provider URN, "" = the default provider
    providers: dict[str, str]
    dependencies: frozenset[str]  # depends_on and property dependencies
    timeouts: tuple[tuple[str, str], ...]  # customTimeouts (create/update/delete)
    inputs: dict[str, Any] = field(hash=False, compare=False)
    ignore_changes: tuple[str, ...] = ()  # properties `pulumi up` leaves to someone else

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"

    @property
    def waits_on(self) -> frozenset[str]:
        edges = set(self.dependencies)
        if self.parent:
            edges.add(self.parent)
        if self.provider:
            edges.add(self.provider)
        edges.update(self.providers.values())
        return frozenset(edges)

    @property
    def created(self) -> bool:
        """Something the engine creates (a custom resource or a remote component)."""
        return self.custom or self.remote


@dataclass(frozen=True)
class Expectations:
    """What the stack config pins: every cloud resource must use it, not the ambient shell."""

    aws_region: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    gcp_zone: str | None = None


def _provider_urn(ref: str) -> str:
    """`<urn>::<id>` -> `<urn>`."""
    return ref.rsplit("::", 1)[0] if ref else ""


def _is_stack(urn: str) -> bool:
    return f"::{STACK_TYPE}::" in urn


def _is_read(urn: str) -> bool:
    """Read, not registered (stack references): nothing to create, nothing to wait for."""
    return "pulumi:pulumi:StackReference::" in urn


class Graph:
    """Registrations by URN with their wait-on edges (parent, dependencies, provider)."""

    def __init__(self, registrations: Iterable[Registration]):
        self.nodes: dict[str, Node] = {}
        for reg in registrations:
            wiring = reg.wiring
            deps = set(wiring.dependencies)
            for urns in wiring.property_dependencies.values():
                deps.update(urns)
            parent = reg.parent or ""
            node = Node(
                urn=wiring.urn or f"{reg.type}::{reg.name}", type=reg.type, name=reg.name,
                custom=reg.custom, remote=wiring.remote,
                parent="" if _is_stack(parent) else parent,
                provider=_provider_urn(wiring.provider),
                providers={k: _provider_urn(v) for k, v in wiring.providers.items()},
                dependencies=frozenset(deps),
                timeouts=tuple(sorted(wiring.custom_timeouts.items())), inputs=reg.inputs,
                ignore_changes=tuple(wiring.ignore_changes))
            self.nodes[node.urn] = node
        self._closure: dict[str, frozenset[str]] = {}

    def node(self, urn: str) -> Node | None:
        return self.nodes.get(urn)

    def of_type(self, types: Iterable[str]) -> list[Node]:
        wanted = set(types)
        return sorted((n for n in self.nodes.values() if n.type in wanted), key=_key)

    def ancestors(self, urn: str) -> frozenset[str]:
        """Every URN `urn` waits on, transitively."""
        if urn in self._closure:
            return self._closure[urn]
        seen: set[str] = set()
        stack = [urn]
        while stack:
            node = self.nodes.get(stack.pop())
            if node is None:
                continue
            for edge in node.waits_on:
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)
        seen.discard(urn)
        self._closure[urn] = frozenset(seen)
        return self._closure[urn]

    def waits_on(self, node: Node, other: Node) -> bool:
        return other.urn in self.ancestors(node.urn)


def _key(node: Node) -> tuple[str, str]:
    return node.type, node.name


def cycles_and_dangling(graph: Graph) -> list[str]:
    """Edges to resources the program never registered, and dependency cycles."""
    problems = []
    for node in sorted(graph.nodes.values(), key=_key):
        for edge in sorted(node.waits_on):
            if edge not in graph.nodes and not _is_stack(edge) and not _is_read(edge):
                problems.append(f"{node.label} waits on {edge}, which this program never "
                                "registers")
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(urn: str, path: list[str]) -> None:
        state[urn] = 1
        path.append(urn)
        node = graph.nodes[urn]
        for edge in sorted(node.waits_on):
            if edge not in graph.nodes:
                continue
            if state.get(edge) == 1:
                loop = path[path.index(edge):]
                names = " -> ".join(graph.nodes[u].label for u in loop)
                problems.append(f"dependency cycle: {names} -> {graph.nodes[edge].label}")
            elif edge not in state:
                visit(edge, path)
        path.pop()
        state[urn] = 2

    for urn in sorted(graph.nodes):
        if urn not in state:
            visit(urn, [])
    return problems


def waves(graph: Graph) -> list[list[Node]]:
    """Created resources grouped by the earliest `pulumi up` wave they can be created in.

    A resource's wave is one more than the latest wave among created resources it waits on
    (components take no time: waiting on one is waiting on what it waits on). Deletion runs
    the waves backwards.
    """
    level: dict[str, int] = {}

    def wave_of(urn: str, path: frozenset[str]) -> int:
        if urn in level:
            return level[urn]
        node = graph.nodes.get(urn)
        if node is None or urn in path:  # dangling or cyclic: reported elsewhere
            return 0
        result = 0
        for edge in node.waits_on:
            other = graph.nodes.get(edge)
            if other is None:
                continue
            result = max(result, wave_of(edge, path | {urn}) + (1 if other.created else 0))
        level[urn] = result
        return result

    grouped: dict[int, list[Node]] = {}
    for urn, node in graph.nodes.items():
        if node.created:
            grouped.setdefault(wave_of(urn, frozenset()), []).append(node)
    return [sorted(grouped[w], key=_key) for w in sorted(grouped)]


# --- invariants -----------------------------------------------------------------------------

def _is_k8s_object(node: Node) -> bool:
    return node.custom and node.type.startswith("kubernetes:")


def _api_group_kind(node: Node) -> tuple[str, str]:
    """`kubernetes:apps/v1:Deployment` -> ("apps", "Deployment"); core is "core"."""
    _, group_version, kind = node.type.split(":", 2)
    group = group_version.rsplit("/", 1)[0] if "/" in group_version else "core"
    return group, kind


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


def _mentions(value: Any, text: str) -> bool:
    if isinstance(value, dict):
        return any(_mentions(k, text) or _mentions(v, text) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, text) for v in value)
    return isinstance(value, str) and text in value


def _is_gpu_nodes(node: Node) -> bool:
    if node.type != "aws:eks/nodeGroup:NodeGroup":
        return True  # HyperPod instance groups and the like exist to run accelerators
    return any(_mentions(node.inputs.get(k), m) for k in ("labels", "taints")
               for m in GPU_NODE_MARKERS)


def kubernetes_provider(graph: Graph, _: Expectations) -> list[str]:
    """Kubernetes objects use an explicit provider; with a cluster in the stack, they and their
    provider wait for it."""
    problems = []
    clusters = graph.of_type(CLUSTER_TYPES)
    for node in sorted(filter(_is_k8s_object, graph.nodes.values()), key=_key):
        provider = graph.node(node.provider) if node.provider else None
        if provider is None:
            problems.append(f"{node.label} uses the default Kubernetes provider (the ambient "
                            "kubeconfig), not the stack's cluster provider")
        for cluster in clusters:
            if not graph.waits_on(node, cluster):
                problems.append(f"{node.label} does not wait for cluster {cluster.label}")
            if provider is not None and not graph.waits_on(provider, cluster):
                problems.append(f"{node.label}: its provider {provider.label} does not wait "
                                f"for cluster {cluster.label}")
    return problems


def pods_on_nodes(graph: Graph, _: Expectations) -> list[str]:
    """Pod-creating objects wait for nodes that can run them (GPU pods: GPU nodes and the device
    plugin)."""
    nodes = graph.of_type(NODE_TYPES)
    if not nodes:
        return []  # nodes come from outside the stack (existing cluster, K3s hosts)
    gpu_nodes = [n for n in nodes if _is_gpu_nodes(n)]
    plugins = [n for n in graph.nodes.values() if n.type.startswith("kubernetes:helm.sh/")
               and n.inputs.get("chart") == DEVICE_PLUGIN_CHART]
    problems = []
    for node in sorted(filter(_is_k8s_object, graph.nodes.values()), key=_key):
        if _api_group_kind(node)[1] not in POD_KINDS:
            continue
        if _has_key(node.inputs, GPU_RESOURCE):
            if not any(graph.waits_on(node, g) for g in gpu_nodes):
                names = ", ".join(g.label for g in gpu_nodes) or "none in the stack"
                problems.append(f"{node.label} requests GPUs but does not wait for GPU nodes "
                                f"({names})")
            problems += [f"{node.label} requests GPUs but does not wait for device plugin "
                         f"{p.label}" for p in plugins if not graph.waits_on(node, p)]
        elif node not in plugins and not any(graph.waits_on(node, n) for n in nodes):
            problems.append(f"{node.label} creates pods but waits for no nodes "
                            f"({', '.join(n.label for n in nodes)})")
    return problems


def custom_resources_after_crds(graph: Graph, _: Expectations) -> list[str]:
    """Custom resources wait for what installs their CRD (so they are deleted before it)."""
    problems = []
    for node in sorted(filter(_is_k8s_object, graph.nodes.values()), key=_key):
        group, _kind = _api_group_kind(node)
        if group in BUILTIN_GROUPS or group not in CRD_INSTALLERS:
            continue
        what, installs = CRD_INSTALLERS[group]
        for installer in sorted(filter(installs, graph.nodes.values()), key=_key):
            if not graph.waits_on(node, installer):
                problems.append(f"{node.label} ({group}) does not wait for {what} "
                                f"{installer.label}: created before its CRD, deleted after "
                                "its operator")
    return problems


def addons_after_cluster_and_nodes(graph: Graph, _: Expectations) -> list[str]:
    """EKS add-ons wait for the cluster and for a node group to schedule on."""
    problems = []
    clusters = graph.of_type(CLUSTER_TYPES)
    groups = graph.of_type({"aws:eks/nodeGroup:NodeGroup"})
    for addon in graph.of_type({"aws:eks/addon:Addon"}):
        problems += [f"{addon.label} does not wait for cluster {c.label}"
                     for c in clusters if not graph.waits_on(addon, c)]
        if groups and not any(graph.waits_on(addon, g) for g in groups):
            problems.append(f"{addon.label} waits for no node group to schedule on "
                            f"({', '.join(g.label for g in groups)})")
    return problems


ROLE_TYPE = "aws:iam/role:Role"
# What gives a role its permissions: attached managed policies and inline policies.
ROLE_PERMISSION_TYPES = frozenset({"aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                                   "aws:iam/rolePolicy:RolePolicy"})


def pods_after_role_permissions(graph: Graph, _: Expectations) -> list[str]:
    """A pod-creating object that takes an IAM role (IRSA: its ARN in the service account's
    annotation) waits for every policy of that role, not only for the role."""
    grants: dict[str, list[Node]] = {}
    for grant in graph.of_type(ROLE_PERMISSION_TYPES):
        for role in grant.dependencies:
            grants.setdefault(role, []).append(grant)
    problems = []
    for node in sorted(filter(_is_k8s_object, graph.nodes.values()), key=_key):
        if _api_group_kind(node)[1] not in POD_KINDS:
            continue
        for role in sorted(node.dependencies):
            if graph.nodes.get(role) is None or graph.nodes[role].type != ROLE_TYPE:
                continue
            problems += [f"{node.label} runs as role {graph.nodes[role].label} before "
                         f"{g.label} grants its permissions"
                         for g in grants.get(role, []) if not graph.waits_on(node, g)]
    return problems


def _subnets_of(node: Node) -> list[str]:
    if node.type == "aws:eks/nodeGroup:NodeGroup":
        value = node.inputs.get("subnetIds")
    elif node.type == "aws-native:sagemaker:Cluster":
        value = (node.inputs.get("vpcConfig") or {}).get("subnets")
    else:
        value = None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def nodes_after_egress(graph: Graph, _: Expectations) -> list[str]:
    """Nodes wait for the route table association of every subnet they launch in: a node in a
    private subnet without its NAT route cannot pull images or join the cluster."""
    associations: dict[str, list[Node]] = {}
    for assoc in graph.of_type({"aws:ec2/routeTableAssociation:RouteTableAssociation"}):
        subnet = assoc.inputs.get("subnetId")
        if isinstance(subnet, str):
            associations.setdefault(subnet, []).append(assoc)
    problems = []
    for node in graph.of_type(NODE_TYPES):
        for subnet in sorted(set(_subnets_of(node))):
            problems += [f"{node.label} launches in subnet {subnet} before {a.label} routes it"
                         for a in associations.get(subnet, []) if not graph.waits_on(node, a)]
    return problems


def _provider_problem(graph: Graph, node: Node, package: str, ref: str,
                      expected: dict[str, str]) -> str | None:
    provider = graph.node(ref) if ref else None
    if provider is None:
        wanted = ", ".join(f"{k} {v}" for k, v in expected.items())
        return (f"{node.label} uses the default {package} provider (ambient environment), "
                f"not one with {wanted}")
    for key, value in expected.items():
        if provider.inputs.get(key) != value:
            return (f"{node.label} uses provider {provider.label} with {key} "
                    f"{provider.inputs.get(key)!r}, not {value!r}")
    return None


def cloud_location(graph: Graph, expect: Expectations) -> list[str]:
    """AWS resources use a provider with the configured region; GCP resources carry the
    configured project (and zone/region where they have one) or use a provider that does."""
    problems = []
    for node in sorted(graph.nodes.values(), key=_key):
        package = node.type.split(":", 1)[0]
        if node.type.startswith("pulumi:providers:"):
            continue
        if expect.aws_region and package in ("aws", "aws-native") and node.custom:
            problem = _provider_problem(graph, node, package, node.provider,
                                        {"region": expect.aws_region})
            if problem:
                problems.append(problem)
        if expect.aws_region and node.remote:
            ref = node.providers.get("aws", "")
            if node.provider == "" and ref == "":
                problems.append(f"{node.label} passes no aws provider to its children "
                                f"(ambient region), not one with region {expect.aws_region}")
            elif ref:
                problem = _provider_problem(graph, node, "aws", ref,
                                            {"region": expect.aws_region})
                if problem:
                    problems.append(problem)
        if package == "gcp" and node.custom and expect.gcp_project:
            problems += _gcp_problems(graph, node, expect)
    return problems


# GCP resources whose location is the full id of another resource in their inputs.
GCP_LOCATED_BY = {"gcp:secretmanager/secretVersion:SecretVersion": "secret"}


def _gcp_problems(graph: Graph, node: Node, expect: Expectations) -> list[str]:
    if node.type in GCP_LOCATED_BY:
        return []  # located by its parent resource's id, which is checked itself
    provider = graph.node(node.provider) if node.provider else None
    wanted = {"project": expect.gcp_project, "zone": expect.gcp_zone,
              "region": expect.gcp_region}
    problems = []
    for key, value in wanted.items():
        if value is None:
            continue
        own = node.inputs.get(key)
        via_provider = provider.inputs.get(key) if provider is not None else None
        if own is None and key != "project":
            continue  # not a zonal/regional resource
        actual = own if own is not None else via_provider
        if actual != value:
            source = (f"provider {provider.label}" if provider is not None and own is None
                      else "its own input" if own is not None else "the ambient gcloud config")
            problems.append(f"{node.label} takes {key} {actual!r} from {source}, not the "
                            f"configured {value!r}")
    return problems


def graph_wellformed(graph: Graph, _: Expectations) -> list[str]:
    return cycles_and_dangling(graph)


INVARIANTS: dict[str, Callable[[Graph, Expectations], list[str]]] = {
    "graph": graph_wellformed,
    "kubernetes-provider": kubernetes_provider,
    "pods-on-nodes": pods_on_nodes,
    "crd-before-custom-resource": custom_resources_after_crds,
    "addons-after-cluster-and-nodes": addons_after_cluster_and_nodes,
    "pods-after-role-permissions": pods_after_role_permissions,
    "nodes-after-egress": nodes_after_egress,
    "cloud-location": cloud_location,
}


def violations(graph: Graph, expect: Expectations) -> list[str]:
    """Every broken invariant, one line each, prefixed with the invariant's name."""
    return [f"{name}: {problem}" for name, check in INVARIANTS.items()
            for problem in check(graph, expect)]


# --- writing --------------------------------------------------------------------------------

def _short(graph: Graph, urn: str) -> str:
    node = graph.node(urn)
    return node.label if node is not None else urn


def graph_document(graph: Graph) -> list[dict[str, Any]]:
    """graph.json: every resource with what it waits on, by `<type> <name>`, sorted."""
    wave_of = {n.urn: i for i, wave in enumerate(waves(graph)) for n in wave}
    return [
        {"type": n.type, "name": n.name, "urn": n.urn, "custom": n.custom,
         "wave": wave_of.get(n.urn),
         "parent": _short(graph, n.parent) if n.parent else None,
         "provider": _short(graph, n.provider) if n.provider else None,
         "depends_on": sorted(_short(graph, d) for d in n.dependencies),
         "custom_timeouts": dict(n.timeouts), "ignore_changes": list(n.ignore_changes)}
        for n in sorted(graph.nodes.values(), key=_key)
    ]


def order_markdown(stack: str, graph: Graph, problems: list[str]) -> str:
    """order.md: the creation waves of `pulumi up`; destroy runs them backwards."""
    lines = [f"# Deploy order of stack `{stack}`", "",
             "`pulumi up` can create each wave once every earlier wave exists; within a wave, "
             "in any order. `pulumi destroy` deletes the waves in reverse. Components are not "
             "listed (they create nothing). Invariants: docs/deploy-order.md.", ""]
    for index, wave in enumerate(waves(graph)):
        lines.append(f"## Wave {index}")
        lines.append("")
        lines += [f"- `{n.type}` {n.name}" for n in wave]
        lines.append("")
    lines.append("## Invariants")
    lines.append("")
    lines += [f"- VIOLATED {p}" for p in problems] or ["- all hold"]
    return "\n".join(lines) + "\n"
