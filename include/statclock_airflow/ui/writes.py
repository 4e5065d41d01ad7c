"""Recording a fact from the council page: an actual date, an action's RAG and progress note, an
extension or waiver.

Each write is a POST of one of the page's forms (``forms.py``) and passes, in this order: an
Airflow user with edit rights (``EditorDep``, else 403), a body of at most :data:`MAX_BODY`
bytes (else 413), a browser that says it is on our own page (``check_same_origin``) and the
form's CSRF token (``check_csrf``), both else 403; then the command line's input rules (400 with
the page re-rendered and the refusal named), then the very register functions the command line
calls (``register.record_event``, ``update_action``, ``adjust_milestone``) in one transaction,
audited under the Airflow user's name, refusing a stale ``version`` (409). Nothing is written
unless everything passes.

After the commit, an event on the register's cases asset makes Airflow run the statutory_clock
DAG. If Airflow cannot take the event (the DAG not parsed yet, its database busy), the fact
stays recorded, the failure is logged and the page says the clock will be recomputed at the
next scheduled run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from statclock_airflow.ui import context, pages
from statclock_airflow.ui.forms import (
    ActionForm,
    AdjustmentForm,
    EventForm,
    FormError,
    FormInvalid,
    FormName,
    parse_action,
    parse_adjustment,
    parse_event,
)
from statclock_airflow.ui.security import (
    CSRF_FIELD,
    EditorDep,
    check_csrf,
    check_same_origin,
    user_name,
)
from statutory_clock.inputs import InputError, case_key, printable
from statutory_clock.rules import RulebookError
from statutory_clock.store import register
from statutory_clock.store.register import Actor, ConflictError, RegisterError

log = logging.getLogger(__name__)
router = APIRouter()

MAX_BODY = 64 * 1024  # bytes: the longest note (10,000 characters) percent-encoded fits
MAX_FIELDS = 50
FORM_TYPE = "application/x-www-form-urlencoded"

# Where the council page is scrolled to after a fact is recorded: the id of each form's section.
ANCHORS: dict[FormName, str] = {
    "event": "record-event",
    "action": "record-action",
    "adjustment": "record-adjustment",
}
# A register refusal's field, as the form names it.
FORM_FIELDS = {"to": "extended", "status": "rag", "action": "position", "date": "date"}
RECOMPUTE_LATER = "later"  # ?recompute=later: Airflow did not take the asset event


# -- the request body ----------------------------------------------------------------------------


class BadForm(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        self.status_code, self.message = status_code, message
        super().__init__(message)


async def _body(request: Request) -> bytes:
    """The body, refused (413) past MAX_BODY whether or not a Content-Length announced it."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > MAX_BODY:
        raise BadForm(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, _too_large())
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadForm(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, _too_large())
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> str:
    return f"Form: the form is larger than {MAX_BODY // 1024} KB; nothing was recorded"


