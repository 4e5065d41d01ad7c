"""Who may read and write through the plugin, tested on Airflow's real API app with real tokens.

Every route of the plugin's app is found by walking the app itself, so a route added later is
covered without editing this file: each needs a valid Airflow token (401 without one, or with an
expired or forged one); a Viewer reads but cannot write (403); writes also need the form's CSRF
token and a same-site browser, and refuse GET (405). Hostile values are refused or stored
verbatim, and nothing is half-written.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import Mount

from statutory_clock.store import db
from statutory_clock.store.models import CaseEvent, Inspection
from tests.ui.conftest import token
from tests.ui.test_writes import (
    ACTION,
    ADJUSTMENT,
    CROYDON,
    EVENT,
    ROOT,
    TOWER,
    asset_events,
    audit_rows,
    case_version,
    csrf_for,
    post,
    snapshot,
)

# Routes that do not take an Airflow login, by design: the health check (no data) and the
# calendar feeds (their own secret token, since calendar clients cannot log in).
PUBLIC_PREFIXES = ("/health", "/feeds/", "/static", "/openapi.json", "/docs", "/redoc")
FORMS = {"event": EVENT, "action": ACTION, "adjustment": ADJUSTMENT}


@pytest.fixture
def ui_register_url(seed_register_url: str) -> str:
    """These tests use the seed councils as they stood in 2017 (open)."""
    return seed_register_url


def plugin_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of the statclock app mounted in Airflow's app."""
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == ROOT]
    assert mounts, "the statclock plugin is not mounted"
    found = []
    for route in mounts[0].app.routes:
        if isinstance(route, APIRoute) and not route.path.startswith(PUBLIC_PREFIXES):
            for method in sorted(route.methods or ()):
                path = route.path.replace("{key}", TOWER)
                # A pack that does not exist: the answer is then 404 for a reader, 401 without
                # a login (the login is checked first).
                path = path.replace("{period:path}", "no-such-period").replace("{version}", "1")
                found.append((method, ROOT + path))
    return found


def reads(app: Any) -> list[str]:
    return [path for method, path in plugin_routes(app) if method == "GET"]


def writes(app: Any) -> list[str]:
    return [path for method, path in plugin_routes(app) if method == "POST"]


def test_routes_are_found(airflow_app):
    assert f"{ROOT}/api/portfolio" in reads(airflow_app)
    assert f"{ROOT}/api/councils/{TOWER}" in reads(airflow_app)
    assert {f"{ROOT}/councils/{TOWER}/{f}" for f in FORMS} <= set(writes(airflow_app))


def forged() -> str:
    now = int(time.time())
    claims = {"sub": "admin", "role": "admin", "iat": now, "nbf": now, "exp": now + 3600}
    return jwt.encode(claims, "not-the-servers-secret-" + "z" * 40, algorithm="HS512")


def test_every_route_needs_a_valid_token(client, ui_register_url):
    before = snapshot(ui_register_url)
    expired = token("admin", "admin", expiration_time_in_seconds=-3600)
    for method, path in plugin_routes(client.app):
        anonymous = client.request(method, path, data={})
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        for bad in (expired, forged(), "garbage"):
            by_cookie = client.request(method, path, cookies={"_token": bad}, data={})
            assert by_cookie.status_code in (401, 403), (method, path, by_cookie.status_code)
            by_header = client.request(
                method, path, headers={"Authorization": f"Bearer {bad}"}, data={}
            )
            assert by_header.status_code in (401, 403), (method, path, by_header.status_code)
    assert snapshot(ui_register_url) == before


def test_viewer_reads_but_cannot_write(client, viewer_cookies, ui_register_url):
    for path in reads(client.app):
        expected = 404 if "/packs/" in path else 200
        assert client.get(path, cookies=viewer_cookies).status_code == expected, path
        bearer = {"Authorization": f"Bearer {viewer_cookies['_token']}"}
        assert client.get(path, headers=bearer).status_code == expected, path
    before = snapshot(ui_register_url)
    for form, data in FORMS.items():
        key = CROYDON if form == "adjustment" else TOWER
        refused = post(client, key, form, data, viewer_cookies, ui_register_url)
        assert refused.status_code == 403, (form, refused.text)
        assert "may read" in refused.json()["detail"]
    assert snapshot(ui_register_url) == before


def test_user_role_writes_under_its_own_name(client, pm_cookies, ui_register_url):
    for form, data in FORMS.items():
        key = CROYDON if form == "adjustment" else TOWER
        response = post(client, key, form, data, pm_cookies, ui_register_url)
        assert response.status_code == 303, (form, response.text)
    for key in (TOWER, CROYDON):
        trail = audit_rows(ui_register_url, key)
        assert {r.actor for r in trail if r.actor != "loader"} == {"pm"}


