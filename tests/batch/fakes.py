"""A stand-in engine that records every request, and batch input file helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class RecordingEngine:
    """Answers /health and OpenAI POSTs like an engine; `requests` lists each POST body.

    A prompt containing "bad-request" gets a 400; `delay_s` slows every answer, so a feeder can
    be killed mid-run; `outage=(n, seconds)` makes the engine answer 503 to everything (health
    included) for `seconds` from the n-th request on, like a crashed sidecar reloading.
    """

    def __init__(self, delay_s: float = 0.0, healthy: bool = True,
                 outage: tuple[int, float] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delay_s = delay_s
        self.healthy = healthy
        self.outage = outage
        self.down_until = 0.0
        self.lock = threading.Lock()

    @property
    def down(self) -> bool:
        return time.monotonic() < self.down_until

    @contextmanager
    def serve(self) -> Iterator[str]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                up = engine.healthy and not engine.down and self.path == "/health"
                self._answer(200 if up else 503, {})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with engine.lock:
                    engine.requests.append(body)
                    if engine.outage and len(engine.requests) == engine.outage[0]:
                        engine.down_until = time.monotonic() + engine.outage[1]
                time.sleep(engine.delay_s)
                if engine.down:
                    self._answer(503, {"error": "restarting"})
                    return
                if "bad-request" in json.dumps(body):
                    self._answer(400, {"error": {"message": "bad", "type": "BadRequest"}})
                    return
                self._answer(200, {"id": f"cmpl-{len(engine.requests)}", "object": "x",
                                   "echo": body})

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()


def chat_line(custom_id: str, prompt: str = "hi", model: str = "tiny-llama",
              max_tokens: int = 4, **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, **extra}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": body}


def write_jsonl(path: Path, docs: list[Any]) -> Path:
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs))
    return path


def read_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]
