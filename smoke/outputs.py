"""Read and validate stack outputs (contract version 1).

The contract is what `pulumi stack output --json --show-secrets` prints for any stack of this
program, and what `python -m smoke serve-local` writes for the local engine. Its models live in
`infra/contract.py`, shared with the program that produces it; this module is the only reader,
so smoke checks and benchmarks never re-derive a URL, a served model name or a scheme (R5, R17).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from infra.contract import (
    SCHEMA_VERSION,
    BatchJobOutput,
    EndpointOutput,
    GpuOutput,
    LoadBalancerOutput,
    OutputsError,
    RouterOutput,
    SloOutput,
    StackOutputs,
)

__all__ = [
    "SCHEMA_VERSION", "BatchJobOutput", "EndpointOutput", "GpuOutput", "LoadBalancerOutput",
    "OutputsError", "RouterOutput", "SloOutput", "StackOutputs", "load_outputs", "parse_outputs",
]


def parse_outputs(raw: str, source: str) -> StackOutputs:
    """Parse and validate the JSON text of stack outputs; `source` names it in errors."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise OutputsError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise OutputsError(f"{source}: expected a JSON object of stack outputs")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise OutputsError(
            f"{source}: schema_version is {version!r}; this reader understands {SCHEMA_VERSION}"
        )
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise OutputsError(f"{source}: outputs do not follow contract v1: {problems}") from None


def read_pulumi_stack(stack: str, cwd: Path | None = None) -> str:
    """Run `pulumi stack output --json --show-secrets` for `stack` and return its stdout."""
    if shutil.which("pulumi") is None:
        raise OutputsError("--stack needs the Pulumi CLI on PATH (or use --outputs FILE)")
    cmd = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no error text"]
        raise OutputsError(f"pulumi stack output --stack {stack} failed: {detail[0]}")
    return proc.stdout


def load_outputs(stack: str | None = None, outputs: str | None = None) -> StackOutputs:
    """Load outputs from a Pulumi stack, a file, or stdin (`outputs == "-"`)."""
    if (stack is None) == (outputs is None):
        raise OutputsError("give exactly one of --stack NAME or --outputs FILE ('-' for stdin)")
    if stack is not None:
        return parse_outputs(read_pulumi_stack(stack), f"stack {stack}")
    assert outputs is not None
    if outputs == "-":
        return parse_outputs(sys.stdin.read(), "stdin")
    path = Path(outputs)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OutputsError(f"--outputs {outputs}: {exc.strerror}") from None
    return parse_outputs(text, str(path))
