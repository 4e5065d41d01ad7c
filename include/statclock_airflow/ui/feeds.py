"""The calendar feeds: ``/statclock/feeds/portfolio.ics`` and ``/statclock/feeds/{key}.ics``.

Calendar clients cannot log in to Airflow, so these routes need no Airflow user: the ``token``
in the address is the credential (``statclock feed url`` prints it; ``--rotate`` changes it).
A missing or wrong token, and a case that does not exist, all get the same bare 404, the
answer to an address that does not exist, so the refusal says nothing about which part was
wrong or whether a case is in the register.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy.orm import Session

from statclock_airflow.ui.context import register_session, today
from statutory_clock.addresses import PAGES_PREFIX, BaseUrlError, base_url, feed_path
from statutory_clock.inputs import InputError, case_key

router = APIRouter(prefix="/feeds", tags=["calendar feeds"])

MEDIA_TYPE = "text/calendar; charset=utf-8"
# Outlook and other clients fetch on their own schedule (the feed asks for hourly); a proxy or
# browser may reuse an answer for five minutes, never share it (the address is a secret).
HEADERS = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

log = logging.getLogger(__name__)

SessionDep = Annotated[Session, Depends(register_session)]
TodayDep = Annotated[date, Depends(today)]


def _refused() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")


def _pages(request: Request) -> str:
    """The app's own root, for each event's link to its council page: under
    ``$STATCLOCK_BASE_URL`` when set (the address people use, behind a proxy), else the one
    this request came in on (it includes the ``/statclock`` prefix Airflow mounts us at)."""
    try:
        configured = base_url(default=None)
    except BaseUrlError as exc:  # a misconfiguration must not cost the feed: say it, go on
        log.warning("%s; using the address of the request instead", exc)
        configured = None
    if configured is not None:
        return configured + PAGES_PREFIX
    # Starlette's base_url leaves out the mount's root_path; the pages are under it.
    root = request.scope.get("root_path", "").rstrip("/")
    base = str(request.base_url).rstrip("/")
    return base if base.endswith(root) else base + root


def feed_address(request: Request, session: Session, key: str | None) -> str:
    """The address to subscribe to: a council's feed, or the portfolio's when ``key`` is None,
    with its token (what ``statclock feed url`` prints). Shown to signed-in readers only, who
    can read everything the feed holds anyway."""
    from statutory_clock.store.feed_tokens import PORTFOLIO, case_scope, feed_token

    scope = PORTFOLIO if key is None else case_scope(key)
    return _pages(request) + feed_path(key or PORTFOLIO, feed_token(session, scope))


def _calendar(text: str, filename: str) -> Response:
    return Response(
        content=text.encode("utf-8"),
        media_type=MEDIA_TYPE,
        headers={**HEADERS, "Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/portfolio.ics",
    summary="The portfolio's calendar feed",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Refused"}},
)
def portfolio_feed(
    request: Request, session: SessionDep, as_of: TodayDep, token: str | None = None
) -> Response:
    """Every open case's milestones as all-day events (iCalendar). Requires the portfolio
    feed's ``token`` (``statclock feed url --portfolio``)."""
    from statutory_clock.calendar_feed import open_cases, portfolio_feed
    from statutory_clock.store.feed_tokens import PORTFOLIO, check

    # ``token`` is optional as FastAPI sees it: a missing token is refused like a wrong one
    # (404), not with a 422 that names what is missing.
    if not check(session, PORTFOLIO, token):
        raise _refused()
    text = portfolio_feed(open_cases(session, as_of), as_of, _pages(request))
    return _calendar(text, "statclock-portfolio.ics")


@router.get(
    "/{key}.ics",
    summary="A council's calendar feed",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "Refused"}},
)
def council_feed(
    request: Request, key: str, session: SessionDep, as_of: TodayDep, token: str | None = None
) -> Response:
    """One case's milestones as all-day events (iCalendar), done ones included. Requires that
    council's feed ``token`` (``statclock feed url KEY``)."""
    from statutory_clock.calendar_feed import council_feed
    from statutory_clock.store.feed_tokens import case_scope, check
    from statutory_clock.store.read_model import case_view

    try:
        case_key("key", key)
    except InputError:
        raise _refused() from None
    if not check(session, case_scope(key), token):
        raise _refused()
    text = council_feed(case_view(session, key, as_of), _pages(request))
    return _calendar(text, f"statclock-{key}.ics")
