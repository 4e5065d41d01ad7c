"""A local SMTP server that keeps every email it receives as a ``.eml`` file.

For the embedded way of running statclock (no Docker, no network): point Airflow's SMTP
connection at it and every reminder can be opened by a person, or read back by a test. It is a
real SMTP server (aiosmtpd), so mail goes through exactly the code path a real relay would.

- One file per message, named ``<UTC receipt time>-<sequence>-<subject>.eml``, e.g.
  ``20261122T101500Z-0001-reminder-written-statement.eml``. The sequence carries on from the
  files already in the directory, so a restart never reuses a name.
- Each file is written to a hidden temporary file in the same directory and then renamed, so
  anyone listing ``*.eml`` never sees a half-written message.
- A message is on disk before the sender is told ``250``; a message that cannot be saved is
  refused with ``451`` so the sender knows it was not delivered.
- The SMTP envelope is kept as two headers added on top: ``Return-Path`` (the sender) and
  ``X-Envelope-To`` (every recipient, Bcc included, which the message headers never show).

This module never imports Airflow. Run it on its own with::

    python -m devtools.mailcatcher --dir var/mail --port 8025
"""

from __future__ import annotations

import argparse
import email.policy
import logging
import os
import re
import signal
import socket
import sys
import threading
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
DEFAULT_DIR = Path("var/mail")
# Not socket.getfqdn(): aiosmtpd's default does a DNS lookup, which can hang with no network.
SERVER_HOSTNAME = "localhost"
SLUG_MAX_LENGTH = 60

FILE_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<sequence>\d{4,})-(?P<slug>[a-z0-9-]+)\.eml$")


def subject_slug(subject: str | None) -> str:
    """A file-name-safe form of a subject: lower-case ASCII words joined by hyphens.

    Accents are folded (``Café`` -> ``cafe``); any other character that is not an ASCII letter
    or digit separates words; the result is cut to 60 characters at most. No subject, or one with
    nothing usable in it, gives ``no-subject``.
    """
    decomposed = unicodedata.normalize("NFKD", subject or "")
    # Drop only the accents; any other character outside a-z0-9 (a curly apostrophe, a pound
    # sign, a letter with no ASCII form) separates words, just as an ASCII one would.
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:SLUG_MAX_LENGTH].rstrip("-") or "no-subject"


def _subject_of(raw: bytes) -> str | None:
    try:
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        subject = headers["subject"]
    except Exception:  # a malformed header must not lose the message, only its file name
        log.warning("Could not read the subject of a received message", exc_info=True)
        return None
    return None if subject is None else str(subject)


def _sort_key(path: Path) -> tuple[str, int]:
    match = FILE_NAME.match(path.name)
    assert match is not None  # only called on names that matched
    return match["stamp"], int(match["sequence"])


def saved_files(directory: Path) -> list[Path]:
    """The ``.eml`` files this catcher wrote under ``directory``, oldest first.

    Temporary files and anything not named like a saved message are ignored. Order is by
    receipt time, then sequence (numerically, so message 10000 follows 9999).
    """
    if not directory.is_dir():
        return []
    return sorted(
        (p for p in directory.iterdir() if FILE_NAME.match(p.name) and p.is_file()), key=_sort_key
    )


def read_message(path: Path) -> EmailMessage:
    """Parse one saved ``.eml`` file (with the modern ``email`` API, so attachments iterate)."""
    with path.open("rb") as handle:
        return BytesParser(policy=email.policy.default).parse(handle)


