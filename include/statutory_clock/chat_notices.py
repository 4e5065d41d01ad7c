"""What a Slack or Teams channel is told about a deadline, and how a post can fail.

Pure: no database, no network. :mod:`statutory_clock.store.notices` decides and records the
notices in the reminder ledger; the Airflow glue (``statclock_airflow.webhooks``) posts the
payloads built here.

A channel hears about two things only: a deadline that is **overdue** (the ``overdue_N`` steps
of the lead-time policy) and a deadline that has **changed** (``deadline_changed``). The
"due in 5 working days" reminders stay in the owners' inboxes.

Everything from the register (a council's name, a title, an owner) is hostile until shown
otherwise. Each value is made one line of printable text; then, for Slack, ``&``, ``<`` and
``>`` become entities (Slack's only control characters: with them escaped no ``<!channel>``,
``<@U123>`` or ``<https://…|disguised link>`` can be formed) inside ``verbatim`` text objects
(no automatic links or mentions); for Teams, values go in ``TextRun`` elements, where Adaptive
Cards apply no Markdown at all (so no ``[link](…)``), and the one link is an
``Action.OpenUrl`` to the council page built here. A bare ``@here``, ``@channel`` or
``@everyone`` gets an invisible word joiner after the ``@`` on both platforms, so no client
that still parses them as mentions can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TypeAlias

from statutory_clock.dates import long_date
from statutory_clock.mail_headers import header_text
from statutory_clock.reminders import CHANGED

# A JSON document as the platforms receive it.
Json: TypeAlias = str | int | bool | list["Json"] | dict[str, "Json"] | None
JsonObject = dict[str, Json]

OVERDUE_PREFIX = "overdue_"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# Adaptive Card version: 1.4 is what Teams renders everywhere (desktop, web, mobile).
CARD_VERSION = "1.4"
# Characters of a value from the register kept in a notice.
MAX_VALUE = 200
# A character that joins "@" to the word after it without showing: "@\u2060here" reads as
# "@here" but is no mention on any client.
WORD_JOINER = "\u2060"
_MENTION = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)


class EndpointUnavailable(RuntimeError):
    """The channel's endpoint cannot take posts now (refused, timed out, 5xx, 429, webhook
    revoked): the batch stops, the rows stay as they were, and the task fails to be retried.
    The message names the channel, never the webhook's secret address."""


class PostRefused(ValueError):
    """The endpoint refused this one payload (a 4xx such as 400): the row is marked failed,
    the programme manager is told, and the other notices go on."""


@dataclass(frozen=True, slots=True)
class ChatNotice:
    """One notice for a channel, from one ledger row."""

    channel: str  # the ledger's recipient, e.g. "slack:statclock_slack"
    case_key: str
    item: str
    kind: str  # "overdue_N" or "deadline_changed"
    authority: str
    title: str
    due: date
    working_days: int  # < 0: working days overdue on the day decided
    previous_due: date | None  # for a changed deadline: what it was
    owner: str | None
    council_url: str  # the council's page in statclock

    @property
    def changed(self) -> bool:
        return self.kind == CHANGED


def is_notice_kind(kind: str) -> bool:
    """True for the reminder kinds a chat channel hears about: overdue and changed."""
    return kind == CHANGED or kind.startswith(OVERDUE_PREFIX)


def plain(value: object) -> str:
    """A value from the register as one line of printable text, no mention in it."""
    return _MENTION.sub("@" + WORD_JOINER, header_text(value, MAX_VALUE))


def headline(notice: ChatNotice) -> str:
    """'Overdue by 3 working days: Written statement of action – London Borough of Croydon'."""
    what = f"{plain(notice.title).rstrip('.')} – {plain(notice.authority)}"
    if notice.changed:
        return f"Deadline changed: {what}"
    days = -notice.working_days
    if days <= 0:  # decided as overdue, so at least 1: guard against a stale row all the same
        return f"Overdue: {what}"
    return f"Overdue by {days} working day{'s' if days != 1 else ''}: {what}"


