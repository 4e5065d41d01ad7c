"""Emails that read well in Outlook, Gmail and on a phone, and say the same in plain text.

A message is a list of typed blocks (:class:`Heading`, :class:`Paragraph`, :class:`Inset`,
:class:`SummaryList`, :class:`Link`, :class:`Divider`); :func:`render` turns one list into both
parts, so the plain text and the HTML can never disagree about a fact or its order.

The HTML follows GOV.UK Notify's email template, because council officers already read those
every day and mail clients are known to render it:

- tables for layout, ``role="presentation"``, every style inline (Outlook drops ``<style>``,
  classes and flexbox, and Gmail drops ``<style>`` in some views);
- a plain black banner with the service name: no crown, which is Crown copyright, and no
  images or web fonts (blocked by default in Outlook, and a tracking risk);
- 19px Helvetica/Arial in GOV.UK black ``#0b0c0c``, links ``#1d70b8``, a 580px column that
  shrinks to the screen (``max-width``), long words wrapped so a phone never scrolls sideways;
- the inset panel: a 10px grey left border, for the one fact that matters most.

Every value is escaped here (``html.escape``), and made one line of printable text (control
and invisible characters out, capped), whatever the register held. Callers pass plain text,
never markup. Pure: no database, no network, no Airflow.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from html import escape
from urllib.parse import urlsplit

SERVICE = "statclock"
# One value in the body (a title, a basis line): far beyond any real one, short enough that
# a 10 MB value in the register cannot make a 10 MB email.
MAX_VALUE = 3000
ELLIPSIS = "…"

_FONT = "font-family: Helvetica, Arial, sans-serif"
_TEXT = f"{_FONT}; font-size: 19px; line-height: 25px; color: #0b0c0c"
_SMALL = f"{_FONT}; font-size: 16px; line-height: 22px; color: #505a5f"
_HEADING = {
    1: f"{_FONT}; font-size: 27px; line-height: 32px; font-weight: 700; color: #0b0c0c",
    2: f"{_FONT}; font-size: 22px; line-height: 27px; font-weight: 700; color: #0b0c0c",
    3: f"{_FONT}; font-size: 19px; line-height: 25px; font-weight: 700; color: #0b0c0c",
}
_HEADING_MARGIN = {1: "0 0 20px 0", 2: "30px 0 15px 0", 3: "20px 0 5px 0"}
_UNDERLINE = {1: "=", 2: "-", 3: ""}


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading: level 1 is the email's title, 2 a section, 3 a part of a section."""

    text: str
    level: int = 1


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    small: bool = False  # secondary text (why you got this email): smaller and grey


@dataclass(frozen=True, slots=True)
class Inset:
    """The grey-bordered panel: ``lead`` large and bold (a due date), ``lines`` below it."""

    lead: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SummaryRow:
    key: str
    values: tuple[str, ...]  # one line each (a name, an address)


@dataclass(frozen=True, slots=True)
class SummaryList:
    """Facts as key and value, stacked (key above value) so they fit a phone's width."""

    rows: tuple[SummaryRow, ...]


@dataclass(frozen=True, slots=True)
class Link:
    """A link on its own line; ``href`` must be an http(s) address (else ValueError)."""

    text: str
    href: str


@dataclass(frozen=True, slots=True)
class Divider:
    """A horizontal rule between sections (the digest's reminders)."""


Block = Heading | Paragraph | Inset | SummaryList | Link | Divider


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str  # the text/plain part
    html: str  # the text/html part: a whole document


def clean(value: object, limit: int = MAX_VALUE) -> str:
    """``value`` as one line of visible text: line breaks and control characters become
    spaces, invisible characters (bidi overrides, zero-width, lone surrogates) are dropped,
    spaces collapse, and it is capped at ``limit`` characters with an ellipsis."""
    kept = []
    for char in unicodedata.normalize("NFC", str(value)):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cf", "Cs"):
            kept.append(char)
    text = " ".join("".join(kept).split())
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return text


def set_body(message: EmailMessage, parts: Rendered) -> None:
    """Give ``message`` both parts: plain text first, the HTML as its alternative."""
    message.set_content(parts.text)
    message.add_alternative(parts.html, subtype="html")


def render(blocks: Sequence[Block], *, title: str, preheader: str = "") -> Rendered:
    """Both parts of an email from one list of blocks.

    ``title`` is the HTML document's title (the subject is a good one); ``preheader`` the line
    a mail client shows after the subject in the inbox list (hidden in the body).
    """
    return Rendered(text=_text(blocks), html=_html(blocks, clean(title), clean(preheader)))


# -- plain text ------------------------------------------------------------------------------


