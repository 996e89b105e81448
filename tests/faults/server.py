"""A misbehaving OpenAI-style server on 127.0.0.1 for the fault tests (issue 13).

Raw sockets, so it can do what a framework would not: drip a body a byte at a time, never send
headers, send endless or compressed-bomb bodies, reset the connection mid-stream, send invalid
UTF-8 or huge headers, echo the API key in several encodings. `/health` always answers 200, so
every other check is reached; each fault changes the other routes. Every connection gets its own
daemon thread, ends within `lifetime_s`, and stops when the server's context exits.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any
from urllib.parse import quote

MODEL = "fake"
# Characters that change under JSON escaping and URL encoding, so every form of echo differs.
KEY = 'sk-Zq8"Lm\\Xw+Tr/Vb=Np3Kd7Hy'


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


class Writer:
    """Writes one response on a connection; every loop stops at the server's stop or deadline."""

    def __init__(self, conn: socket.socket, stop: threading.Event, lifetime_s: float) -> None:
        self.conn = conn
        self.stop = stop
        self.deadline = time.monotonic() + lifetime_s
        self.chunked = False

    def alive(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def send(self, data: bytes) -> bool:
        """Write body bytes (as one HTTP chunk once `sse_head` chose chunked framing)."""
        return self._raw(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def _raw(self, data: bytes) -> bool:
        try:
            self.conn.sendall(data)
            return True
        except OSError:
            return False  # the client gave up, as it should

    def head(self, status: int, headers: dict[str, str] | None = None) -> bool:
        lines = [f"HTTP/1.1 {status} X", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return self._raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def body(self, status: int, data: bytes, content_type: str = "application/json",
             **headers: str) -> None:
        more = {k.replace("_", "-"): v for k, v in headers.items()}
        if self.head(status, {"Content-Type": content_type, "Content-Length": str(len(data)),
                              **more}):
            self.send(data)

    def json(self, status: int, value: Any) -> None:
        self.body(status, json.dumps(value).encode())

    def sse_head(self) -> bool:
        """Headers of an event stream; the body is chunked, as engines send it."""
        sent = self.head(200, {"Content-Type": "text/event-stream",
                               "Transfer-Encoding": "chunked"})
        self.chunked = True
        return sent

    def end(self) -> None:
        """The last chunk: the stream ended cleanly (whether or not it said [DONE])."""
        self._raw(b"0\r\n\r\n")

    def sse(self, events: list[Any], done: bool = True, gap_s: float = 0.0) -> None:
        if not self.sse_head():
            return
        for event in events:
            self.send(event_bytes(event))
            self.wait(gap_s)
        if done:
            self.send(b"data: [DONE]\n\n")
        self.end()

    def wait(self, seconds: float) -> None:
        self.stop.wait(max(0.0, min(seconds, self.deadline - time.monotonic())))

    def repeat(self, data: bytes, gap_s: float) -> None:
        """Send `data` again and again until the client leaves or the server stops."""
        while self.alive() and self.send(data):
            self.wait(gap_s)

    def reset(self) -> None:
        """Close with RST instead of FIN: the client sees 'connection reset by peer'."""
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()


def event_bytes(event: Any) -> bytes:
    return b"data: " + (event if isinstance(event, bytes) else json.dumps(event).encode()) \
        + b"\n\n"


def chunk(content: str | None = None, role: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
GOOD_STREAM = [chunk(role=True), chunk("hi"), chunk(" there"),
               {"object": "chat.completion.chunk", "choices": [], "usage": USAGE}]
GOOD_CHAT = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}}],
             "usage": USAGE}


SERVED = [0]  # chat answers so far: the counters of /metrics advance with them (metrics-live)


def normal(req: Request, w: Writer) -> None:
    """A well-behaved keyed vLLM: what every fault departs from."""
    if req.path == "/health":
        w.body(200, b"")
    elif req.path == "/metrics":
        n = SERVED[0]
        w.body(200, (f"vllm:num_requests_waiting 0\nvllm:request_success_total {n}\n"
                     f"vllm:generation_tokens_total {2 * n}\n").encode(), "text/plain")
    elif req.key != KEY:
        w.json(401, {"error": "Unauthorized"})
    elif req.path == "/v1/models":
        w.json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    elif req.stream:
        SERVED[0] += 1
        w.sse(GOOD_STREAM)
    else:
        SERVED[0] += 1
        w.json(200, GOOD_CHAT)


@cache
def gzip_bomb() -> bytes:
    """32 MiB of zeros in ~32 KiB: far past any test's body cap once inflated."""
    return gzip.compress(bytes(32 * 1024 * 1024), compresslevel=9)


def _echoes(key: str) -> dict[str, str]:
    return {"literal": key, "json": json.dumps(key)[1:-1], "url": quote(key, safe=""),
            "base64": base64.b64encode(f"Bearer {key}".encode()).decode()}


def _key_echo(req: Request, w: Writer) -> None:
    echo = _echoes(req.key)
    if req.path == "/v1/models":
        w.body(500, json.dumps({"error": f"bad key {req.key}"}, ensure_ascii=True).encode())
    elif req.path == "/metrics":
        w.body(500, f"Authorization: Basic {echo['base64']}".encode(), "text/plain")
    elif req.stream:
        # The key is cut across two writes (two network reads for the client) of one event.
        event = event_bytes({"error": {"message": f"rejected {req.key}"}})
        cut = event.index(echo["json"].encode()) + 5
        if w.sse_head() and w.send(event[:cut]):
            w.wait(0.05)
            w.send(event[cut:])
            w.end()
    else:
        w.body(400, f"see /auth?key={echo['url']} or {echo['literal']}".encode(), "text/plain")


