"""Secret tokens for the calendar feeds: calendar clients cannot log in, so a feed's address
carries a token, one per council and one for the portfolio, that an administrator can rotate.

A token is computed, never stored: the URL-safe base64 of HMAC-SHA256 under the register's
``feed_token`` secret (made at random by migration 0004; the application may read it, never
change it) of the feed's *scope* (``portfolio`` or ``case:<key>``) and its *generation*,
truncated to :data:`TOKEN_CHARS` characters (192 bits). So reading a feed's address writes
nothing, and rotating it adds one to the generation (a ``feed_token`` row, audited without the
token) and every older address stops working at once. Checking compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from statutory_clock.store.audit import Actor, as_actor, audit, lock_for_writing, utc_now
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import FeedToken, Inspection, RegisterSecret

PORTFOLIO = "portfolio"
CASE_PREFIX = "case:"
SECRET_NAME = "feed_token"
TOKEN_CHARS = 32


def case_scope(key: str) -> str:
    """The scope of one council's feed."""
    return f"{CASE_PREFIX}{key}"


def _case_of(scope: str) -> str | None:
    """The case key of a council's scope, None for the portfolio; RegisterError otherwise."""
    if scope == PORTFOLIO:
        return None
    if scope.startswith(CASE_PREFIX) and len(scope) > len(CASE_PREFIX):
        return scope.removeprefix(CASE_PREFIX)
    raise RegisterError("scope", scope, f"is not {PORTFOLIO!r} nor '{CASE_PREFIX}<case key>'")


def _check_scope(session: Session, scope: str) -> str | None:
    key = _case_of(scope)
    if key is not None:
        found = session.execute(
            select(Inspection.id).where(Inspection.key == key)
        ).scalar_one_or_none()
        if found is None:
            raise RegisterError("case", key, "is not in the register (see `statclock case list`)")
    return key


def _secret(session: Session) -> bytes:
    value = session.execute(
        select(RegisterSecret.value).where(RegisterSecret.name == SECRET_NAME)
    ).scalar_one_or_none()
    if not value:
        raise RegisterError(
            "register_secret", SECRET_NAME, "is missing: run `statclock db upgrade`"
        )
    return value.encode("utf-8")


def _generation(session: Session, scope: str) -> int:
    found = session.execute(
        select(FeedToken.generation).where(FeedToken.scope == scope)
    ).scalar_one_or_none()
    return found or 0


def _token(secret: bytes, scope: str, generation: int) -> str:
    # A newline cannot occur in a scope, so ("case:a1", 2) and ("case:a", 12) differ.
    mac = hmac.new(secret, f"{scope}\n{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:TOKEN_CHARS]


def feed_token(session: Session, scope: str) -> str:
    """The feed's current token (writes nothing). RegisterError for an unknown case."""
    _check_scope(session, scope)
    return _token(_secret(session), scope, _generation(session, scope))


def rotate(session: Session, scope: str, actor: str | Actor) -> str:
    """Give the feed a new token (the old one stops working) and return it; audited, in the
    caller's transaction, under the writer lock. The token is never written anywhere."""
    lock_for_writing(session)
    key = _check_scope(session, scope)
    secret = _secret(session)
    row = session.get(FeedToken, scope, with_for_update=True)
    old = row.generation if row is not None else 0
    who = as_actor(actor)
    if row is None:
        row = FeedToken(scope=scope, generation=old + 1)
        session.add(row)
    else:
        row.generation = old + 1
    row.rotated_at, row.rotated_by = utc_now(), who.label
    audit(
        session,
        who,
        "feed address rotated",
        key,
        f"feed {scope}",
        "generation",
        old,
        old + 1,
        "the previous address no longer works",
    )
    session.flush()
    return _token(secret, scope, old + 1)


def check(session: Session, scope: str, token: str | None) -> bool:
    """Whether ``token`` is the feed's current token. False, never an error, for a missing
    token, an unknown case or a malformed scope: a caller refuses them all alike."""
    if not token:
        return False
    try:
        expected = feed_token(session, scope)
    except RegisterError:
        return False
    return hmac.compare_digest(
        expected.encode("ascii"), token.encode("utf-8", errors="surrogatepass")
    )
