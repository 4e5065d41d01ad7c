"""Where people reach statclock: the UI's base address (``$STATCLOCK_BASE_URL``), the prefix the
programme manager's page is mounted at, a council's page and a calendar feed's path. One place,
so that the command line (``statclock feed url``), the page, the calendar feeds, the reminder
emails and the chat notices all give the same addresses.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

BASE_URL_SETTING = "STATCLOCK_BASE_URL"
DEFAULT_BASE_URL = "http://localhost:8080"  # where ./run.sh serves Airflow and the page
PAGES_PREFIX = "/statclock"  # the plugin app's url_prefix (a contract: docs/architecture.md)


class BaseUrlError(ValueError):
    """``$STATCLOCK_BASE_URL`` is not an http(s) address; the message names the value."""


def base_url(default: str | None = DEFAULT_BASE_URL) -> str | None:
    """The address people reach Airflow at, without a final /: ``$STATCLOCK_BASE_URL``, else
    ``default``. A set value that is not a plain http(s) address (no query, fragment, user or
    spaces) raises :class:`BaseUrlError`."""
    text = os.environ.get(BASE_URL_SETTING) or default
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or any(c.isspace() or not c.isprintable() for c in text)
    ):
        from statutory_clock.inputs import printable

        raise BaseUrlError(
            f"{BASE_URL_SETTING}: {printable(text, 200)!r} is not an http or https address "
            "such as https://airflow.council.example"
        )
    return text.rstrip("/")


def feed_path(name: str, token: str) -> str:
    """A feed's path under the page's root: ``/feeds/{name}.ics?token=...`` (``name``: a case
    key, or "portfolio")."""
    return f"/feeds/{quote(name, safe='')}.ics?token={token}"


def council_path(key: str) -> str:
    """A council's page under the page's root: ``/councils/{key}``."""
    return f"/councils/{quote(key, safe='')}"


def council_page(base: str, key: str) -> str:
    """A council's page in full: ``{base}/statclock/councils/{key}`` (``base``: see
    :func:`base_url`)."""
    return f"{base.rstrip('/')}{PAGES_PREFIX}{council_path(key)}"
