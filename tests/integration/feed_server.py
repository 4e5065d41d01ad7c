"""A real local HTTP server serving GOV.UK-shaped bank holiday feeds, good and bad.

Used by the holiday feed tests and the ``bank_holidays`` DAG tests. The feeds are built from the
bundled snapshot (the same JSON format GOV.UK publishes), restricted to 2025-2027:

- ``/bank-holidays.json``: the snapshot's years 2025-2027 for all three divisions, plus a one-off
  "Extra bank holiday" on Monday 7 June 2027 and minus the summer bank holiday of Monday 30
  August 2027 (England and Wales).
- ``/unchanged.json``: the snapshot's years 2025-2027 as they are.
- ``/broken.json``: the first feed with one England and Wales date made "2027-13-01".
- ``/truncated.json``: England and Wales for 2025-2027 cut off after April 2027.
- ``/page.html``: an HTML page with status 200; ``/error``: status 500; ``/missing``: 404;
  ``/list.json``: a JSON array; ``/slow.json``: the first feed, after a 3-second pause.

``FeedServer.routes`` can be changed while the server runs (path -> (status, type, body)).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

YEARS = ("2025", "2026", "2027")
EXTRA = {"title": "Extra bank holiday", "date": "2027-06-07", "notes": "", "bunting": True}
DROPPED = "2027-08-30"  # the summer bank holiday of 2027, which the changed feed leaves out
BAD_DATE = "2027-13-01"


def snapshot_payload() -> dict[str, Any]:
    text = resources.files("statutory_clock.data").joinpath("bank-holidays.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def feed_payload(*, changed: bool = True) -> dict[str, Any]:
    """A GOV.UK-shaped feed of 2025-2027; ``changed`` adds EXTRA and drops DROPPED."""
    payload = {}
    for division, block in snapshot_payload().items():
        events = [e for e in block["events"] if e["date"][:4] in YEARS]
        if changed and division == "england-and-wales":
            events = [e for e in events if e["date"] != DROPPED] + [dict(EXTRA)]
            events.sort(key=lambda e: e["date"])
        payload[division] = {"division": division, "events": events}
    return payload


def broken_payload() -> dict[str, Any]:
    payload = copy.deepcopy(feed_payload())
    events = payload["england-and-wales"]["events"]
    index = next(i for i, e in enumerate(events) if e["date"].startswith("2027-"))
    events[index]["date"] = BAD_DATE
    return payload


def truncated_payload() -> dict[str, Any]:
    payload = feed_payload(changed=False)
    block = payload["england-and-wales"]
    block["events"] = [e for e in block["events"] if e["date"] < "2027-05-01"]
    return payload


def _json(payload: Any) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(payload).encode()


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {
            "/bank-holidays.json": _json(feed_payload()),
            "/unchanged.json": _json(feed_payload(changed=False)),
            "/broken.json": _json(broken_payload()),
            "/truncated.json": _json(truncated_payload()),
            "/list.json": _json([{"date": "2027-06-07"}]),
            "/page.html": (200, "text/html; charset=utf-8", b"<html><body>Sorry</body></html>"),
            "/error": (500, "text/plain", b"Internal Server Error"),
            "/slow.json": _json(feed_payload()),
        }
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/slow.json":
                    time.sleep(3)
                status, content_type, body = server.routes.get(
                    self.path, (404, "text/plain", b"Not Found")
                )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


# A case whose clock crosses the feed's changes (both feed tests and the DAG test use it).
CASE_2027 = """\
schema_version: 1
key: testshire-2027
local_authority:
  name: Testshire County Council
  dfe_code: "999"
inspection:
  framework: ilacs
  published: 2027-05-20
  judgements:
    leadership: inadequate
"""
