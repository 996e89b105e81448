"""Tests of the GitHub workflows and the scripts in scripts/ci/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "ci"
WORKFLOWS = ROOT / ".github" / "workflows"


def load_script(name: str) -> ModuleType:
    """Import `scripts/ci/<name>.py` (scripts/ is not a package)."""
    module_name = f"ci_script_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module
