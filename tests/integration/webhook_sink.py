"""A local HTTP server standing in for a Slack or Teams incoming webhook.

A real server (http.server in a thread, on a free port, or on a given one to come back after
being stopped): it records every POST (path, headers, JSON body) and answers with the status a
test chooses for each body, like Slack (``200 ok``) or a Teams workflow (``202``) would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    body: Any  # the parsed JSON document
    status: int  # what the sink answered


# What to answer a body with: (status, reply text).
Responder = Callable[[Any], tuple[int, str]]


def accept(status: int = 200, reply: str = "ok") -> Responder:
    return lambda _body: (status, reply)


class WebhookSink:
    def __init__(self, port: int = 0, respond: Responder | None = None) -> None:
        self.received: list[Received] = []
        self.respond: Responder = respond or accept()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw.decode("utf-8"))
                status, reply = sink.respond(body)
                with sink._lock:
                    sink.received.append(
                        Received(self.path, self.headers.get("Content-Type", ""), body, status)
                    )
                data = reply.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path_prefix: str = "") -> list[Any]:
        """The bodies the sink accepted (a 2xx), in order, of posts to ``path_prefix``."""
        with self._lock:
            return [
                r.body
                for r in self.received
                if r.path.startswith(path_prefix) and 200 <= r.status < 300
            ]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
