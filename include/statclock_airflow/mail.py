"""Sending email through the Airflow SMTP provider connection.

The provider's ``send_email_smtp`` builds an HTML-only message; reminders and board packs are
multipart (plain text, HTML, .ics or PDF), so this hook sends a complete ``EmailMessage`` over
the connection the provider opens (host, port, TLS and credentials all come from the
connection, never from code).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import cast

from airflow.providers.smtp.hooks.smtp import SmtpHook

DEFAULT_SENDER = "statclock@localhost"


class MessageSmtpHook(SmtpHook):
    """An SmtpHook that can send a ready-made message."""

    def send_message(self, message: EmailMessage) -> None:
        if self._smtp_client is None:
            raise RuntimeError(
                "the SMTP connection is not open (use the hook as a context manager)"
            )
        client = cast("smtplib.SMTP", self._smtp_client)  # the synchronous client, opened above
        client.send_message(message)


@contextmanager
def smtp_sender(conn_id: str) -> Iterator[tuple[Callable[[EmailMessage], None], str]]:
    """Open the connection once; yield (send, sender address) for a batch of messages."""
    hook = MessageSmtpHook(smtp_conn_id=conn_id)
    with hook:
        sender = hook.from_email or DEFAULT_SENDER
        yield hook.send_message, sender
