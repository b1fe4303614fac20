"""Subprocess: the floor. Serves fixed bytes with the stdlib's trivial HTTP server.

``GET /plain`` answers the exporter's uncompressed body, ``GET /gzip`` its gzip body
(``Content-Encoding: gzip``), with the same headers the exporter sends. Like the
exporter's wsgiref server it speaks HTTP/1.0: one connection per request.
"""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import announce, pin, wait_for_stop


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    bodies: dict[str, tuple[bytes, bool]] = {}
    content_type = "text/plain; version=0.0.4; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        found = self.server.bodies.get(self.path)
        if found is None:
            self.send_error(404)
            return
        body, gz = found
        self.send_response(200)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--plain", required=True, type=Path)
    p.add_argument("--gzip", required=True, type=Path)
    p.add_argument("--content-type", default=_Server.content_type)
    p.add_argument("--cpu", type=int, default=None)
    args = p.parse_args()
    pinned = pin(args.cpu)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.bodies = {"/plain": (args.plain.read_bytes(), False), "/gzip": (args.gzip.read_bytes(), True)}
    server.content_type = args.content_type
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        announce({"url": f"http://127.0.0.1:{server.server_address[1]}", "pinned": pinned})
        wait_for_stop()
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
