"""The project's mail catcher acting as a relay that says no: a real SMTP server on a free port.

A real relay refuses an unknown mailbox at RCPT (``550``), may store a message and still report
a failure after DATA, or may drop the connection. :class:`Relay` does each for the addresses
it is given (changeable while it runs), and otherwise saves every message like the catcher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from devtools.mailcatcher import MailCatcher, _SaveToDirectory

REFUSAL = "550 5.1.1 No such mailbox here"


class _RelayHandler(_SaveToDirectory):
    def __init__(self, relay: Relay, directory: Path, next_sequence: int) -> None:
        super().__init__(directory, next_sequence)
        self.relay = relay

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.relay.drop:
            # Gone without a word, as a crashed relay or a cut network is.
            assert server.transport is not None
            server.transport.abort()
            return "421 closing"  # never reaches the client: the transport is gone
        if address in self.relay.refuse:
            return REFUSAL
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stored = await super().handle_DATA(server, session, envelope)
        if set(envelope.rcpt_tos) & self.relay.store_then_fail:
            # Kept on disk, yet the sender is told it failed: the sender's retry duplicates it.
            return "451 4.3.0 Temporary failure after the message was stored"
        return stored


class Relay(MailCatcher):
    """A mail catcher that refuses, drops or stores-then-fails the given recipients."""

    def __init__(self, directory: Path, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.refuse: set[str] = set()
        self.drop: set[str] = set()
        self.store_then_fail: set[str] = set()

    def _make_handler(self, next_sequence: int) -> _SaveToDirectory:
        return _RelayHandler(self, self.directory, next_sequence)
