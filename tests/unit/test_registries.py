"""The per-layer platform registries name the same platforms; component type tokens follow one
rule (`inference-stacks:<module>:<Name>`) and keep aliases to the tokens of earlier releases."""

from __future__ import annotations

import ast
from pathlib import Path

import pulumi
import pytest

from components.component import type_token, with_aliases
from infra.config.stack import STACK_MODELS
from infra.plan.hooks import PLAN_HOOKS
from infra.platforms import BUILDERS
from infra.validate.registry import PLATFORMS

ROOT = Path(__file__).resolve().parents[2]


def test_every_registry_names_the_same_platforms() -> None:
    names = set(STACK_MODELS)
    assert set(PLATFORMS) == names
    assert set(BUILDERS) == names
    assert set(PLAN_HOOKS) == names


def _component_classes() -> list[tuple[Path, str, ast.ClassDef]]:
    found = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).endswith("ComponentResource") for b in node.bases):
                found.append((path, path.stem, node))
    return found


@pytest.mark.parametrize("path,module,node", _component_classes(),
                         ids=lambda v: v.name if isinstance(v, ast.ClassDef) else "")
def test_type_token_names_the_module_and_class(path: Path, module: str,
                                               node: ast.ClassDef) -> None:
    source = ast.unparse(node) + "\n" + path.read_text(encoding="utf-8")
    expected = (f'type_token(__name__, "{node.name}")' in source) or \
               ("TYPE_TOKEN" in ast.unparse(node) and
                f'TYPE_TOKEN = type_token(__name__, "{node.name}")' in source)
    assert expected, f"{path.name}: {node.name} must use type_token(__name__, {node.name!r})"
    assert type_token(f"components.{module}", node.name) == \
        f"inference-stacks:{module}:{node.name}"


def test_aliases_keep_the_old_tokens() -> None:
    opts = with_aliases(None, "inference-stacks:aws:Vpc")
    assert [a.type_ for a in opts.aliases or []] == ["inference-stacks:aws:Vpc"]  # type: ignore[union-attr]
    assert isinstance(opts, pulumi.ResourceOptions)
