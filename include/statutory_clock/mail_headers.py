"""Email headers built from register data, made safe in one place, whatever the Python version.

Every message statclock sends (reminders, board packs, the watchdog's alert, the failure notice
to the programme manager) is started by :func:`start_message` and finished by :func:`sealed`.
Nothing else sets a header from data that came from the register, a case file, a form or a
connection.

Why it is needed: the register may hold values written before input validation existed, and the
``email`` package is not a safe sink for them. Python 3.11.7 (CVE-2024-6923) decodes an RFC 2047
encoded word in a header value it is given, so a council named
``=?utf-8?q?X=0D=0ABcc:_attacker@example.com?=`` becomes a real ``Bcc:`` header on the wire; a
plain CR or LF in a name makes it raise instead; an address ending in a newline is refused
deep inside ``smtplib``. So, for every value:

- text (:func:`header_text`): control characters (CR, LF, NUL, tab, ESC...) and line or paragraph
  separators become spaces, format characters (bidi overrides, zero-width characters) are
  dropped, runs of spaces collapse, ``=?`` is split into ``= ?`` so that nothing can be decoded
  from it, and the length is capped (with an ellipsis);
- addresses (:func:`recipient_address`, :func:`sender_address`): validated by ``email-validator``
  (syntax only, no DNS) as one bare ASCII address; a display name, a trailing newline, spaces or
  an address that would need SMTPUTF8 are refused;
- attachment names (:func:`safe_filename`): ASCII letters, digits, ``.``, ``_`` and ``-`` only.

Then, as defence in depth, :func:`sealed` serialises the finished message exactly as it will go
on the wire and parses it back: if any part's header names differ from what was set, or any
header value holds CR or LF, the message is refused. A refusal is :class:`MessageBuildError`,
which the outbox records on that one ledger row (see :mod:`statutory_clock.store.outbox`).

Pure: no database, no network, no Airflow.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from itertools import zip_longest

from email_validator import EmailNotValidError, validate_email

# One register value inside a header (a council's name, a milestone's title): long enough for
# any real name (the longest English council name is under 60 characters), short enough that a
# 10 MB name cannot make a 10 MB header.
MAX_TEXT = 200
# A whole subject line: several values and the words around them; mail clients show far less.
MAX_SUBJECT = 250
MAX_FILENAME = 100
# Message-IDs are stored in a String(300) column; ours are far shorter (see message_id()).
MAX_MESSAGE_ID = 100
ELLIPSIS = "…"

# Categories that end or break a header line: C0/C1 controls (CR, LF, NUL, tab, ESC, NEL) and
# the Unicode line and paragraph separators. They become a space so words stay apart.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})
# Invisible characters that change what a reader sees without being seen: bidi overrides and
# isolates, zero-width spaces and joiners, the BOM, soft hyphens; and lone surrogates, which
# cannot be encoded at all. Dropped.
_INVISIBLE = frozenset({"Cf", "Cs"})
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>")
# The only special-use domain allowed: the embedded default (``./run.sh``) sends from and to
# ``...@localhost`` through the local mail catcher. email-validator refuses it as reserved.
_LOCALHOST = re.compile(r"@localhost(?=>?$)", re.IGNORECASE)
_LOCALHOST_STAND_IN = "@localhost.localdomain"


class MessageBuildError(ValueError):
    """A message cannot be built safely from the register's data.

    The message names the header and shows the offending value (``repr``, so a newline shows as
    ``\\n``), on one line: it is stored as the ledger row's failure reason.
    """


def header_text(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as one line of plain text that no ``email`` version can turn into headers.

    ``limit`` counts characters of the result; a longer value is cut and ends with an ellipsis.
    Never raises: any value, however hostile, gives some safe text (possibly empty).
    """
    text = unicodedata.normalize("NFC", str(value))
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category in _BREAKING:
            kept.append(" ")
        elif category not in _INVISIBLE:
            kept.append(char)
    # str.split() also splits on every Unicode space (no-break, ideographic...), so the result
    # has single ASCII spaces only and no leading or trailing space.
    text = " ".join("".join(kept).split())
    # An RFC 2047 encoded word starts "=?". Splitting that pair is enough: nothing in the
    # value can be decoded, and inserting a space cannot create a new pair.
    text = text.replace("=?", "= ?")
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return text


def safe_filename(value: object, fallback: str = "attachment") -> str:
    """An attachment file name: ASCII letters, digits, ``.``, ``_`` and ``-`` only."""
    folded = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folded).strip("-.")
    return name[:MAX_FILENAME].rstrip("-.") or fallback


def _validated(value: str, field: str, allow_display_name: bool) -> tuple[str, str | None]:
    """(ASCII address, display name or None), or MessageBuildError naming the field."""
    if not isinstance(value, str):
        raise MessageBuildError(f"{field}: {value!r} is not an email address")
    probe, localhost = _LOCALHOST.subn(_LOCALHOST_STAND_IN, value)
    try:
        result = validate_email(
            probe,
            check_deliverability=False,  # no DNS: sending must not depend on the resolver
            allow_smtputf8=False,  # a relay without SMTPUTF8 could not take it
            allow_display_name=allow_display_name,
            allow_quoted_local=False,
            allow_domain_literal=False,
            strict=True,  # RFC 5321's 64-character limit before the "@", which relays enforce
        )
    except EmailNotValidError as error:
        raise MessageBuildError(
            f"{field}: {value!r} is not a usable email address ({header_text(error)})"
        ) from None
    ascii_email = result.ascii_email or result.normalized
    if localhost:
        ascii_email = ascii_email[: -len(_LOCALHOST_STAND_IN)] + "@localhost"
    return ascii_email, getattr(result, "display_name", None)