def test_bearer_token_writes_with_its_own_csrf(client, ui_register_url):
    bearer = token("admin", "admin")
    response = client.post(
        f"{ROOT}/councils/{TOWER}/action",
        data={
            **ACTION,
            "version": str(case_version(ui_register_url, TOWER)),
            "csrf_token": csrf_for(bearer=bearer),
        },
        headers={"Authorization": f"Bearer {bearer}"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "admin" in {r.actor for r in audit_rows(ui_register_url, TOWER)}


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "viewer's"])
def test_csrf_token_is_required(client, pm_cookies, viewer_cookies, ui_register_url, csrf):
    if csrf == "viewer's":  # a real token, but bound to another credential
        csrf = csrf_for(viewer_cookies)
    before = snapshot(ui_register_url)
    events = asset_events(TOWER)
    response = post(client, TOWER, "event", EVENT, pm_cookies, ui_register_url, csrf=csrf)
    assert response.status_code == 403
    assert "reload the page" in response.json()["detail"]
    assert snapshot(ui_register_url) == before
    assert asset_events(TOWER) == events


def test_get_on_a_write_address_is_405(client, pm_cookies, ui_register_url):
    before = snapshot(ui_register_url)
    for path in writes(client.app):
        for method in ("GET", "PUT", "DELETE"):
            response = client.request(method, path, cookies=pm_cookies)
            assert response.status_code == 405, (method, path)
    assert snapshot(ui_register_url) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
    ],
    ids=["other-origin", "null-origin", "lookalike-origin", "cross-site", "same-site"],
)
def test_cross_site_post_is_refused(client, pm_cookies, ui_register_url, headers):
    before = snapshot(ui_register_url)
    response = post(client, TOWER, "event", EVENT, pm_cookies, ui_register_url, headers=headers)
    assert response.status_code == 403
    assert "another site" in response.json()["detail"]
    assert snapshot(ui_register_url) == before


def test_same_origin_post_is_accepted(client, pm_cookies, ui_register_url):
    headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = post(client, TOWER, "event", EVENT, pm_cookies, ui_register_url, headers=headers)
    assert response.status_code == 303, response.text


HOSTILE_NOTES = [
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "'; DROP TABLE inspection; --",
    "Robert'); DELETE FROM audit_event WHERE ('1'='1",
    "ünïcödé, emoji 🎉, right-to-left عربى",
    "{{ 7*7 }} {% raw %}${7*7}",
]


@pytest.mark.parametrize(
    "note", HOSTILE_NOTES, ids=["xss", "sql-drop", "sql-delete", "unicode", "template"]
)
def test_hostile_notes_are_stored_verbatim(client, pm_cookies, ui_register_url, note):
    response = post(client, TOWER, "event", {**EVENT, "note": note}, pm_cookies, ui_register_url)
    assert response.status_code == 303, response.text
    engine = db.make_engine(ui_register_url)
    with Session(engine) as session:
        stored = session.scalar(
            select(CaseEvent.note)
            .join(Inspection)
            .where(Inspection.key == TOWER, CaseEvent.kind == "actual")
        )
        assert stored == note
        assert session.scalar(select(Inspection.id).where(Inspection.key == CROYDON))
    engine.dispose()
    assert [
        r.reason for r in audit_rows(ui_register_url, TOWER) if r.action == "event recorded"
    ] == [note]
    _shown_escaped(client, pm_cookies, note)


def _shown_escaped(client: Any, cookies: dict[str, str], note: str) -> None:
    """On the council page (the pages module's), the note appears escaped, never as markup."""
    from statclock_airflow.ui import pages

    if getattr(pages, "render_council", None) is None:
        return  # the council page is not on this branch yet
    page = client.get(f"{ROOT}/councils/{TOWER}", cookies=cookies)
    assert page.status_code == 200
    assert "<script>alert('x')</script>" not in page.text and "<img src=x" not in page.text


@pytest.mark.parametrize(
    ("note", "status"),
    [("a\x00b", 400), ("x" * 20_000, 400), ("x" * 100_000, 413), ("\x1b[31mred", 400)],
    ids=["nul", "too-long", "100kb", "ansi"],
)
def test_hostile_notes_are_refused_whole(client, pm_cookies, ui_register_url, note, status):
    before = snapshot(ui_register_url)
    events = asset_events(TOWER)
    response = post(client, TOWER, "event", {**EVENT, "note": note}, pm_cookies, ui_register_url)
    assert response.status_code == status
    assert "Traceback" not in response.text
    assert snapshot(ui_register_url) == before
    assert asset_events(TOWER) == events
