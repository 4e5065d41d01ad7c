"""Header values from register data are made safe in one place (statutory_clock.mail_headers).

Pure tests: the module itself, the message builders that use it, and the email package's real
serialiser and parser (the wire format is what matters, so every check reads bytes back).
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.mail_headers import (
    MAX_SUBJECT,
    MessageBuildError,
    header_text,
    message_id,
    recipient_address,
    safe_filename,
    sealed,
    sender_address,
    start_message,
    wire_text,
)
from statutory_clock.reminders import CHANGED, Reminder, ReminderItem, compose, subject_for
from statutory_clock.store.watchdog import alert_message

AT = datetime(2017, 12, 4, 7, 30, tzinfo=UTC)
# CVE-2024-6923: Python 3.11.7's email package decodes this in a header value it is given and
# writes the decoded CR LF to the wire, so a council named so adds Reply-To and Bcc headers.
ENCODED_WORD = "=?utf-8?q?X=0D=0AReply-To:_attacker@example.com=0D=0ABcc:_a@example.com?="
BIDI = "\u202e\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
BASE_HEADERS = ["subject", "from", "to", "date", "message-id"]
SINGLE_PART = ["content-type", "content-transfer-encoding", "mime-version"]
MULTIPART = ["content-type", "mime-version"]
# Text mixed with the pieces header injection is made of.
HOSTILE_PIECES = [
    ENCODED_WORD,
    "=?utf-8?b?DQpCY2M6IGFAZXhhbXBsZS5jb20=?=",  # base64 of CR LF "Bcc: a@example.com"
    "=?utf-8?q?",
    "?=",
    "=0D=0A",
    "\r\n",
    "\n",
    "\r",
    "\x00",
    "Bcc: a@example.com",
    "Reply-To: a@example.com",
    BIDI,
    INVISIBLE,
    " ",
]
hostile_text = st.lists(
    st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE_PIECES)), max_size=12
).map("".join)


def wire(message: EmailMessage) -> EmailMessage:
    """What a receiving server parses: the message as smtplib writes it, read back."""
    raw = message.as_bytes(policy=email.policy.SMTP)
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def names(message: EmailMessage) -> list[str]:
    return sorted(name.lower() for name in message)


# -- header_text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("London Borough of Croydon", "London Borough of Croydon"),
        ("Croydon\r\nBcc: attacker@example.com", "Croydon Bcc: attacker@example.com"),
        ("Croydon\nReply-To: x@example.com", "Croydon Reply-To: x@example.com"),
        ("Croy\x00don", "Croy don"),
        ("\x1b[31mRed\x1b[0m", "[31mRed [0m"),  # ESC is a control: the rest is plain text
        ("Tab\there\x85NEL\u2028LS\u2029PS", "Tab here NEL LS PS"),
        (f"Croydon{BIDI}", "Croydon"),
        (f"Cr{INVISIBLE}oydon", "Croydon"),
        ("  spaced \u00a0 out\u3000 ", "spaced out"),
        ("lone \udc80 surrogate", "lone surrogate"),
        (ENCODED_WORD, ENCODED_WORD.replace("=?", "= ?")),
        ("x=\x00?utf-8?q?a?=", "x= ?utf-8?q?a?="),  # a pair re-formed by a removal is split too
        ("Café £5 — Ofsted’s visit", "Café £5 — Ofsted’s visit"),
        ("", ""),
    ],
)
def test_header_text_makes_register_values_one_safe_line(value, expected):
    assert header_text(value) == expected


def test_header_text_caps_the_length_with_an_ellipsis():
    assert header_text("a" * 10_000, 50) == "a" * 49 + "…"
    assert len(header_text("word " * 100_000)) == 200  # a 500 KB name: 200 characters


SAFE_OUT = {"Cc", "Cf", "Cs", "Zl", "Zp"}


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=400), hostile_text), st.integers(min_value=1, max_value=300))
def test_any_text_becomes_safe_text(value, limit):
    text = header_text(value, limit)
    assert len(text) <= limit
    assert "=?" not in text
    assert text == text.strip() and "  " not in text
    assert not {unicodedata.category(c) for c in text} & SAFE_OUT


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_any_text_reaches_the_wire_as_exactly_one_subject(value):
    message = start_message(
        subject=value,
        sender="statclock@council.example",
        recipient="pm@council.example",
        sent_at=AT,
        message_id=message_id(1, value),
        extra=[("X-Statclock-Case", value)],
    )
    message.set_content("body\n")
    sealed(message)  # never refuses safe text
    back = wire(message)
    assert names(back) == sorted([*BASE_HEADERS, "x-statclock-case", *SINGLE_PART])
    # The text itself comes back, except that a space between two encoded words may be lost:
    # Python's folder can end one encoded word at a space, and RFC 2047 says whitespace between
    # adjacent encoded words is not displayed. Cosmetic, and never a line break or a header.
    # Where the folder would split an encoded word, the value goes out as ASCII instead.
    for name, limit in (("Subject", MAX_SUBJECT), ("X-Statclock-Case", 200)):
        sent = wire_text(name, header_text(value, limit))
        assert str(back[name]).replace(" ", "") == sent.replace(" ", "")
        if sent != header_text(value, limit):
            assert sent.isascii()


def test_a_value_the_folder_would_split_goes_out_as_ascii():
    # Found by the property test above: Python 3.11's folder split an encoded word here, and
    # the recipient would have seen "=?utf-8?q?0=E0=A0=80?" as text.
    value = "00000000=?utf-8?b?DQpCY2M6IGFAZXhhbXBsZS5jb20=?=000¡𐀀𐀀𐀀 0 𐀀 ¡"
    message = start_message(
        subject="x",
        sender="statclock@council.example",
        recipient="pm@council.example",
        sent_at=AT,
        message_id=message_id(1, value),
        extra=[("X-Statclock-Case", value)],
    )
    message.set_content("body\n")
    back = wire(sealed(message))
    assert "=?" not in str(back["X-Statclock-Case"])
    # (a long value is folded onto a continuation line, which unfolds with a leading space)
    assert str(back["X-Statclock-Case"]).strip().startswith("00000000= ?utf-8?b?DQpCY2M6IGFA")
    assert wire_text("Subject", "Café Croydon") == "Café Croydon"  # the usual case is untouched


# -- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pat.oneill@croydon.gov.uk", "pat.oneill@croydon.gov.uk"),
        ("Pat.O'Neill@Croydon.GOV.UK", "Pat.O'Neill@croydon.gov.uk"),
        ("programme.manager@localhost", "programme.manager@localhost"),  # ./run.sh's default
        ("pm@exämple.com", "pm@xn--exmple-cua.com"),
    ],
)
def test_usable_addresses_are_kept_in_their_ascii_form(value, expected):
    assert recipient_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "pat@croydon.gov.uk\n",  # the case file schema's "$" let this through
        "pat@croydon.gov.uk\r\nBcc: attacker@example.com",
        " pat@croydon.gov.uk",
        "Pat <pat@croydon.gov.uk>",  # a display name: who is it really for?
        '"attacker@example.com" <pat@croydon.gov.uk>',
        "pat@croydon.gov.uk, attacker@example.com",
        "pat@croydon.gov.uk\x00",
        '"pat\\\r\n"@croydon.gov.uk',
        "pät@croydon.gov.uk",  # would need SMTPUTF8
        "pat@[127.0.0.1]",
        "pat@invalid",
        "pat",
        "",
        "a" * 65 + "@croydon.gov.uk",
        f"pat@{'b' * 250}.uk",
        f"{ENCODED_WORD}@croydon.gov.uk",
    ],
)
def test_unusable_addresses_are_refused_naming_the_field_and_value(value):
    with pytest.raises(MessageBuildError) as refused:
        recipient_address(value)
    line = str(refused.value)
    assert line.startswith(f"To: {value!r} is not a usable email address (")
    assert "\n" not in line and "\r" not in line


def test_the_sender_may_have_a_display_name_made_safe():
    assert sender_address("statclock@council.example") == "statclock@council.example"
    assert sender_address("statclock <statclock@localhost>") == "statclock <statclock@localhost>"
    with pytest.raises(MessageBuildError, match=r"^From: 'statclock@council.example\\n'"):
        sender_address("statclock@council.example\n")


# -- Message-IDs ---------------------------------------------------------------------------


def test_message_ids_are_short_deterministic_and_distinct():
    long = ("x" * 150, "milestone:" + "y" * 140, "before_20", 12, "a" * 64 + "@" + "b" * 180)
    first = message_id(123456789, *long)
    assert first == message_id(123456789, *long)  # the same on every retry
    assert re.fullmatch(r"<r123456789\.[0-9a-f]{16}@statclock>", first)
    assert len(first) < 50
    assert message_id(123456790, *long) != first
    assert message_id(123456789, *long[:-1], "other@example.com") != first
    assert message_id(7, "a", prefix="f").startswith("<f7.")


def test_start_message_refuses_a_malformed_message_id():
    with pytest.raises(MessageBuildError, match="Message-ID"):
        start_message(
            subject="s",
            sender="a@b.example",
            recipient="c@d.example",
            sent_at=AT,
            message_id="<x\r\nBcc: y@statclock>",
        )


# -- the seal: defence in depth ------------------------------------------------------------


def test_the_seal_refuses_a_message_whose_headers_change_on_the_wire():
    # Built without the module, as the code did before: on an unpatched Python the subject's
    # encoded word becomes Reply-To and Bcc headers when written; on a patched one writing it
    # fails. Either way the seal refuses it, so it is never sent.
    raw = EmailMessage()
    raw["Subject"] = f"Reminder ({ENCODED_WORD})"
    raw["To"] = "pm@council.example"
    raw.set_content("body\n")
    with pytest.raises(MessageBuildError) as refused:
        sealed(raw)
    assert "\n" not in str(refused.value)


def test_the_seal_passes_a_safe_multipart_message_unchanged():
    message = start_message(
        subject="Reminder",
        sender="statclock@council.example",
        recipient="pm@council.example",
        sent_at=AT,
        message_id=message_id(1, "x"),
    )
    message.set_content("text\n")
    message.add_alternative("<p>html</p>", subtype="html")
    message.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="a.pdf")
    assert sealed(message) is message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("croydon-2017-written_statement.ics", "croydon-2017-written_statement.ics"),
        ("croydon\r\nContent-Type: text/html.ics", "croydon-Content-Type-text-html.ics"),
        ("../../etc/passwd", "etc-passwd"),
        ("Café.pdf", "Cafe.pdf"),
        ("\u202e\r\n", "attachment"),
        ("a" * 500 + ".pdf", "a" * 100),
    ],
)
def test_attachment_names_are_plain_ascii(value, expected):
    assert safe_filename(value) == expected


# -- the builders use it -------------------------------------------------------------------


def hostile_item(**changes: object) -> ReminderItem:
    values: dict[str, object] = {
        "item": "milestone:written_statement_of_action",
        "case_key": "croydon-2017",
        "authority": ENCODED_WORD,
        "title": f"Send the statement\r\nBcc: attacker@example.com{BIDI}",
        "due": date(2017, 12, 11),
        "due_version": 1,
        "needed": "Send it\r\nBcc: x@example.com",
        "basis": None,
        "source": None,
        "rule": None,
        "confidence": None,
        "owner": "Pat\r\nBcc: x@example.com",
        "owner_email": None,
        "escalation_email": None,
        "done": False,
    }
    values.update(changes)
    return ReminderItem(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["before_5", CHANGED])
def test_a_reminder_from_hostile_register_data_has_only_its_own_headers(kind):
    reminder = Reminder(hostile_item(), kind, ("pm@council.example",), 5, date(2017, 12, 4))
    message = compose(reminder, "pm@council.example", "statclock@council.example", AT, "<r1.a@x>")
    back = wire(message)
    assert names(back) == sorted(
        [*BASE_HEADERS, "x-statclock-case", "x-statclock-item", "x-statclock-reminder", *MULTIPART]
    )
    subject = str(back["Subject"])
    assert subject == subject_for(reminder)
    # the council's name is shown as text, capped to fit the subject's 80 characters
    assert "\r" not in subject and "\n" not in subject and "= ?utf-8?q?X=0D=0AReply" in subject
    assert not set(BIDI) & set(subject)
    (ics,) = back.iter_attachments()
    assert ics.get_filename() == "croydon-2017-written_statement_of_action.ics"


def test_a_very_long_name_keeps_the_when_in_the_subject():
    item = hostile_item(authority="A" * 100_000, title="T" * 100_000)
    reminder = Reminder(item, "before_5", ("pm@council.example",), 5)
    # each value is capped on its own: the when leads, whole, and the council ends it
    assert subject_for(reminder).startswith("Due in 5 working days: TTT")
    message = compose(reminder, "pm@council.example", "statclock@council.example", AT)
    subject = str(wire(message)["Subject"])
    assert len(subject) < 80 <= MAX_SUBJECT and subject.endswith("T… – AAAAAAAAAAAAAAAAAAAAAAA…")


def test_a_reminder_to_an_unusable_address_is_refused():
    reminder = Reminder(hostile_item(), "before_5", ("pat@croydon.gov.uk\n",), 5)
    with pytest.raises(MessageBuildError, match=r"^To: 'pat@croydon.gov.uk\\n'"):
        compose(reminder, "pat@croydon.gov.uk\n", "statclock@council.example", AT)


def test_the_watchdog_alert_uses_the_same_checks():
    alert = alert_message(date(2017, 12, 4), "pm@council.example", "statclock@localhost")
    assert names(wire(alert)) == sorted([*BASE_HEADERS, *MULTIPART])  # text and HTML
    with pytest.raises(MessageBuildError, match=r"^To: "):
        alert_message(date(2017, 12, 4), "pm@council.example\n", "statclock@localhost")
