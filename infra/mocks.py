"""Run the real program under Pulumi's mock engine and record every resource it registers.

Used by the offline plan and the unit tests. Cloud-specific results the mock engine cannot know
(load balancer hostnames, cluster kubeconfigs, availability zones) come from `STATE_HOOKS` and
`CALL_HOOKS`, keyed by type token, so platforms add their own without touching this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

SECRET = "[secret]"
PLAN_DOMAIN = "plan.invalid"

StateHook = Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]
CallHook = Callable[[pulumi.runtime.MockCallArgs], dict[str, Any]]


def _lb_status(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """A recognisable fake hostname for a load balancer the plan cannot create."""
    spec = args.inputs.get("spec") or {}
    if args.typ.endswith(":Service") and spec.get("type") != "LoadBalancer":
        return {}
    hostname = f"{args.name}.lb.{PLAN_DOMAIN}"
    return {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}


def _stack_reference(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """Outputs of a referenced stack, taken from that stack's own offline plan.

    The referenced stack is planned in a child process (the mock engine is process-global), so
    a workload stack plans against exactly what its cluster stack's plan exports.
    """
    full_name = str(args.inputs.get("name") or args.name)
    stack = full_name.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "infra", "plan", "--stack", stack, "--out", tmp, "--quiet"],
            capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"planning referenced stack {stack!r} failed:\n{proc.stderr}")
        outputs = json.loads((Path(tmp) / "outputs.json").read_text(encoding="utf-8"))
    secret_names = sorted(k for k, v in outputs.items() if v == SECRET)
    return {"name": full_name, "outputs": outputs, "secretOutputNames": secret_names}


STATE_HOOKS: dict[str, StateHook] = {
    "kubernetes:networking.k8s.io/v1:Ingress": _lb_status,
    "kubernetes:core/v1:Service": _lb_status,
    "random:index/randomPassword:RandomPassword": lambda a: {"result": f"plan-{a.name}"},
    "pulumi:pulumi:StackReference": _stack_reference,
}
CALL_HOOKS: dict[str, CallHook] = {}


def _hooks() -> tuple[dict[str, StateHook], dict[str, CallHook]]:
    """Generic hooks plus each registered platform's own (cluster outputs, invokes)."""
    from infra.platforms import PLATFORMS

    state, calls = dict(STATE_HOOKS), dict(CALL_HOOKS)
    for spec in PLATFORMS.values():
        state.update(spec.plan_state_hooks)
        calls.update(spec.plan_call_hooks)
    return state, calls


@dataclass
class Registration:
    """One registered resource as the plan reports it."""

    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that echo inputs as state, add hook state, and keep every registration."""

    registrations: list[Registration] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)
    wire_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    state_hooks: dict[str, StateHook] = field(default_factory=dict)
    call_hooks: dict[str, CallHook] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_hooks, self.call_hooks = _hooks()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        hook = self.state_hooks.get(args.typ)
        state = {**args.inputs, **(hook(args) if hook else {})}
        if args.typ.startswith(("aws:", "gcp:")):
            # Cloud resources are auto-named by the provider; the plan shows the logical name so
            # references to `.name` (role attachments, IAM bindings) stay visible.
            state.setdefault("name", args.name)
        key = f"{args.typ}::{args.name}"
        parent = self.parents.pop(key, None)
        inputs = self.wire_inputs.pop(key, None)
        self.registrations.append(Registration(
            args.typ, args.name, parent, bool(args.custom),
            inputs if inputs is not None else redact(args.inputs),
        ))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        hook = self.call_hooks.get(args.token)
        return (hook(args) if hook else {}), []


class RecordingMonitor(MockMonitor):
    """Keeps each registration's parent and wire inputs, which MockResourceArgs loses."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self._recording = mocks

    def RegisterResource(self, request: Any) -> Any:
        key = f"{request.type}::{request.name}"
        if request.parent:
            self._recording.parents[key] = request.parent
        # Deserializing lifts a nested secret to every key beside it (a whole CR spec would read
        # `[secret]`); the wire form keeps each secret where it is, as Pulumi's state does.
        self._recording.wire_inputs[key] = _wire_leaves(json_format.MessageToDict(request.object))
        return super().RegisterResource(request)


def _wire_leaves(value: Any) -> Any:
    """Wire-format inputs with secret values replaced by `[secret]` exactly where they are."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            inner = value.get("value")
            return {k: SECRET for k in inner} if isinstance(inner, dict) else SECRET
        return {k: _wire_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire_leaves(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redact(value: Any) -> Any:
    """Replace secret values (wrapped by the RPC layer) with `[secret]`, recursively.

    Also turns whole-number floats back into ints: the RPC layer carries every number as a
    double, and Kubernetes schemas reject `replicas: 1.0`.
    """
    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        # Keep the keys of a secret map (Secret.stringData) so the shape stays reviewable.
        return {k: SECRET for k in inner} if isinstance(inner, dict) else SECRET
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


async def resolve(value: Any) -> Any:
    """Await Outputs inside plain dicts/lists; secret Outputs become `[secret]`."""
    if isinstance(value, pulumi.Output):
        if await value.is_secret():
            return SECRET
        return await resolve(await value.future())
    if isinstance(value, dict):
        return {k: await resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await resolve(v) for v in value]
    return value


def _ensure_event_loop() -> None:
    """Pulumi's sync helpers need a current loop; `asyncio.run` elsewhere leaves none behind."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_under_mocks(
    program: Callable[[], dict[str, Any]],
    config: dict[str, str],
    secret_keys: list[str],
    stack: str,
) -> tuple[dict[str, Any], list[Registration]]:
    """Run `program` with `config` under the mock engine (preview=False); outputs and resources."""
    _ensure_event_loop()
    mocks = RecordingMocks()
    # Warnings reach the user through the plan summary; the mock engine's log would repeat them.
    quiet = logging.getLogger("inference-stacks.plan.engine")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    pulumi.runtime.set_mocks(mocks, project="inference-stacks", stack=stack, preview=False,
                             logger=quiet, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config, secret_keys)
    result: dict[str, Any] = {}

    async def body() -> None:
        result["outputs"] = await resolve(program())

    _sync_await(run_pulumi_func(lambda: asyncio.ensure_future(body())))
    return result["outputs"], mocks.registrations