def recipient_address(value: str, field: str = "To") -> str:
    """One bare address from the register (a contact's email, the programme manager).

    Refused: anything that is not exactly one address, e.g. ``pat@example.com\\n``,
    ``Pat <pat@example.com>``, ``pat@example.com, eve@example.com``, a quoted local part with
    control characters, or an address that would need SMTPUTF8.
    """
    address, _ = _validated(value, field, allow_display_name=False)
    return address


def sender_address(value: str) -> str:
    """The From address, from the SMTP connection's configuration.

    A display name is allowed there (``statclock <noreply@council.gov.uk>`` is a normal
    setting); it is made safe like any other text and the address is validated.
    """
    address, display_name = _validated(value, "From", allow_display_name=True)
    name = header_text(display_name or "", 78)
    if not name:
        return address
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))


def message_id(row_id: int, *identity: object, prefix: str = "r") -> str:
    """A short, deterministic Message-ID for ledger row ``row_id``.

    ``identity`` is what the row stands for (case, item, kind, due-date version, recipient): its
    SHA-256 makes the ID differ between two registers whose row numbers collide, and the same on
    every retry of the row, so a receiving system can de-duplicate a resend. About 40
    characters whatever the inputs (the old form embedded them and could pass 300). ``prefix``
    tells other kinds of message apart (``f`` for a failure notice).
    """
    if not re.fullmatch(r"[a-z]{1,8}", prefix):
        raise ValueError(f"prefix {prefix!r}: expected 1-8 lower-case letters")
    digest = hashlib.sha256("\x1f".join(str(part) for part in identity).encode()).hexdigest()
    return f"<{prefix}{int(row_id)}.{digest[:16]}@statclock>"


def start_message(
    *,
    subject: str,
    sender: str,
    recipient: str,
    sent_at: datetime,
    message_id: str,
    extra: Sequence[tuple[str, object]] = (),
) -> EmailMessage:
    """A new message with its headers set safely; the caller adds the body, then seals it.

    ``extra`` are ``X-`` headers (names are the caller's constants; values are made safe text).
    Raises :class:`MessageBuildError` for an unusable address or Message-ID.
    """
    if len(message_id) > MAX_MESSAGE_ID or not _MESSAGE_ID.fullmatch(message_id):
        raise MessageBuildError(f"Message-ID: {message_id!r} is not a short <local@domain> id")
    msg = EmailMessage()
    msg["Subject"] = wire_text("Subject", header_text(subject, MAX_SUBJECT))
    msg["From"] = sender_address(sender)
    msg["To"] = recipient_address(recipient)
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    for name, value in extra:
        if not re.fullmatch(r"X-[A-Za-z0-9-]+", name):
            raise ValueError(f"extra header name {name!r}: only X- names are allowed here")
        msg[name] = wire_text(name, header_text(value))
    return msg


def _read_back(name: str, text: str) -> str:
    probe = EmailMessage()
    probe[name] = text
    raw = probe.as_bytes(policy=email.policy.SMTP)
    return str(BytesParser(policy=email.policy.default).parsebytes(raw)[name])


def wire_text(name: str, text: str) -> str:
    """``text``, or its plain-ASCII form if the ``email`` package cannot carry it whole.

    Python's header folder can split an RFC 2047 encoded word at a line fold when a long
    non-ASCII value also holds ``?`` and ``=`` (still one header, never a line break, but the
    recipient would see raw ``=?utf-8?q?...`` text). So the folded header is read back, and if
    it does not say what was meant, the value goes out as ASCII (accents dropped, anything else
    ``?``), which is never encoded and so never split. Spaces between encoded words may be lost
    in transit (RFC 2047 does not display them), so they are not compared.
    """
    if _read_back(name, text).replace(" ", "") == text.replace(" ", ""):
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c if c.isascii() else "?" for c in decomposed if not unicodedata.combining(c))
    ascii_text = header_text(plain, 2 * len(plain))  # again: "?" may have made a new "=?"
    if len(ascii_text) > len(text):  # NFKD can lengthen (one ligature, several letters)
        ascii_text = ascii_text[: max(len(text) - 3, 0)].rstrip() + "..."
    return ascii_text


def _breaks_line(value: object) -> bool:
    text = str(value)
    return "\r" in text or "\n" in text


def sealed(message: EmailMessage) -> EmailMessage:
    """``message`` unchanged if it reaches the wire with exactly the headers it was given.

    Serialises it as ``smtplib`` will (the SMTP policy: CRLF line ends), parses the bytes back
    and compares, part by part, the header names (as a multiset) and checks that no header
    value holds CR or LF, before and after. Any difference means the ``email`` package would
    have put something on the wire that was never set: :class:`MessageBuildError`.
    """
    try:
        wire = message.as_bytes(policy=email.policy.SMTP)
    except Exception as error:  # whatever the email package refuses to write is not sent
        raise MessageBuildError(
            f"the message cannot be written out: {type(error).__name__}: {header_text(error)}"
        ) from None
    parsed = BytesParser(policy=email.policy.default).parsebytes(wire)
    for position, (built, back) in enumerate(zip_longest(message.walk(), parsed.walk())):
        if built is None or back is None:
            raise MessageBuildError("the message's MIME parts change when written out")
        where = "the message" if position == 0 else f"MIME part {position}"
        set_names = sorted(name.lower() for name in built)
        wire_names = sorted(name.lower() for name in back)
        if set_names != wire_names:
            added = sorted(set(wire_names) - set(set_names)) or wire_names
            raise MessageBuildError(
                f"{where}: the headers written out ({', '.join(added)}) differ from those set"
            )
        for name, value in [*built.items(), *back.items()]:
            if _breaks_line(value):
                raise MessageBuildError(f"{where}: header {name} holds a line break: {value!r}")
    return message
