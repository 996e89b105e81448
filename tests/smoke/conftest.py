"""A scripted HTTP server on loopback for the smoke unit tests (no engine needed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# path -> handler(request) returning (status, body); body dict is sent as JSON, bytes as is,
# a `Stream` as a timed chunked event stream.
Route = Callable[["StubRequest"], tuple[int, Any]]


@dataclass
class Stream:
    """A chunked answer whose pieces go out at known times: each (delay before it, bytes)."""

    pieces: list[tuple[float, bytes]]
    headers_delay_s: float = 0.0


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubServer:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[StubRequest] = field(default_factory=list)


def _handler(server: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            req = StubRequest(self.command, self.path, dict(self.headers), self.rfile.read(length))
            server.seen.append(req)
            route = server.routes.get(self.path)
            status, body = route(req) if route else (404, {"error": "not found"})
            if isinstance(body, Stream):
                self._stream(status, body)
                return
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _stream(self, status: int, stream: Stream) -> None:
            self.protocol_version = "HTTP/1.1"  # chunked framing needs 1.1
            time.sleep(stream.headers_delay_s)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                for delay, data in stream.pieces:
                    time.sleep(delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    state = StubServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def slow(seconds: float, status: int = 200) -> Route:
    def route(_: StubRequest) -> tuple[int, Any]:
        time.sleep(seconds)
        return status, {"ok": True}

    return route
