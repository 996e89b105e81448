"""Progress over HTTP: `/metrics` (Prometheus text) and `/status` (the status file's JSON).

A plain `http.server` in a daemon thread: Prometheus scrapes the pod directly (no Pushgateway,
whose last pushed value would outlive a dead feeder and look fresh), and `smoke batch` reads
`/status` through a port-forward.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .results import Progress, metrics_text


def start_server(progress: Progress, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `progress` on `port` (0: any free port, see `server.server_port`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = progress.snapshot()
            if self.path == "/metrics":
                body, kind = metrics_text(status), "text/plain; version=0.0.4"
            elif self.path == "/status":
                body, kind = json.dumps(asdict(status)) + "\n", "application/json"
            else:
                self.send_error(404)
                return
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every 15 s would drown the feeder's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="batch-metrics", daemon=True).start()
    return server
