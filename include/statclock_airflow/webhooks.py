"""Slack and Teams notices through Airflow connections: which channels exist, and posting.

Both are optional and off by default; a channel is on when its connection exists:

- ``statclock_slack``: a Slack incoming webhook, connection type ``slackwebhook`` (the Slack
  provider's): the webhook's address in the password field (``https://hooks.slack.com/services/
  T…/B…/…``), or the host ``hooks.slack.com/services`` with the token as password. Posted with
  the client of the provider's :class:`SlackWebhookHook`, the one its ``SlackWebhookNotifier``
  uses. Not through the notifier itself: its ``notify()`` turns every non-200 answer into one
  ``AirflowException`` whose status is only in the message text, and the ledger must tell a
  payload refused (4xx: that row failed, the rest go) from an endpoint down (5xx, 429: retry).
- ``statclock_teams``: a Microsoft Teams Workflows webhook ("Post to a channel when a webhook
  request is received"), connection type ``http`` with the workflow's whole address (query
  string and signature included) in the password field, where Airflow masks it. Workflows
  accept only Adaptive Cards; posted with ``requests``.

The webhook addresses are secrets (anyone holding one can post to the channel), so no error
message here contains one: failures name the channel (``slack:statclock_slack``) and what the
endpoint said. See docs/notices.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from statutory_clock.chat_notices import (
    ChatNotice,
    EndpointUnavailable,
    check_status,
    slack_payload,
    teams_payload,
)
from statutory_clock.store.channels import Channel

log = logging.getLogger(__name__)

SLACK_CONN_ID = "statclock_slack"
TEAMS_CONN_ID = "statclock_teams"
CHANNELS = (Channel("slack", SLACK_CONN_ID), Channel("teams", TEAMS_CONN_ID))
# Seconds to wait for an endpoint; a slower one is "unavailable" and the task retries.
TIMEOUT = 15

Post = Callable[[ChatNotice], None]


class WebhookConfigError(ValueError):
    """A channel's connection exists but cannot be used; the message names it and the field."""


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def configured_channels() -> tuple[Channel, ...]:
    """The channels whose Airflow connection exists (none by default)."""
    return tuple(channel for channel in CHANNELS if _connection(channel.conn_id) is not None)


def _unavailable(channel: Channel, error: BaseException) -> EndpointUnavailable:
    # The class only: the messages of urllib, slack_sdk and requests may quote the address.
    return EndpointUnavailable(
        f"{channel.recipient}: could not reach the endpoint ({type(error).__name__})"
    )


def slack_poster(channel: Channel) -> Post:
    """Post to a Slack incoming webhook through the provider's hook."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    # No retry handlers: slack_sdk would post again after a dropped connection, which may have
    # been delivered; retrying is the task's job, and the ledger's.
    hook = SlackWebhookHook(
        slack_webhook_conn_id=channel.conn_id, timeout=TIMEOUT, retry_handlers=[]
    )
    try:
        client = hook.client  # reads the connection now: a bad one fails before any row
    except Exception as error:
        raise WebhookConfigError(
            f"connection {channel.conn_id!r}: no webhook address or token in its password "
            f"({type(error).__name__})"
        ) from None

    def post(notice: ChatNotice) -> None:
        try:
            response = client.send_dict(slack_payload(notice))
        except Exception as error:  # urllib's URLError, timeouts, slack_sdk's own errors
            raise _unavailable(channel, error) from None
        check_status(channel.recipient, response.status_code, str(response.body or ""))

    return post


def teams_poster(channel: Channel) -> Post:
    """Post an Adaptive Card to a Teams Workflows webhook with ``requests``."""
    import requests

    conn = _connection(channel.conn_id)
    url = (conn.password or "").strip() if conn is not None else ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookConfigError(
            f"connection {channel.conn_id!r}: its password must be the workflow's whole "
            "https:// address (copied from the Workflows app)"
        )
    session = requests.Session()

    def post(notice: ChatNotice) -> None:
        try:
            response = session.post(
                url, json=teams_payload(notice), timeout=TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as error:
            raise _unavailable(channel, error) from None
        check_status(channel.recipient, response.status_code, response.text)

    return post


POSTERS: dict[str, Callable[[Channel], Post]] = {"slack": slack_poster, "teams": teams_poster}


def post_notices(engine: Any, programme_manager: str, actor: str) -> int | None:
    """The ``post_notices`` task: post pending chat notices, tell the programme manager once
    about refused ones, fail the task if any were refused. None when no channel is set up."""
    from statclock_airflow import SMTP_CONN_ID
    from statclock_airflow.mail import smtp_sender
    from statutory_clock.store.delivery import (
        DeliveryFailed,
        failure_line,
        tell_programme_manager,
        told_line,
    )
    from statutory_clock.store.notices import describe_failure, failure_notice, post_pending

    channels = configured_channels()
    if not channels:
        log.info(
            "No chat channel: neither the %s nor the %s connection exists, nothing to post",
            SLACK_CONN_ID,
            TEAMS_CONN_ID,
        )
        return None
    posts = {channel.recipient: POSTERS[channel.platform](channel) for channel in channels}
    report = post_pending(engine, posts)
    log.info(
        "%d notice(s) posted, %d skipped, %d refused", report.sent, report.skipped, report.failed
    )
    if not report.failures:
        return report.sent
    with smtp_sender(SMTP_CONN_ID) as (send, sender):
        notice = tell_programme_manager(
            engine,
            send,
            sender,
            programme_manager,
            report.failures,
            actor,
            datetime.now(UTC),
            compose=failure_notice,
        )
    # The channel's error line does not name the programme manager's address.
    told = told_line(notice, None)
    raise DeliveryFailed(
        failure_line(report, told, noun="notice", done="posted", what=describe_failure)
    )