def details(notice: ChatNotice) -> list[tuple[str, str]]:
    """(label, value) lines under the headline."""
    lines: list[tuple[str, str]] = []
    if notice.changed:
        lines.append(("Now due", long_date(notice.due)))
        if notice.previous_due is not None:
            lines.append(("Was due", long_date(notice.previous_due)))
    else:
        lines.append(("Was due", long_date(notice.due)))
    lines.append(("Owner", plain(notice.owner) if notice.owner else "not named in the register"))
    lines.append(("Case", plain(notice.case_key)))
    return lines


def summary(notice: ChatNotice) -> str:
    """The whole notice as one line of plain text (Slack's notification text)."""
    rest = "; ".join(f"{label.lower()} {value}" for label, value in details(notice))
    return f"{headline(notice)}. {rest[:1].upper()}{rest[1:]}."


# -- Slack -----------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities (api.slack.com, "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    # Inside <url|label>, "|" and ">" would end the address early.
    return slack_escape(url.replace("|", "%7C").replace(" ", "%20"))


def _mrkdwn(text: str) -> JsonObject:
    # verbatim: no automatic links, channel names or mentions from the text itself.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_payload(notice: ChatNotice) -> JsonObject:
    """An incoming-webhook message: ``text`` (the notification) and Block Kit ``blocks``."""
    facts: list[Json] = [
        _mrkdwn(f"*{label}*\n{slack_escape(value)}") for label, value in details(notice)
    ]
    blocks: list[Json] = [
        {"type": "section", "text": _mrkdwn(f"*{slack_escape(headline(notice))}*")},
        {"type": "section", "fields": facts},
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"<{_slack_url(notice.council_url)}|Open the council page in statclock>")
            ],
        },
    ]
    return {
        "text": slack_escape(summary(notice)),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


# -- Microsoft Teams -------------------------------------------------------------------------


def _run(text: str, *, bold: bool = False) -> JsonObject:
    run: JsonObject = {"type": "TextRun", "text": text}
    if bold:
        run["weight"] = "Bolder"
    return run


def teams_card(notice: ChatNotice) -> JsonObject:
    """The Adaptive Card: values as TextRuns (no Markdown), the council page as an action."""
    body: list[Json] = [
        {
            "type": "RichTextBlock",
            "inlines": [_run(headline(notice), bold=True)],
        },
    ]
    body += [
        {
            "type": "RichTextBlock",
            "spacing": "Small",
            "inlines": [_run(f"{label}: ", bold=True), _run(value)],
        }
        for label, value in details(notice)
    ]
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": [
            {
                "type": "Action.OpenUrl",
                "title": "Open the council page",
                "url": notice.council_url,
            }
        ],
        "fallbackText": summary(notice),
    }


def teams_payload(notice: ChatNotice) -> JsonObject:
    """The message a Teams Workflows webhook accepts: one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": teams_card(notice)}
        ],
    }


# -- what an HTTP status means ---------------------------------------------------------------

# 4xx that say the webhook itself is wrong or gone (bad token, deleted workflow, archived
# channel) or busy, not this payload: every post would get the same, so stop and retry later
# rather than mark every row failed.
_ENDPOINT_4XX = frozenset({401, 403, 404, 408, 410, 429})


def check_status(channel: str, status: int, body: str) -> None:
    """Raise unless ``status`` is a 2xx: :class:`EndpointUnavailable` for a 5xx, a 429 or a
    4xx about the webhook itself; :class:`PostRefused` for any other 4xx (and a 3xx: a webhook
    does not redirect). ``body`` is the endpoint's reply, kept short and on one line."""
    if 200 <= status < 300:
        return
    reply = header_text(body, 120)
    said = f"HTTP {status}" + (f" {reply}" if reply else "")
    if status >= 500 or status in _ENDPOINT_4XX:
        raise EndpointUnavailable(f"{channel}: the endpoint answered {said}")
    raise PostRefused(f"{channel}: the endpoint refused the post: {said}")
