"""Local authorities: listing them, and renaming one for all its cases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from statutory_clock.inputs import InputError, Text
from statutory_clock.store.audit import Actor, audit, bump_version, lock_for_writing
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.models import (
    Inspection,
    LocalAuthority,
)


@dataclass(frozen=True)
class AuthorityRename:
    dfe_code: str
    old_name: str
    new_name: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class AuthoritySummary:
    dfe_code: str
    name: str
    cases: tuple[str, ...]


def list_authorities(session: Session) -> list[AuthoritySummary]:
    keys: dict[int, list[str]] = {}
    for la_id, key in session.execute(
        select(Inspection.local_authority_id, Inspection.key).order_by(Inspection.key)
    ):
        keys.setdefault(la_id, []).append(key)
    return [
        AuthoritySummary(la.dfe_code, la.name, tuple(keys.get(la.id, ())))
        for la in session.execute(select(LocalAuthority).order_by(LocalAuthority.dfe_code))
        .scalars()
        .all()
    ]


_NAME_LIMIT = 200  # local_authority.name is VARCHAR(200)


def rename_authority(
    session: Session,
    dfe_code: str,
    new_name: str,
    actor: str | Actor,
    reason: str | None = None,
) -> AuthorityRename:
    """Rename an authority for all its cases, in one transaction.

    Audited once under each of its cases (each case's own trail, ``statclock case audit``,
    then shows the name its exports and packs now carry, and each case's version moves on so a
    writer holding an older read is refused), or once with no case if it has none, so a rename
    is never unaudited.
    """
    lock_for_writing(session)
    la = session.execute(
        select(LocalAuthority).where(LocalAuthority.dfe_code == dfe_code).with_for_update()
    ).scalar_one_or_none()
    if la is None:
        raise RegisterError(
            "dfe_code",
            dfe_code,
            "is not an authority in the register (see `statclock authority list`)",
        )
    if not new_name.strip():
        raise RegisterError("name", new_name, "is empty")
    if new_name != new_name.strip():
        raise RegisterError("name", new_name, "has spaces at either end")
    try:  # the same rule as a case file's authority name
        Text(_NAME_LIMIT).check("name", new_name)
    except InputError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None
    if new_name == la.name:
        raise RegisterError("name", new_name, f"is already the name of DfE code {dfe_code}")
    cases = (
        session.execute(
            select(Inspection)
            .where(Inspection.local_authority_id == la.id)
            .order_by(Inspection.key)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    old_name, la.name = la.name, new_name
    entity = f"authority {dfe_code}"
    if not cases:
        audit(session, actor, "authority renamed", None, entity, "name", old_name, new_name, reason)
    for case in cases:
        bump_version(case, None)
        audit(
            session,
            actor,
            "authority renamed",
            case.key,
            entity,
            "name",
            old_name,
            new_name,
            reason,
        )
    session.flush()
    return AuthorityRename(dfe_code, old_name, new_name, tuple(c.key for c in cases))
