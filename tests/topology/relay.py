"""The council's mail relay: an SMTP pass-through between the product and the mail catcher.

In production the product hands its mail to a relay (the council's Exchange or Postfix), not to
a mailbox. The topology puts this relay on the SMTP connection's port and the mail catcher
behind it, so that the fault tests can do to the relay what a real one does on a bad day:

- ``refuse()``: every connection is answered ``421 4.3.2`` and closed, as a relay out of
  service says (smtplib raises ``SMTPConnectError``); ``recover()`` ends that.
- ``hold(n)``: the ``n``-th message from now is held in the middle of its SMTP transaction,
  after ``MAIL FROM`` and before its ``RCPT TO`` reaches the catcher, until ``release()``
  (which drops the connection, or lets the message go on, as a slow relay would); the
  test kills the sending process meanwhile, so the kill lands mid-send: the message is on the
  wire, its ledger row locked and uncommitted. A relay never delivers a message whose DATA it
  never had, so whether the message arrives is decided by the product alone (the other moment,
  after the relay's ``250`` and before the commit, is measured by benchmarks/bench_send_window.py
  and documented in docs/mail-delivery.md).

Everything else is copied byte for byte both ways. Threads, not asyncio: the pytest process
blocks in ``time.sleep`` while the topology works.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

REFUSAL = b"421 4.3.2 relay.topology.example Service not available, closing channel\r\n"


@dataclass
class Relay:
    upstream_port: int
    port: int = 0
    refusing: bool = False
    refused: int = 0  # connections refused since the start
    held: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _hold_at: int | None = None  # the message count at which to hold
    _drop: bool = True  # what release() does to the held connection
    _messages: int = 0  # MAIL FROM commands passed through since the start
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, name="relay", daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()

    # -- what the fault tests do to it ---------------------------------------------------------

    def refuse(self) -> None:
        self.refusing = True

    def recover(self) -> None:
        self.refusing = False

    def hold(self, nth: int) -> None:
        """Hold the ``nth`` message from now (1 is the next) mid-transaction until released."""
        with self._lock:
            self._hold_at = self._messages + nth
            self.held.clear()
            self._release.clear()

    def release(self, drop: bool = True) -> None:
        """End the hold: the held connection is closed (its client was killed meanwhile), or,
        with ``drop=False``, the message goes on as if the relay had only been slow."""
        with self._lock:
            self._hold_at = None
            self._drop = drop
        self._release.set()

    @property
    def messages(self) -> int:
        return self._messages

    # -- the relay -----------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            if self.refusing:
                self.refused += 1
                with contextlib.suppress(OSError):
                    client.sendall(REFUSAL)
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            except OSError:
                return  # the catcher is down: the client sees the connection closed
            with upstream:
                upstream.settimeout(None)
                threading.Thread(
                    target=_copy, args=(upstream, client), name="relay-down", daemon=True
                ).start()
                self._forward_commands(client, upstream)

    def _forward_commands(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to catcher, line by line, watching the SMTP commands for the hold."""
        reader = client.makefile("rb")
        in_data = False
        for line in reader:
            if in_data:
                in_data = line != b".\r\n"
            elif line.upper().startswith(b"DATA"):
                in_data = True
            elif line.upper().startswith(b"MAIL FROM"):
                with self._lock:
                    self._messages += 1
                    holding = self._hold_at is not None and self._messages == self._hold_at
                if holding:
                    upstream.sendall(line)  # the catcher has the envelope's sender only
                    self.held.set()
                    self._release.wait(600)
                    if self._drop:
                        return  # the connection is dropped: its client was killed meanwhile
                    continue
            try:
                upstream.sendall(line)
            except OSError:
                return


def _copy(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