async def form_fields(request: Request) -> dict[str, str] | BadForm:
    """The submitted fields, or why they cannot be read (a FastAPI dependency: the route
    decides what to answer, after the user's rights are known)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        return BadForm(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Form: {printable(media_type) or 'no content type'} is not a form ({FORM_TYPE})",
        )
    try:
        text = (await _body(request)).decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except BadForm as refused:
        return refused
    except (UnicodeDecodeError, ValueError):
        return BadForm(
            status.HTTP_400_BAD_REQUEST,
            f"Form: the form is not valid UTF-8 form data of at most {MAX_FIELDS} fields",
        )
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return BadForm(
                status.HTTP_400_BAD_REQUEST, f"Form: the field {printable(name)!r} is sent twice"
            )
        fields[name] = value
    return fields


FieldsDep = Annotated[dict[str, str] | BadForm, Depends(form_fields)]
SessionDep = Annotated[Session, Depends(context.register_session)]


# -- answers -------------------------------------------------------------------------------------


def refused(
    request: Request,
    session: Session,
    key: str,
    user: BaseUser,
    error: FormError,
    status_code: int,
) -> Response:
    """The council page again, with the refusal in its error summary."""
    return pages.render_council(request, session, key, user, error=error, status_code=status_code)


def recorded(request: Request, key: str, form: FormName, announced: bool) -> RedirectResponse:
    root = request.scope.get("root_path", "")
    later = "" if announced else f"&recompute={RECOMPUTE_LATER}"
    url = f"{root}/councils/{quote(key, safe='')}?recorded={form}{later}#{ANCHORS[form]}"
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# -- the asset event -----------------------------------------------------------------------------


def announce(key: str, user: BaseUser, form: FormName) -> bool:
    """Tell Airflow the register's cases changed, as its own ``POST /assets/events`` does, so
    the statutory_clock DAG runs. False (and logged) if Airflow could not take the event."""
    try:
        from airflow._shared.timezones import timezone
        from airflow.assets.manager import asset_manager
        from airflow.configuration import conf
        from airflow.models.asset import AssetModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        from statclock_airflow import cases_asset
        from statclock_airflow.ui.security import _auth_manager

        asset = cases_asset()
        teams: set[str] = set()
        if conf.getboolean("core", "multi_team", fallback=False):
            teams = _auth_manager().get_authorized_teams(user=user)
        with create_session() as session:
            model = session.scalar(
                select(AssetModel)
                .where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)
                .limit(1)
            )
            if model is None:
                log.warning(
                    "Recorded a %s for %s, but Airflow does not know the asset %s yet (is the "
                    "statutory_clock DAG parsed?): the clock is recomputed at its next run",
                    form,
                    key,
                    asset.name,
                )
                return False
            event = asset_manager.register_asset_change(
                asset=model,
                timestamp=timezone.utcnow(),
                extra={"case": key, "by": user_name(user), "fact": form},
                source_is_api=True,
                api_user_teams=teams,
                session=session,
            )
            return event is not None
    except Exception:  # the fact is committed: never lose it to Airflow's database
        log.exception("Recorded a %s for %s, but could not create the asset event", form, key)
        return False


# -- the writes ----------------------------------------------------------------------------------


def _write(
    request: Request,
    session: Session,
    key: str,
    user: BaseUser,
    fields: dict[str, str] | BadForm,
    form: FormName,
    parse: Callable[[Mapping[str, str]], Any],
    work: Callable[[Session, Any, Actor], None],
) -> Response:
    if isinstance(fields, BadForm):
        raise HTTPException(fields.status_code, fields.message)
    check_same_origin(request)
    check_csrf(request, fields.get(CSRF_FIELD))
    try:
        case_key("case", key)
    except InputError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if not _exists(session, key):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"case: {printable(key)!r} is not in the register"
        )
    try:
        request_ = parse(fields)
    except FormInvalid as invalid:
        return refused(request, session, key, user, invalid.error, status.HTTP_400_BAD_REQUEST)
    actor = Actor(user_name(user))
    try:
        with session.begin():
            work(session, request_, actor)
    except ConflictError as exc:
        error = FormError(form, "version", _conflict_message(exc))
        return refused(request, session, key, user, error, status.HTTP_409_CONFLICT)
    except RegisterError as exc:
        error = FormError(form, FORM_FIELDS.get(exc.field, exc.field), _message(exc))
        return refused(request, session, key, user, error, status.HTTP_400_BAD_REQUEST)
    except FormInvalid as invalid:
        return refused(request, session, key, user, invalid.error, status.HTTP_400_BAD_REQUEST)
    except RulebookError as exc:
        # The operator's rules overlay (STATCLOCK_RULES_OVERLAY) is missing or invalid: the
        # clock cannot be computed, so nothing is recorded; the page says why, in one line.
        log.error("Could not record a %s for %s: %s", form, key, exc)
        error = FormError(form, "form", f"Nothing was recorded: the rules cannot be read ({exc})")
        return refused(request, session, key, user, error, status.HTTP_503_SERVICE_UNAVAILABLE)
    except (DataError, IntegrityError) as exc:
        # The input rules should refuse it first; if the database still does, it rolled back.
        log.warning("The register refused a %s for %s: %s", form, key, exc.__class__.__name__)
        error = FormError(form, "form", "The register refused the change and nothing was recorded")
        return refused(request, session, key, user, error, status.HTTP_400_BAD_REQUEST)
    except SQLAlchemyError:
        log.exception("Could not record a %s for %s", form, key)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case register cannot be reached just now: nothing was recorded; try again",
        ) from None
    return recorded(request, key, form, announce(key, user, form))


def _exists(session: Session, key: str) -> bool:
    from sqlalchemy import select

    from statutory_clock.store.models import Inspection

    with session.begin():
        found = session.scalar(select(Inspection.id).where(Inspection.key == key))
    return found is not None


def _message(exc: RegisterError) -> str:
    """The command line's one-line refusal (``field: 'value' problem``), the field as the form
    labels it; mentions of command-line options are left to the command line."""
    from statclock_airflow.ui.forms import label

    field = FORM_FIELDS.get(exc.field, exc.field)
    value = printable(repr(exc.value), 120)
    return f"{label(field)}: {value} {exc.problem}"


def _conflict_message(exc: ConflictError) -> str:
    return (
        f"{_message(exc)}. Someone else changed this case since you opened the page: "
        "nothing was recorded; check the page as it stands now and enter the fact again"
    )


def _record_event(session: Session, form: EventForm, actor: Actor, key: str) -> None:
    register.record_event(
        session,
        key,
        form.milestone,
        form.day,
        actor,
        context.today(),
        form.note,
        form.version,
    )


def _update_action(session: Session, form: ActionForm, actor: Actor, key: str) -> None:
    case = register.get_case(session, key, lock=True)
    item = next((a for a in case.actions if a.position == form.position), None)
    current = item.status if item is not None else None
    # The form always sends a rating (the one shown, unless changed); the register takes a new
    # one or none. "not_rated" cannot be chosen again for an item once rated.
    status_: str | None = None if form.rag in ("not_rated", current) else form.rag
    if item is not None and form.rag == "not_rated" and current is not None:
        raise FormInvalid(
            FormError(
                "action",
                "rag",
                f"RAG status: 'not_rated' cannot be chosen for action {form.position}, which "
                f"is rated {current}: choose red, amber, green or complete",
            )
        )
    if item is not None and status_ is None and not form.note:
        raise FormInvalid(
            FormError(
                "action",
                "note",
                f"Note: '' is empty and the RAG status is unchanged ({form.rag}): choose a new "
                "RAG status or write a progress note",
            )
        )
    register.update_action(
        session,
        key,
        form.position,
        actor,
        context.today(),
        status_,
        form.note,
        form.note_date,
        form.version,
    )


def _adjust_milestone(session: Session, form: AdjustmentForm, actor: Actor, key: str) -> None:
    register.adjust_milestone(
        session,
        key,
        form.milestone,
        actor,
        context.today(),
        form.reason,
        form.agreed_by,
        extended_to=form.extended_to,
        waive=form.kind == "waiver",
        expected_version=form.version,
    )


@router.post(
    "/councils/{key}/event",
    summary="Record the actual date of a milestone",
    description="The council page's form (x-www-form-urlencoded): milestone, date-day, "
    "date-month, date-year, optional note, version, csrf_token. Redirects (303) to the council "
    "page; 400 or 409 re-render it with the refusal.",
    response_class=HTMLResponse,
    status_code=status.HTTP_303_SEE_OTHER,
)
def record_event(
    request: Request, key: str, user: EditorDep, fields: FieldsDep, session: SessionDep
) -> Response:
    return _write(
        request,
        session,
        key,
        user,
        fields,
        "event",
        parse_event,
        lambda s, form, actor: _record_event(s, form, actor, key),
    )


@router.post(
    "/councils/{key}/action",
    summary="Rate an action and/or add a progress note",
    description="The council page's form (x-www-form-urlencoded): position, rag (red, amber, "
    "green, complete, not_rated), optional note, optional date-day, date-month, date-year (the "
    "note's date, default today), version, csrf_token.",
    response_class=HTMLResponse,
    status_code=status.HTTP_303_SEE_OTHER,
)
def update_action(
    request: Request, key: str, user: EditorDep, fields: FieldsDep, session: SessionDep
) -> Response:
    return _write(
        request,
        session,
        key,
        user,
        fields,
        "action",
        parse_action,
        lambda s, form, actor: _update_action(s, form, actor, key),
    )


@router.post(
    "/councils/{key}/adjustment",
    summary="Grant an extension or a waiver",
    description="The council page's form (x-www-form-urlencoded): milestone, kind (extension "
    "or waiver), extended-day, extended-month, extended-year (extension only), reason, "
    "agreed_by, version, csrf_token.",
    response_class=HTMLResponse,
    status_code=status.HTTP_303_SEE_OTHER,
)
def adjust_milestone(
    request: Request, key: str, user: EditorDep, fields: FieldsDep, session: SessionDep
) -> Response:
    return _write(
        request,
        session,
        key,
        user,
        fields,
        "adjustment",
        parse_adjustment,
        lambda s, form, actor: _adjust_milestone(s, form, actor, key),
    )
