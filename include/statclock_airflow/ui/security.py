"""Who may see and change what through the programme manager's page.

Airflow 3.3 does not protect a plugin's FastAPI app by itself, so every route depends on one of:

- :data:`ReaderDep`: an authenticated Airflow user allowed the plugins view (any role from
  Viewer up, on the simple auth manager). The browser's ``_token`` cookie authenticates the
  page inside Airflow's iframe; API clients send ``Authorization: Bearer <token>``.
- :data:`EditorDep`: a user who may trigger runs of the statutory_clock DAG (User role and up),
  since a recorded fact makes that DAG run. Writes are POSTs and also pass the CSRF check.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import (
    AccessView,
    DagAccessEntity,
    DagDetails,
)
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_view
from fastapi import Depends, HTTPException, Request, status

CLOCK_DAG_ID = "statutory_clock"


def _auth_manager() -> BaseAuthManager:  # type: ignore[type-arg]
    # AuthManagerDep reads request.app.state, which a plugin's sub-app does not have.
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def reader(request: Request, user: GetUserDep) -> BaseUser:
    requires_access_view(AccessView.PLUGINS)(request, user)
    return user


def may_edit(user: BaseUser) -> bool:
    """Whether this user may record facts (see :data:`EditorDep`), without refusing: for a page
    deciding whether to show its forms."""
    allowed: bool = _auth_manager().is_authorized_dag(
        method="POST",
        access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=CLOCK_DAG_ID),
        user=user,
    )
    return allowed


def editor(user: GetUserDep) -> BaseUser:
    if not may_edit(user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Your Airflow role may read the statutory clock but not record facts in it",
        )
    return user


ReaderDep = Annotated[BaseUser, Depends(reader)]
EditorDep = Annotated[BaseUser, Depends(editor)]


def user_name(user: BaseUser) -> str:
    """The name the audit trail records for this Airflow user."""
    return str(user.get_name())


CSRF_FIELD = "csrf_token"


def _credential(request: Request) -> str:
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:]
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")


def csrf_token(request: Request) -> str:
    """The hidden form value that proves a POST came from our own page: an HMAC of the
    caller's Airflow credential under the API server's secret key. Another site can make the
    browser send the cookie, but cannot read the page to learn this value."""
    import hashlib
    import hmac

    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback="") or ""
    mac = hmac.new(key.encode(), _credential(request).encode(), hashlib.sha256)
    return mac.hexdigest()


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a write whose form does not carry :func:`csrf_token` (403)."""
    import hmac

    if not submitted or not hmac.compare_digest(submitted, csrf_token(request)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This form has expired or did not come from the statutory clock page: reload "
            "the page and try again",
        )


def _origin_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _own_origins(request: Request) -> set[str]:
    """The origins this page is served from: as the request reached us (the Host header), as a
    proxy in front says it was asked (X-Forwarded-Host/-Proto), and Airflow's ``base_url``."""
    from airflow.configuration import conf

    scheme = request.url.scheme
    own = {_origin_of(str(request.base_url))}
    forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    if forwarded_host:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip() or scheme
        own.add(_origin_of(f"{proto}://{forwarded_host}"))
    base_url = conf.get("api", "base_url", fallback="") or ""
    if base_url:
        own.add(_origin_of(base_url))
    own.discard("")
    return own


def check_same_origin(request: Request) -> None:
    """Refuse a write a browser says came from another site (403): a ``Sec-Fetch-Site`` other
    than same-origin, or an ``Origin`` that is not this server's. Clients that send neither
    (scripts, old browsers) still need :func:`csrf_token`, which another site cannot read."""
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    foreign = fetch_site is not None and fetch_site not in ("same-origin", "none")
    if origin is not None and not foreign:
        foreign = origin == "null" or _origin_of(origin) not in _own_origins(request)
    if foreign:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This form was sent from another site: facts can only be recorded from the "
            "statutory clock page itself",
        )