class _SaveToDirectory:
    """aiosmtpd handler: every message accepted becomes one file in ``directory``."""

    def __init__(self, directory: Path, next_sequence: int) -> None:
        self.directory = directory
        self._next_sequence = next_sequence
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # The write is synchronous on purpose: the messages are small, and finishing it before
        # answering 250 is what guarantees "accepted" means "on disk".
        try:
            path = self.save(envelope)
        except OSError:
            log.exception("Could not save a message under %s", self.directory)
            return "451 Requested action aborted: the message could not be saved"
        log.info("Saved %s", path)
        return "250 Message accepted for delivery"

    def save(self, envelope: Envelope) -> Path:
        content = envelope.original_content
        if content is None:
            raw = envelope.content or b""
            content = raw.encode("utf-8") if isinstance(raw, str) else raw
        newline = b"\r\n" if b"\r\n" in content else b"\n"
        recipients = ", ".join(envelope.rcpt_tos)
        trace = (
            f"Return-Path: <{envelope.mail_from or ''}>".encode()
            + newline
            # SMTP commands are single lines, so an address can never smuggle in a header.
            + f"X-Envelope-To: {recipients}".encode()
            + newline
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        with self._lock:
            sequence = self._next_sequence
            self._next_sequence += 1
        name = f"{stamp}-{sequence:04d}-{subject_slug(_subject_of(content))}.eml"
        final = self.directory / name
        # Same directory, so the rename is atomic; a leading dot and a .tmp suffix keep the
        # temporary file out of every "*.eml" listing.
        temporary = self.directory / f".{name}.tmp"
        try:
            with temporary.open("wb") as handle:
                handle.write(trace + content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        return final


def _next_sequence(directory: Path) -> int:
    numbers = [int(m["sequence"]) for p in saved_files(directory) if (m := FILE_NAME.match(p.name))]
    return max(numbers, default=0) + 1


def _check_port_is_free(host: str, port: int) -> None:
    """Raise OSError at once if something already listens on ``host:port``.

    aiosmtpd only reports a failed bind after its five-second start-up timeout; binding a probe
    socket the way asyncio will (SO_REUSEADDR on POSIX) gives the same answer immediately.
    """
    if port == 0:
        return
    for family, kind, proto, _, address in socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            if os.name == "posix":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)


class _Controller(Controller):
    """aiosmtpd's threaded controller, made to work with port 0 (let the OS choose).

    ``Controller.start()`` finishes by connecting to ``self.port`` to make the server build its
    SMTP object; with port 0 that connection would go nowhere. Read the real port back from the
    listening socket first (aiosmtpd is pinned, and this hook is where its own start-up
    handshake lives).
    """

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailCatcher:
    """A running SMTP server on ``host:port`` that saves what it receives under ``directory``.

    ``port=0`` lets the operating system pick a free port; ``.port`` gives the real one once
    started (and keeps it after ``stop()``, so a caller can check nothing listens there any
    more). With port 0, give one address (the default ``127.0.0.1``): a name such as
    ``localhost`` that resolves to several addresses would get a different free port on each.
    Use as a context manager to stop it whatever happens.
    """

    def __init__(self, directory: Path, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.directory = Path(directory)
        self.host = host
        self._requested_port = port
        self._port = port
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Create the directory if needed and start listening; raises OSError if it cannot."""
        if self._controller is not None:
            raise RuntimeError("The mail catcher is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        _check_port_is_free(self.host, self._requested_port)
        handler = self._make_handler(_next_sequence(self.directory))
        controller = _Controller(
            handler,
            hostname=self.host,
            port=self._requested_port,
            server_hostname=SERVER_HOSTNAME,
            ident="statclock mail catcher",
        )
        try:
            controller.start()
        except BaseException:
            # Whatever failed, leave no thread or event loop behind.
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._port = controller.port
        self._controller = controller

    def _make_handler(self, next_sequence: int) -> _SaveToDirectory:
        """The aiosmtpd handler; tests override it to act as a relay that refuses or drops."""
        return _SaveToDirectory(self.directory, next_sequence)

    def stop(self) -> None:
        """Stop listening and wait for the server thread to end; harmless if not running."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def files(self) -> list[Path]:
        """The saved ``.eml`` files, oldest first."""
        return saved_files(self.directory)

    def messages(self) -> list[EmailMessage]:
        """Every saved message, parsed, oldest first."""
        return [read_message(path) for path in self.files()]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MailCatcher({str(self.directory)!r}, {self.host}:{self.port}, {state})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a mail catcher until Ctrl-C or SIGTERM; exit status 1 if it cannot listen."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.mailcatcher",
        description="A local SMTP server that keeps every email it receives as a .eml file.",
    )
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="where to save emails (default: var/mail)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not between 0 and 65535")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous: dict[signal.Signals, Any] = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    catcher = MailCatcher(args.dir, host=args.host, port=args.port)
    try:
        try:
            catcher.start()
        except OSError as error:
            reason = error.strerror or str(error)
            print(
                f"Mail catcher could not listen on {args.host}:{args.port}: {reason}",
                file=sys.stderr,
            )
            return 1
        print(
            f"Mail catcher listening on {args.host}:{catcher.port}; "
            f"saving every email under {args.dir}",
            flush=True,
        )
        # A timeout keeps the main thread waking up, so the signal handler always gets to run.
        while not stopping.wait(0.5):
            pass
    finally:
        catcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Mail catcher stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
