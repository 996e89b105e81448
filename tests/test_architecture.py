"""The import graph: data flows one way, with no cycles and no imports hidden in functions.

Layers, lowest first (a module may import its own layer and those below, never above):

    components, infra.contract   builders, catalogs, ComponentResources; the outputs contract
    infra.config                 typed config models only
    infra.validate               platform rules registry (placement, checks) + shared rules
    infra.resolve                pure: config + placement -> specs, router spec, outputs entries
    infra.platforms              each platform's resources (builder registry)
    infra.program                the Pulumi program: one path for every endpoint
    infra.plan                   the offline plan: mock engine, per-platform hooks, CLI
    infra.__main__               entry point (Pulumi engine or command line)
    smoke                        post-deploy checks: read outputs through infra.contract only

The layer table lives here and in docs/architecture.md; a module outside it fails the test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("infra", "components", "smoke")
LAYERS: list[tuple[str, ...]] = [
    ("components", "infra.contract", "infra"),
    ("infra.config",),
    ("infra.validate",),
    ("infra.resolve",),
    ("infra.platforms",),
    ("infra.program",),
    ("infra.plan",),
    ("infra.__main__",),
    ("smoke",),
]
# What each package may import from the others, beyond the layer order: smoke reads outputs,
# it must not pull in the program (Pulumi, cloud SDKs) to do so.
SMOKE_MAY_IMPORT = ("infra.contract",)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_project(name: str) -> bool:
    return name.split(".", 1)[0] in PACKAGES


def _targets(node: ast.Import | ast.ImportFrom, here: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = here.rsplit(".", node.level)[0]
        base = f"{package}.{base}" if base else package
    # `from pkg import module` imports pkg.module when it is a module.
    return [base, *(f"{base}.{a.name}" for a in node.names)]


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import in `path`."""
    here = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(node, here):
                if target in known and target != here:
                    yield target, node.lineno, id(node) in in_function


def layer_of(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            # `infra` itself is the package marker only; its modules are placed by name.
            subtree = prefix != "infra" and module.startswith(prefix + ".")
            if (module == prefix or subtree) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best[0]


def graph() -> dict[str, set[str]]:
    known = project_modules()
    return {m: {t for t, _, _ in imports(p, known)} for m, p in known.items()}


def test_every_module_is_in_a_layer() -> None:
    for module in project_modules():
        layer_of(module)


def test_no_module_imports_from_a_layer_above_it() -> None:
    known = project_modules()
    upward = []
    for module, path in known.items():
        for target, line, _ in imports(path, known):
            if layer_of(target) > layer_of(module):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} -> {target}")
    assert upward == [], "imports from a higher layer:\n" + "\n".join(upward)


def test_components_know_nothing_of_infra_and_smoke_only_the_contract() -> None:
    known = project_modules()
    wrong = []
    for module, path in known.items():
        for target, line, _ in imports(path, known):
            if module.startswith("components") and not target.startswith("components"):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {target}")
            if module.startswith("smoke") and target.startswith("infra") and \
                    not target.startswith(SMOKE_MAY_IMPORT):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert wrong == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path, or None (iterative DFS, colours white/grey/black)."""
    colour = dict.fromkeys(edges, 0)
    for start in sorted(edges):
        if colour[start]:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(child) == 1:
                path = [n for n, _ in stack]
                return [*path[path.index(child):], child]
            elif colour.get(child) == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _has_reason(lines: list[str], line: int) -> bool:
    """A comment on the import line, or on the comment/import lines just above it."""
    if "#" in lines[line - 1]:
        return True
    index = line - 2
    while index >= 0 and lines[index].strip().startswith(("#", "import ", "from ")):
        if lines[index].strip().startswith("#"):
            return True
        index -= 1
    return False


def test_imports_inside_functions_state_their_reason() -> None:
    silent = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for node in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Import | ast.ImportFrom) and \
                            not _has_reason(lines, sub.lineno):
                        silent.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert silent == [], "function-level imports without a reason comment: " + ", ".join(silent)


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_the_layer_table_names_real_modules(layer: int) -> None:
    modules = project_modules()
    for prefix in LAYERS[layer]:
        assert any(m == prefix or m.startswith(prefix + ".") for m in modules), prefix