def _text(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            text = clean(block.text)
            line = _UNDERLINE.get(block.level, "")
            out.append(f"{text}\n{line * min(len(text), 70)}" if line else text)
        elif isinstance(block, Paragraph):
            out.append(clean(block.text))
        elif isinstance(block, Inset):
            out.append("\n".join(f"| {clean(line)}" for line in (block.lead, *block.lines)))
        elif isinstance(block, SummaryList):
            out.append(
                "\n".join(
                    f"{clean(row.key)}: {', '.join(clean(v) for v in row.values)}"
                    for row in block.rows
                )
            )
        elif isinstance(block, Link):
            out.append(f"{clean(block.text)}: {_href(block.href)}")
        else:
            out.append("-" * 40)
    return "\n\n".join(out) + "\n"


# -- HTML ------------------------------------------------------------------------------------


def _href(href: str) -> str:
    parts = urlsplit(href)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() or not c.isprintable() for c in href)
    ):
        raise ValueError(f"link {href!r}: expected an http or https address")
    return href


def _block_html(block: Block) -> str:
    if isinstance(block, Heading):
        level = block.level if block.level in _HEADING else 3
        return (
            f'<h{level} style="margin: {_HEADING_MARGIN[level]}; padding: 0; '
            f'{_HEADING[level]}">{escape(clean(block.text))}</h{level}>'
        )
    if isinstance(block, Paragraph):
        style = _SMALL if block.small else _TEXT
        return f'<p style="margin: 0 0 20px 0; {style}">{escape(clean(block.text))}</p>'
    if isinstance(block, Inset):
        lines = "".join(
            f'<p style="margin: 0 0 15px 0; {_TEXT}">{escape(clean(line))}</p>'
            for line in block.lines
        )
        return (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'border="0" style="border-collapse: collapse; width: 100%; margin: 0 0 20px 0">'
            '<tr><td style="border-left: 10px solid #b1b4b6; padding: 15px 0 0.1px 15px; '
            f'{_TEXT}">'
            f'<p style="margin: 0 0 15px 0; {_FONT}; font-size: 24px; line-height: 30px; '
            f'font-weight: 700; color: #0b0c0c">{escape(clean(block.lead))}</p>{lines}'
            "</td></tr></table>"
        )
    if isinstance(block, SummaryList):
        return "".join(
            f'<p style="margin: 0 0 5px 0; {_TEXT}; font-weight: 700">{escape(clean(row.key))}'
            f'</p><p style="margin: 0 0 20px 0; {_TEXT}">'
            + "<br>".join(escape(clean(value)) for value in row.values)
            + "</p>"
            for row in block.rows
        )
    if isinstance(block, Link):
        return (
            f'<p style="margin: 0 0 20px 0; {_TEXT}"><a href="{escape(_href(block.href))}" '
            f'style="color: #1d70b8; text-decoration: underline">{escape(clean(block.text))}'
            "</a></p>"
        )
    return (
        '<hr style="border: 0; height: 1px; background: #b1b4b6; color: #b1b4b6; '
        'margin: 30px 0 30px 0">'
    )


def _html(blocks: Sequence[Block], title: str, preheader: str) -> str:
    body = "".join(_block_html(block) for block in blocks)
    hidden = (
        '<span style="display: none; font-size: 1px; color: #ffffff; line-height: 1px; '
        'max-height: 0; max-width: 0; opacity: 0; overflow: hidden">'
        f"{escape(preheader)}</span>"
        if preheader
        else ""
    )
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="margin: 0; padding: 0; background: #ffffff; {_TEXT}; '
        '-webkit-text-size-adjust: 100%">'
        f"{hidden}"
        # The banner: full width, black, with the service name in white.
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="border-collapse: collapse; min-width: 100%; width: 100%">'
        '<tr><td width="100%" bgcolor="#0b0c0c" style="background: #0b0c0c">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'align="center" style="border-collapse: collapse; max-width: 580px; width: 100%">'
        f'<tr><td style="padding: 12px 10px; {_FONT}; font-size: 28px; line-height: 32px; '
        f'font-weight: 700; color: #ffffff">{SERVICE}</td></tr></table></td></tr></table>'
        # The content column: 580px at most, the screen's width on a phone.
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'align="center" style="border-collapse: collapse; max-width: 580px; width: 100%">'
        '<tr><td height="30" style="font-size: 30px; line-height: 30px">&nbsp;</td></tr>'
        f'<tr><td style="padding: 0 10px; {_TEXT}; word-wrap: break-word; '
        f'overflow-wrap: anywhere; word-break: break-word">{body}</td></tr>'
        '<tr><td height="30" style="font-size: 30px; line-height: 30px">&nbsp;</td></tr>'
        "</table></body></html>"
    )
