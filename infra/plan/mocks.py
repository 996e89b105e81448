"""Run the real program under Pulumi's mock engine and record every resource it registers.

Used by the offline plan and the unit tests. Cloud-specific results the mock engine cannot know
(load balancer hostnames, cluster kubeconfigs, availability zones) come from state and call
hooks keyed by type token (`infra/plan/hooks.py`, per platform), passed in by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

SECRET = "[secret]"

StateHook = Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]
CallHook = Callable[[pulumi.runtime.MockCallArgs], dict[str, Any]]


# Pulumi's sync helpers give each worker thread of the mock monitor an event loop and never close
# it; left to interpreter shutdown, one can outlive its self-pipe and print a traceback.
_THREAD_LOOPS: set[asyncio.AbstractEventLoop] = set()


def close_event_loops() -> None:
    """Before a process that ran the mock engine exits: join the worker threads and close every
    loop it used. Only at exit: a later run in the same process would find closed loops."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    if not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    for thread_loop in _THREAD_LOOPS:
        if not thread_loop.is_running() and not thread_loop.is_closed():
            thread_loop.close()
    _THREAD_LOOPS.clear()


@dataclass
class Wiring:
    """What the engine orders a resource by: its URN and every URN it waits on.

    `provider` is the provider reference (`<urn>::<id>`), empty for a default provider;
    `providers` the package -> reference map a remote component passes to its children.
    """

    urn: str
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    providers: dict[str, str] = field(default_factory=dict)
    remote: bool = False
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    # Pulumi `protect` as the engine receives it (set on the resource or inherited from its
    # parent): the engine refuses to delete or replace it.
    protect: bool = False
    # Properties `pulumi up` leaves alone after creation (e.g. an autoscaler's desired size).
    ignore_changes: list[str] = field(default_factory=list)


@dataclass
class Registration:
    """One registered resource as the plan reports it."""

    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    wiring: Wiring = field(default_factory=lambda: Wiring(""))


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that echo inputs as state, add hook state, and keep every registration."""

    registrations: list[Registration] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)
    wirings: dict[str, Wiring] = field(default_factory=dict)
    wire_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    state_hooks: dict[str, StateHook] = field(default_factory=dict)
    call_hooks: dict[str, CallHook] = field(default_factory=dict)

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
            self.wirings.pop(key, Wiring("")),
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

    def _remember_thread_loop(self) -> None:
        with contextlib.suppress(RuntimeError):  # this thread has no loop of its own
            _THREAD_LOOPS.add(asyncio.get_event_loop_policy().get_event_loop())

    def RegisterResource(self, request: Any) -> Any:
        key = f"{request.type}::{request.name}"
        if request.parent:
            self._recording.parents[key] = request.parent
        self._recording.wirings[key] = _wiring(self.make_urn(request.parent, request.type,
                                                             request.name), request)
        # Deserializing lifts a nested secret to every key beside it (a whole CR spec would read
        # `[secret]`); the wire form keeps each secret where it is, as Pulumi's state does.
        self._recording.wire_inputs[key] = _wire_leaves(json_format.MessageToDict(request.object))
        try:
            return super().RegisterResource(request)
        finally:
            self._remember_thread_loop()

    def Invoke(self, request: Any) -> Any:
        try:
            return super().Invoke(request)
        finally:
            self._remember_thread_loop()



def _wiring(urn: str, request: Any) -> Wiring:
    timeouts = request.customTimeouts
    return Wiring(
        urn=urn,
        dependencies=sorted(set(request.dependencies)),
        property_dependencies={k: sorted(set(v.urns))
                               for k, v in sorted(request.propertyDependencies.items())
                               if v.urns},
        provider=request.provider,
        providers=dict(sorted(request.providers.items())),
        remote=bool(request.remote),
        custom_timeouts={k: getattr(timeouts, k) for k in ("create", "update", "delete")
                         if getattr(timeouts, k)},
        protect=bool(request.protect),
        ignore_changes=sorted(request.ignoreChanges),
    )


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
    state_hooks: dict[str, StateHook] | None = None,
    call_hooks: dict[str, CallHook] | None = None,
) -> tuple[dict[str, Any], list[Registration]]:
    """Run `program` with `config` under the mock engine (a preview); outputs and resources."""
    _ensure_event_loop()
    mocks = RecordingMocks(state_hooks=dict(state_hooks or {}), call_hooks=dict(call_hooks or {}))
    # Warnings reach the user through the plan summary; the mock engine's log would repeat them.
    quiet = logging.getLogger("inference-stacks.plan.engine")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    # A preview, as `pulumi preview` runs the program (is_dry_run() is True).
    pulumi.runtime.set_mocks(mocks, project="inference-stacks", stack=stack, preview=True,
                             logger=quiet, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config, secret_keys)
    result: dict[str, Any] = {}

    async def body() -> None:
        result["outputs"] = await resolve(program())

    _sync_await(run_pulumi_func(lambda: asyncio.ensure_future(body())))
    return result["outputs"], mocks.registrations
