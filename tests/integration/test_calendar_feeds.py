"""Calendar feeds on both real databases: the feed tokens (stable, rotated, audited, usable by
the application's role), a moved date keeping its UID with a higher SEQUENCE through the real
register, and the feed routes through FastAPI's TestClient on the plugin's app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from statutory_clock.calendar_feed import council_feed
from statutory_clock.ical import deadline_uid
from statutory_clock.reminders import ics_for
from statutory_clock.store import db, feed_tokens, register
from statutory_clock.store.audit_chain import verify
from statutory_clock.store.models import AuditEvent, FeedToken
from statutory_clock.store.outbox import case_items
from statutory_clock.store.read_model import case_view
from tests.seeds import seed_as_it_stood

DEMO = Path(__file__).resolve().parents[2] / "include" / "demo"
LOADED = date(2017, 10, 2)
AS_OF = date(2017, 12, 4)
AS_OF_STAMP = datetime(2017, 12, 4, 9, tzinfo=UTC)  # when a reminder was sent
CROYDON = "croydon-2017"
TOWER_HAMLETS = "tower-hamlets-2017"


def load(engine, *keys: str) -> None:
    with db.transaction(engine) as session:
        for key in keys:
            register.import_case(session, seed_as_it_stood(DEMO / f"{key}.yaml"), "tester", LOADED)


def audit_rows(engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        table = AuditEvent.__table__
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def feed_events(text: str) -> dict[str, object]:
    return {str(e["uid"]): e for e in Calendar.from_ical(text).walk("VEVENT")}


# -- tokens -------------------------------------------------------------------------------------


def test_a_token_is_stable_per_feed_and_reading_it_writes_nothing(register_engine):
    load(register_engine, CROYDON, TOWER_HAMLETS)
    before = len(audit_rows(register_engine))
    scopes = [feed_tokens.PORTFOLIO, feed_tokens.case_scope(CROYDON), "case:" + TOWER_HAMLETS]
    with db.transaction(register_engine) as session:
        first = [register.feed_token(session, scope) for scope in scopes]
    with db.transaction(register_engine) as session:
        again = [register.feed_token(session, scope) for scope in scopes]
        assert session.execute(select(func.count()).select_from(FeedToken)).scalar() == 0
        for scope, token in zip(scopes, first, strict=True):
            assert register.check_feed_token(session, scope, token)
    assert first == again
    assert len(set(first)) == 3  # one token per feed
    assert all(len(t) == feed_tokens.TOKEN_CHARS and t.isascii() for t in first)
    assert len(audit_rows(register_engine)) == before


def test_rotating_changes_the_token_and_the_old_one_stops_working(register_engine):
    load(register_engine, CROYDON, TOWER_HAMLETS)
    croydon = feed_tokens.case_scope(CROYDON)
    with db.transaction(register_engine) as session:
        old = register.feed_token(session, croydon)
        other = register.feed_token(session, feed_tokens.case_scope(TOWER_HAMLETS))
        portfolio = register.feed_token(session, feed_tokens.PORTFOLIO)
    with db.transaction(register_engine) as session:
        new = register.rotate_feed_token(session, croydon, register.Actor("admin", "Jo Bloggs"))
    assert new != old
    with db.transaction(register_engine) as session:
        assert register.feed_token(session, croydon) == new
        assert register.check_feed_token(session, croydon, new)
        assert not register.check_feed_token(session, croydon, old)
        # Only that feed's token changed.
        assert register.feed_token(session, feed_tokens.case_scope(TOWER_HAMLETS)) == other
        assert register.feed_token(session, feed_tokens.PORTFOLIO) == portfolio
        row = session.get(FeedToken, croydon)
        assert row is not None
        assert (row.generation, row.rotated_by) == (1, "admin (for Jo Bloggs)")
    with db.transaction(register_engine) as session:
        newest = register.rotate_feed_token(session, feed_tokens.PORTFOLIO, "admin")
    assert newest != portfolio

    rows = audit_rows(register_engine)
    rotated = [r for r in rows if r["action"] == "feed address rotated"]
    assert [(r["inspection_key"], r["entity"], r["old"], r["new"]) for r in rotated] == [
        (CROYDON, f"feed case:{CROYDON}", "0", "1"),
        (None, "feed portfolio", "0", "1"),
    ]
    assert (rotated[0]["actor"], rotated[0]["on_behalf_of"]) == ("admin", "Jo Bloggs")
    # The trail is still one unbroken chain, and no token is written anywhere in it.
    assert verify(rows).broken is None
    for r in rows:
        assert not any(t in str(value) for value in r.values() for t in (old, new, newest))


def test_tokens_refuse_what_is_not_a_feed(register_engine):
    load(register_engine, CROYDON)
    with db.transaction(register_engine) as session:
        good = register.feed_token(session, feed_tokens.case_scope(CROYDON))
        with pytest.raises(register.RegisterError, match="'nope-2017' is not in the register"):
            register.feed_token(session, feed_tokens.case_scope("nope-2017"))
        with pytest.raises(register.RegisterError, match="scope"):
            register.feed_token(session, "everything")
        for scope, token in [
            (feed_tokens.case_scope("nope-2017"), good),
            ("everything", good),
            (feed_tokens.PORTFOLIO, good),
            (feed_tokens.case_scope(CROYDON), None),
            (feed_tokens.case_scope(CROYDON), ""),
            (feed_tokens.case_scope(CROYDON), good[:-1]),
            (feed_tokens.case_scope(CROYDON), good + "x"),
            (feed_tokens.case_scope(CROYDON), "é" * 32),
            (feed_tokens.case_scope(CROYDON), "\udcff" * 32),
        ]:
            assert not register.check_feed_token(session, scope, token), (scope, token)
    with (
        pytest.raises(register.RegisterError, match="'nope-2017' is not in the register"),
        db.transaction(register_engine) as session,
    ):
        register.rotate_feed_token(session, feed_tokens.case_scope("nope-2017"), "admin")
    with register_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FeedToken)).scalar() == 0


def test_the_application_role_reads_and_rotates_but_cannot_change_the_secret(register_url):
    engine = db.make_engine(register_url)  # the application's role on PostgreSQL
    try:
        load(engine, CROYDON)
        with db.transaction(engine) as session:
            old = register.feed_token(session, feed_tokens.PORTFOLIO)
            assert register.rotate_feed_token(session, feed_tokens.PORTFOLIO, "admin") != old
        if engine.dialect.name != "postgresql":
            return  # SQLite has no roles
        for statement in (
            "UPDATE register_secret SET value = 'guessable'",
            "DELETE FROM register_secret",
            "INSERT INTO register_secret (name, value) VALUES ('other', 'x')",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()


# -- a moved date keeps its UID and its SEQUENCE rises ------------------------------------------


def test_a_moved_date_keeps_its_uid_and_raises_its_sequence_in_feed_and_email(register_engine):
    load(register_engine, CROYDON)
    reinspection = deadline_uid(CROYDON, "milestone:reinspection")
    with db.transaction(register_engine) as session:
        before = feed_events(council_feed(case_view(session, CROYDON, AS_OF)))[reinspection]
    # The written statement goes in early: the re-inspection, counted from it, moves.
    with db.transaction(register_engine) as session:
        result = register.record_event(
            session, CROYDON, "written_statement_of_action", date(2017, 12, 1), "officer", AS_OF
        )
    assert [m for m, _, _ in result.moved] == ["reinspection"]
    (_, was, now) = result.moved[0]
    with db.transaction(register_engine) as session:
        view = case_view(session, CROYDON, AS_OF)
        after = feed_events(council_feed(view))
        case = register.get_case(session, CROYDON)
        items = {i.item: i for i in case_items(case, AS_OF, register.calendar_for(session))}
    moved = after[reinspection]
    assert (before.decoded("dtstart"), moved.decoded("dtstart")) == (was, now)
    assert moved.decoded("sequence") == before.decoded("sequence") + 1
    # The reminder email's attachment for the same milestone: same UID, same SEQUENCE.
    (mailed,) = Calendar.from_ical(ics_for(items["milestone:reinspection"], AS_OF_STAMP)).walk(
        "VEVENT"
    )
    assert str(mailed["uid"]) == reinspection
    assert mailed.decoded("sequence") == moved.decoded("sequence")
    assert mailed.decoded("dtstart") == moved.decoded("dtstart")
    # The milestone recorded as done stays in the feed, met.
    wsoa = after[deadline_uid(CROYDON, "milestone:written_statement_of_action")]
    assert "(met on Friday 1 December 2017)" in str(wsoa["summary"])


def test_an_extension_moves_the_event_and_raises_its_sequence(register_engine):
    load(register_engine, CROYDON)
    uid = deadline_uid(CROYDON, "milestone:written_statement_of_action")
    with db.transaction(register_engine) as session:
        before = feed_events(council_feed(case_view(session, CROYDON, AS_OF)))[uid]
        register.adjust_milestone(
            session,
            CROYDON,
            "written_statement_of_action",
            "officer",
            AS_OF,
            reason="Awaiting the commissioner's report",
            agreed_by="DfE",
            extended_to=date(2018, 1, 15),
        )
    with db.transaction(register_engine) as session:
        after = feed_events(council_feed(case_view(session, CROYDON, AS_OF)))[uid]
    assert after.decoded("dtstart") == date(2018, 1, 15)
    assert after.decoded("sequence") == before.decoded("sequence") + 1
    assert "agreed by DfE: Awaiting the commissioner's report" in str(after["description"])


# -- the routes ---------------------------------------------------------------------------------


@pytest.fixture
def client(register_url, monkeypatch) -> Iterator[TestClient]:
    from statclock_airflow.ui import context
    from statclock_airflow.ui.app import create_app

    monkeypatch.setenv("STATCLOCK_DATABASE_URL", register_url)
    monkeypatch.delenv("STATCLOCK_BASE_URL", raising=False)
    context.engine.cache_clear()
    app = create_app()
    app.dependency_overrides[context.today] = lambda: AS_OF
    engine = db.make_engine(register_url)
    load(engine, CROYDON, TOWER_HAMLETS)
    engine.dispose()
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        context.engine().dispose()
        context.engine.cache_clear()


def tokens(url: str) -> dict[str, str]:
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            return {
                scope: register.feed_token(session, scope)
                for scope in (
                    feed_tokens.PORTFOLIO,
                    feed_tokens.case_scope(CROYDON),
                    feed_tokens.case_scope(TOWER_HAMLETS),
                )
            }
    finally:
        engine.dispose()


def test_a_council_feed_is_its_register_timeline(client, register_url):
    token = tokens(register_url)[feed_tokens.case_scope(CROYDON)]
    response = client.get(f"/feeds/{CROYDON}.ics", params={"token": token})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=300"
    cal = Calendar.from_ical(response.content)
    assert str(cal["x-wr-calname"]) == "statclock – London Borough of Croydon"
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        view = case_view(session, CROYDON, AS_OF)
    engine.dispose()
    assert set(events) == {deadline_uid(CROYDON, f"milestone:{e.id}") for e in view.timeline}
    for e in view.timeline:
        event = events[deadline_uid(CROYDON, f"milestone:{e.id}")]
        assert event.decoded("dtstart") == e.effective_due
        assert event.decoded("sequence") == e.due_version
        assert e.source in str(event["description"]) and e.basis in str(event["description"])
        # The link is to the council page of the app that served the feed.
        assert str(event["url"]) == f"http://testserver/councils/{CROYDON}"
    wsoa = events[deadline_uid(CROYDON, "milestone:written_statement_of_action")]
    assert str(wsoa["summary"]) == (
        "London Borough of Croydon: Send the written statement of proposed action to Ofsted "
        "(HMCI) and the Secretary of State, and publish it (due soon)"
    )
    # The same register on the same day: the same bytes.
    assert client.get(f"/feeds/{CROYDON}.ics", params={"token": token}).content == response.content


def test_the_portfolio_feed_holds_every_open_case(client, register_url, monkeypatch):
    monkeypatch.setenv("STATCLOCK_BASE_URL", "https://airflow.council.example/")
    token = tokens(register_url)[feed_tokens.PORTFOLIO]
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        register.close_case(session, TOWER_HAMLETS, "officer", AS_OF, "Moved to another team")
    with db.transaction(engine) as session:
        croydon = case_view(session, CROYDON, AS_OF)
    engine.dispose()
    response = client.get("/feeds/portfolio.ics", params={"token": token})
    assert response.status_code == 200
    cal = Calendar.from_ical(response.content)
    assert str(cal["x-wr-calname"]) == "statclock – portfolio"
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    # The closed case is left out, as on the portfolio page; the open one is there in full.
    assert set(events) == {deadline_uid(CROYDON, f"milestone:{e.id}") for e in croydon.timeline}
    for e in croydon.timeline:
        event = events[deadline_uid(CROYDON, f"milestone:{e.id}")]
        assert event.decoded("dtstart") == e.effective_due
        assert str(event["url"]) == (
            f"https://airflow.council.example/statclock/councils/{CROYDON}"
        )
    # The council feed and the portfolio feed describe a milestone alike.
    council = client.get(
        f"/feeds/{CROYDON}.ics", params={"token": tokens(register_url)[f"case:{CROYDON}"]}
    )
    alone = {str(e["uid"]): e for e in Calendar.from_ical(council.content).walk("VEVENT")}
    assert {u: e.to_ical() for u, e in alone.items()} == {u: e.to_ical() for u, e in events.items()}


def test_every_refusal_is_the_same_bare_404(client, register_url):
    known = tokens(register_url)
    croydon, hamlets = known[f"case:{CROYDON}"], known[f"case:{TOWER_HAMLETS}"]
    portfolio = known[feed_tokens.PORTFOLIO]
    engine = db.make_engine(register_url)
    with db.transaction(engine) as session:
        register.rotate_feed_token(session, f"case:{TOWER_HAMLETS}", "admin")
    engine.dispose()
    nowhere = client.get("/no-such-address")
    assert nowhere.status_code == 404
    refused = [
        f"/feeds/{CROYDON}.ics",  # no token
        f"/feeds/{CROYDON}.ics?token=",
        f"/feeds/{CROYDON}.ics?token=wrong",
        f"/feeds/{CROYDON}.ics?token={hamlets}",  # another council's
        f"/feeds/{CROYDON}.ics?token={portfolio}",  # the portfolio's
        f"/feeds/{TOWER_HAMLETS}.ics?token={hamlets}",  # rotated since
        f"/feeds/portfolio.ics?token={croydon}",
        "/feeds/portfolio.ics",
        f"/feeds/nope-2017.ics?token={croydon}",  # no such case
        f"/feeds/CROYDON-2017.ics?token={croydon}",  # not even a key
        f"/feeds/{'x' * 5000}.ics?token={croydon}",
        f"/feeds/{CROYDON}.ics?token={croydon}%00",
        f"/feeds/{CROYDON}.ics?token=%C3%A9{croydon[2:]}",
    ]
    for url in refused:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.content == nowhere.content, url
        assert CROYDON not in response.text and "token" not in response.text
    assert client.get(f"/feeds/{CROYDON}.ics", params={"token": croydon}).status_code == 200
