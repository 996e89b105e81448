"""Read and validate stack outputs (contract version 1).

The contract is what `pulumi stack output --json --show-secrets` prints for any stack of this
program, and what `python -m smoke serve-local` writes for the local engine. It is documented in
the README ("Stack outputs contract"); this module is the only reader, so smoke checks and
benchmarks never re-derive a URL, a served model name or a scheme (R5, R17).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1


class OutputsError(Exception):
    """The outputs could not be read or do not follow the contract (a usage error, exit 2)."""


class _Open(BaseModel):
    # Outputs may grow new keys in later contract versions; readers ignore what they do not use.
    model_config = ConfigDict(extra="ignore", frozen=True)


class GpuOutput(_Open):
    type: str | None = Field(default=None, description="GPU model (A10G, L4, T4); null for CPU.")
    count: int = Field(default=0, description="GPUs per replica.")
    instance_type: str | None = Field(default=None, description="Pinned node instance type.")


class SloOutput(_Open):
    ttft_p95_ms: float | None = Field(default=None, description="P95 time to first token, ms.")
    tpot_p95_ms: float | None = Field(default=None, description="P95 time per output token, ms.")
    itl_p95_ms: float | None = Field(default=None, description="P95 inter-token latency, ms.")
    e2e_p95_ms: float | None = Field(default=None, description="P95 end-to-end latency, ms.")
    success_rate_min: float | None = Field(default=None, description="Minimum success rate, 0..1.")


class LoadBalancerOutput(_Open):
    provider: Literal["aws"] = Field(description="Cloud that owns the load balancer.")
    type: Literal["alb", "nlb"] = Field(description="Load balancer kind.")
    scheme: Literal["internal", "internet-facing"] = Field(description="Requested scheme.")
    region: str | None = Field(default=None, description="AWS region of the load balancer.")
    hostname: str | None = Field(default=None, description="DNS name, once provisioned.")


class EndpointOutput(_Open):
    name: str = Field("", description="Endpoint key (filled from the mapping key).")
    engine: Literal["vllm", "sglang"]
    model: str
    served_model_name: str
    base_url: str = Field(description="OpenAI base URL without /v1.")
    exposure: Literal["cluster", "internal", "public"]
    namespace: str | None = None
    service: str | None = None
    port: int
    api_key: str | None = Field(default=None, description="Bearer key (secret) or null when open.")
    health_path: str = "/health"
    metrics_path: str = "/metrics"
    gpu: GpuOutput = GpuOutput()
    replicas: int = 1
    slos: SloOutput = SloOutput()
    selector: dict[str, str] = Field(
        default_factory=dict, description="Pod labels of the serving pods (for port-forward)."
    )
    load_balancer: LoadBalancerOutput | None = None


class StackOutputs(_Open):
    schema_version: int
    platform: str
    endpoints: dict[str, EndpointOutput]
    kubeconfig: str | None = Field(default=None, description="Cluster kubeconfig (secret) if any.")

    def select(self, names: list[str] | None) -> list[EndpointOutput]:
        """The endpoints named (all when `names` is empty), or OutputsError for unknown names."""
        if not names:
            return list(self.endpoints.values())
        unknown = [n for n in names if n not in self.endpoints]
        if unknown:
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise OutputsError(f"endpoint {', '.join(unknown)!s} not in outputs (known: {known})")
        return [self.endpoints[n] for n in names]


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
    endpoints = data.get("endpoints")
    if isinstance(endpoints, dict):
        data = {**data, "endpoints": {k: {**v, "name": k} if isinstance(v, dict) else v
                                      for k, v in endpoints.items()}}
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