def _drip(req: Request, w: Writer) -> None:
    if req.stream:
        w.sse_head()
    else:
        w.head(200, {"Content-Type": "application/json", "Content-Length": "100000"})
    w.repeat(b" ", 0.2)  # one byte every 0.2 s: every read succeeds, nothing ever ends


def _endless(req: Request, w: Writer) -> None:
    if req.stream:
        w.sse_head()
        w.repeat(event_bytes(chunk("x")) * 200, 0.0)
    else:
        w.head(200, {"Content-Type": "application/json"})
        w.repeat(b"[" * 65536, 0.0)


def _bad_shapes(req: Request, w: Writer) -> None:
    if req.path == "/v1/models":
        w.json(200, {"data": ["x"]})
    elif req.path == "/metrics":
        w.json(200, {"metrics": None})
    elif req.stream:
        w.sse([{"choices": ["x"]}, {"choices": [{"delta": "x"}]}, {"choices": [{"delta": [1]}]},
               {"choices": [], "usage": "lots"}, [1, 2]])
    else:
        w.json(200, {"choices": ["x"], "usage": "lots"})


def _bad_utf8(req: Request, w: Writer) -> None:
    if req.stream:
        w.sse([chunk(role=True), b'{"choices": [{"delta": {"content": "\xff\xfe"}}]}'])
    else:
        w.body(200, b'{"data": [{"id": "\xff\xfe"}], "choices": "\xc3"}')


def _keepalive(req: Request, w: Writer) -> None:
    if not req.stream:
        return normal(req, w)
    if w.sse_head() and w.send(event_bytes(chunk(role=True))):
        w.repeat(b": keep-alive\n\n", 0.1)


def _reset(req: Request, w: Writer) -> None:
    if req.stream:
        w.sse_head()
        w.send(event_bytes(chunk(role=True)) + event_bytes(chunk("hi")))
    else:
        w.head(200, {"Content-Type": "application/json", "Content-Length": "1000"})
        w.send(b'{"data": [')
    w.wait(0.05)
    w.reset()


def _html(req: Request, w: Writer) -> None:
    w.body(200, b"<html><body><h1>Welcome to nginx!</h1></body></html>\n", "text/html")


def _no_done(req: Request, w: Writer) -> None:
    if req.stream:
        w.sse(GOOD_STREAM, done=False)
    else:
        normal(req, w)


def _no_headers(req: Request, w: Writer) -> None:
    while w.alive():
        w.wait(0.1)


def _gzip_bomb(req: Request, w: Writer) -> None:
    kind = "text/event-stream" if req.stream else "application/json"
    w.body(200, gzip_bomb(), kind, Content_Encoding="gzip")


def _huge_headers(req: Request, w: Writer) -> None:
    filler = {f"X-Filler-{i}": "y" * 8000 for i in range(150)}
    if w.head(200, {"Content-Type": "application/json", "Content-Length": "2", **filler}):
        w.send(b"{}")


def _redirect_loop(req: Request, w: Writer) -> None:
    w.head(302, {"Location": req.path, "Content-Length": "0"})


def _error_500(req: Request, w: Writer) -> None:
    w.json(500, {"error": {"message": "internal error", "type": "InternalServerError"}})


Fault = Callable[[Request, Writer], None]
FAULTS: dict[str, Fault] = {
    "none": normal,
    "drip-body": _drip,
    "endless-body": _endless,
    "bad-shapes": _bad_shapes,
    "bad-utf8": _bad_utf8,
    "keepalive-drip": _keepalive,
    "key-echo": _key_echo,
    "reset-mid-stream": _reset,
    "html-200": _html,
    "sse-no-done": _no_done,
    "no-headers": _no_headers,
    "gzip-bomb": _gzip_bomb,
    "huge-headers": _huge_headers,
    "redirect-loop": _redirect_loop,
    "http-500": _error_500,
}


def read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece or len(data) > 1 << 20:
            return None
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = conn.recv(65536)
        if not piece:
            return None
        rest += piece
    try:
        body = json.loads(rest) if rest else {}
    except ValueError:
        body = {}
    return Request(method, path, headers, body if isinstance(body, dict) else {})


class FaultServer:
    """`with FaultServer("drip-body") as server:` serves at `server.url` until the block ends."""

    def __init__(self, fault: str, lifetime_s: float = 20.0) -> None:
        self.fault = FAULTS[fault]
        self.lifetime_s = lifetime_s
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.threads: list[threading.Thread] = []
        self.url = ""

    def __enter__(self) -> FaultServer:
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        if self.fault is _gzip_bomb:
            gzip_bomb()  # made before serving: its CPU time must not count against a deadline
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop.set()
        for thread in list(self.threads):
            thread.join(timeout=5)
        self.listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            req = read_request(conn)
            if req is not None:
                fault = normal if req.path == "/health" else self.fault
                fault(req, Writer(conn, self.stop, self.lifetime_s))
        except OSError:
            pass  # the client went away: its side of the story is what the tests check
        finally:
            conn.close()
