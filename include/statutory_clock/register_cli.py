"""``statclock`` commands for the case register: db, case, action, milestone, feed, demo.

Every write is one transaction: it commits whole or leaves the database untouched. Case files
are validated before the database is opened at all.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statutory_clock.dates import long_date, short_date
from statutory_clock.inputs import (
    ACTION_NUMBER,
    BY,
    EXPECTED_VERSION,
    LONG_TEXT,
    PERSON,
    REASON,
    argument,
    case_key,
    milestone_id,
    printable,
    text_argument,
)

if TYPE_CHECKING:  # the store is imported by each command, so `statclock --help` stays quick
    from statutory_clock.store.case_document import CaseDocument
    from statutory_clock.store.read_model import CaseView

# include/demo beside the package in a checkout; STATCLOCK_DEMO_DIR elsewhere (e.g. an image).
DEMO_DIR = Path(
    os.environ.get("STATCLOCK_DEMO_DIR") or Path(__file__).resolve().parents[1] / "demo"
)


_OPENED: list[Any] = []  # engines the running command opened; run() disposes of them


class RegisterCommandError(Exception):
    """Bad input to a register command: one line on stderr, exit status 2."""


class CheckFailed(Exception):
    """A check found a problem: its report goes to stdout and the exit status is 1."""


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return f"uid {os.getuid()}"


def _actor(args: argparse.Namespace) -> Any:
    """Who is making the change: the OS login, which the audit trail records as the actor; a
    ``--by`` name is recorded beside it as whom they act for, never instead of it."""
    from statutory_clock.store.register import Actor

    return Actor(_login(), args.by or None)


def _today(args: argparse.Namespace) -> date:
    as_of: date | None = getattr(args, "as_of", None)
    return as_of or date.today()  # the command line is the boundary where "today" is read


# Argument types: each refuses what the column it ends up in cannot hold (statutory_clock.inputs).
_KEY = argument(case_key)
_MILESTONE = argument(milestone_id)
_ACTION_NUMBER = argument(ACTION_NUMBER.parse)
_VERSION = argument(EXPECTED_VERSION.parse)
_NOTE = text_argument(LONG_TEXT, multi_line=True)
_REASON = text_argument(REASON)
_PERSON = text_argument(PERSON)
_BY = text_argument(BY)
_CONTACT = text_argument(140)  # a contact's name (inputs._CONTACT_NAME)
_URL = text_argument(2_000)


def _path(text: str) -> Path:
    return Path(text_argument(4_096)(text))


def add_register_commands(sub: Any, iso_date: Callable[[str], date]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--database-url",
            type=_URL,
            help="SQLAlchemy URL (default: $STATCLOCK_DATABASE_URL or sqlite var/statclock.db)",
        )
        p.add_argument(
            "--by",
            type=_BY,
            help="whom you act for, recorded beside your login name (which is always recorded)",
        )
        p.add_argument(
            "--as-of",
            type=iso_date,
            metavar="YYYY-MM-DD",
            help="the day statuses are computed for (default: today)",
        )

    db = sub.add_parser("db", help="the case register's database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="create or migrate the register to the latest schema")
    common(up)

    case = sub.add_parser("case", help="cases in the register")
    case_sub = case.add_subparsers(dest="case_command", required=True)
    imp = case_sub.add_parser("import", help="import case files (YAML)")
    imp.add_argument("files", nargs="+", type=_path)
    imp.add_argument("--replace", action="store_true", help="overwrite cases already present")
    common(imp)
    exp = case_sub.add_parser("export", help="export a case as a case file")
    exp.add_argument("key", type=_KEY)
    exp.add_argument("--output", "-o", type=_path, help="file to write (default: stdout)")
    common(exp)
    lst = case_sub.add_parser("list", help="every open case, with its next deadline")
    lst.add_argument("--all", action="store_true", help="closed cases too, shown as closed")
    lst.add_argument("--format", choices=("table", "json"), default="table")
    common(lst)
    show = case_sub.add_parser("show", help="a case and its clock")
    show.add_argument("key", type=_KEY)
    show.add_argument("--format", choices=("table", "json"), default="table")
    common(show)
    event = case_sub.add_parser("event", help="record the actual date of a milestone")
    event.add_argument("key", type=_KEY)
    event.add_argument("milestone", type=_MILESTONE)
    event.add_argument("date", type=iso_date, metavar="YYYY-MM-DD")
    event.add_argument("--note", type=_NOTE)
    event.add_argument(
        "--expected-version",
        type=_VERSION,
        help="refuse if the case changed since you read this version",
    )
    common(event)
    recompute = case_sub.add_parser("recompute", help="recompute every open case's clock")
    common(recompute)
    close = case_sub.add_parser(
        "close", help="close a case (no more reminders or packs; its history is kept)"
    )
    close.add_argument("key", type=_KEY)
    close.add_argument("--reason", required=True, type=_REASON, help="why the case is closing")
    close.add_argument(
        "--intervention-lifted",
        action="store_true",
        help="it closes because the DfE lifted its intervention",
    )
    close.add_argument("--expected-version", type=_VERSION)
    common(close)
    reopen = case_sub.add_parser("reopen", help="reopen a closed case")
    reopen.add_argument("key", type=_KEY)
    reopen.add_argument("--reason", required=True, type=_REASON, help="why the case is reopening")
    reopen.add_argument("--expected-version", type=_VERSION)
    common(reopen)
    reminders = case_sub.add_parser(
        "reminders",
        help="how one contact gets reminders: one email each, or one email a day (a digest)",
    )
    reminders.add_argument("key", type=_KEY)
    reminders.add_argument("contact", type=_CONTACT, help="the contact's name, as in the case")
    reminders.add_argument(
        "choice",
        choices=("each", "daily-digest"),
        help="each: one email per reminder (the default); daily-digest: one email a day "
        "listing every reminder for them",
    )
    reminders.add_argument("--expected-version", type=_VERSION)
    common(reminders)
    audit = case_sub.add_parser("audit", help="the audit trail of a case")
    audit.add_argument("key", type=_KEY)
    common(audit)

    action = sub.add_parser("action", help="action plan items")
    action_sub = action.add_subparsers(dest="action_command", required=True)
    upd = action_sub.add_parser("update", help="set an action's RAG status or add progress")
    upd.add_argument("key", type=_KEY)
    upd.add_argument(
        "number", type=_ACTION_NUMBER, help="the action's row number in the plan (1, 2, ...)"
    )
    upd.add_argument("--status", choices=("red", "amber", "green", "complete"))
    upd.add_argument("--progress", type=_NOTE, help="a progress note")
    upd.add_argument(
        "--date",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="date of the progress note (default: today)",
    )
    upd.add_argument("--expected-version", type=_VERSION)
    common(upd)

    milestone = sub.add_parser("milestone", help="extensions and waivers")
    ms_sub = milestone.add_subparsers(dest="milestone_command", required=True)
    ext = ms_sub.add_parser("extend", help="grant an extension to a later due date")
    ext.add_argument("key", type=_KEY)
    ext.add_argument("milestone", type=_MILESTONE)
    ext.add_argument("--to", required=True, type=iso_date, metavar="YYYY-MM-DD")
    waive = ms_sub.add_parser("waive", help="waive a milestone")
    waive.add_argument("key", type=_KEY)
    waive.add_argument("milestone", type=_MILESTONE)
    for p in (ext, waive):
        p.add_argument("--reason", required=True, type=_REASON)
        p.add_argument(
            "--agreed-by", required=True, type=_PERSON, help="who agreed it (e.g. Ofsted, DfE)"
        )
        p.add_argument("--expected-version", type=_VERSION)
        common(p)

    trail = sub.add_parser("audit", help="the audit trail")
    trail_sub = trail.add_subparsers(dest="audit_command", required=True)
    verify = trail_sub.add_parser(
        "verify",
        help="check the audit trail's hash chain: exit 0 when intact, 1 at the first broken row",
    )
    verify.add_argument(
        "--expect-head",
        type=_head,
        metavar="ID:HASH",
        help="a head printed by an earlier verify: also proves no row after it went missing",
    )
    common(verify)

    authority = sub.add_parser("authority", help="local authorities, shared by all their cases")
    authority_sub = authority.add_subparsers(dest="authority_command", required=True)
    rename = authority_sub.add_parser(
        "rename", help="rename an authority for all its cases (audited on each case)"
    )
    rename.add_argument("dfe_code", help="the authority's DfE code, e.g. 306")
    rename.add_argument("name", help="the new name")
    rename.add_argument("--reason", help="why (recorded in the audit trail)")
    common(rename)
    authorities = authority_sub.add_parser("list", help="every authority and its cases")
    common(authorities)

    feed = sub.add_parser("feed", help="calendar feeds of the deadlines, for Outlook")
    feed_sub = feed.add_subparsers(dest="feed_command", required=True)
    url = feed_sub.add_parser(
        "url",
        help="print a council's calendar feed address (with its secret token), or the "
        "portfolio's with --portfolio",
    )
    url.add_argument("key", nargs="?", type=_KEY, help="the case key, e.g. croydon-2017")
    url.add_argument("--portfolio", action="store_true", help="the feed of every open case instead")
    url.add_argument(
        "--rotate",
        action="store_true",
        help="give the feed a new secret token: the old address stops working",
    )
    # common() less --as-of: an address has no day.
    url.add_argument("--database-url", type=_URL, help="SQLAlchemy URL (as for the others)")
    url.add_argument(
        "--by",
        type=_BY,
        help="whom you act for, recorded beside your login name (which is always recorded)",
    )

    demo = sub.add_parser("demo", help="the demo councils of the seed documents")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    load = demo_sub.add_parser("load", help="migrate the register and load the demo cases")
    common(load)


def _head(text: str) -> tuple[int, str]:
    row, sep, digest = text.partition(":")
    if not sep or not row.isdigit() or len(row) > 12 or len(digest) != 64:
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a head as verify prints it (ROW:64 hex digits)"
        )
    if any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: the hash is not lower-case hex")
    return int(row), digest


# -- implementations ---------------------------------------------------------------------------


def _engine(args: argparse.Namespace, *, migrate: bool = False) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from statutory_clock.store import db

    url = args.database_url or db.default_url()
    sqlite_path = url.split("///", 1)[-1] if url.startswith("sqlite") else None
    if not migrate and sqlite_path and not Path(sqlite_path).exists():
        raise RegisterCommandError(
            f"database: there is no register at {printable(sqlite_path, 200)}; "
            "run `statclock demo load` or `statclock db upgrade` first"
        )
    try:
        if migrate:
            db.upgrade(url)
        engine = db.make_engine(url)
        _OPENED.append(engine)
        head = db.head_revision()
        current = db.current_revision(engine)
    except (SQLAlchemyError, OSError, ImportError, ValueError) as exc:
        # A URL that does not parse, names no installed driver, or reaches no server; a SQLite
        # path in a folder that cannot be made: one line, never a traceback.
        raise RegisterCommandError(
            f"database: cannot open {_safe(url)} ({_one_line(exc)})"
        ) from None
    if current != head:
        raise RegisterCommandError(
            f"database: {_safe(url)} is at revision {current or 'none'}, not {head}; "
            "run `statclock db upgrade` first"
        )
    return engine


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line: the database driver's first line, without SQL."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc) or exc.__class__.__name__
    first = text.strip().split("\n", 1)[0]
    return printable(" ".join(first.split()), 200)


def _safe(url: str) -> str:
    """The URL for a message: its password hidden, even when the URL does not parse."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return printable(make_url(url).render_as_string(hide_password=True), 200)
    except (ArgumentError, ValueError):
        scheme, sep, rest = url.partition("://")
        hidden = rest.rpartition("@")[2] if "@" in rest else rest
        return printable(f"{scheme}{sep}{'***@' if '@' in rest else ''}{hidden}", 200)


def _write(engine: Any, work: Callable[[Any], Any]) -> Any:
    from sqlalchemy.exc import DataError, IntegrityError

    from statutory_clock.store.db import transaction
    from statutory_clock.store.register import RegisterError

    try:
        with transaction(engine) as session:
            return work(session)
    except RegisterError as exc:
        raise RegisterCommandError(str(exc)) from None
    except (DataError, IntegrityError) as exc:
        # The input rules should have refused it first; if a value still reaches the database
        # and is refused there, the transaction is rolled back and the user told in one line.
        raise RegisterCommandError(
            f"database: the change was refused and nothing was written ({_one_line(exc)})"
        ) from None


def run(args: argparse.Namespace) -> str:
    command = args.command
    sub = getattr(args, f"{command}_command", None)
    handler = _HANDLERS[(command, sub)]
    try:
        return handler(args)
    finally:
        # Close the command's connections now, not at interpreter exit: a program that calls
        # main() many times (the tests, a page) would otherwise keep one connection per call.
        while _OPENED:
            _OPENED.pop().dispose()


def _db_upgrade(args: argparse.Namespace) -> str:
    from statutory_clock.store.db import application_role_problems, owner_url

    engine = _engine(args, migrate=True)
    lines = [f"Register at {_safe(str(engine.url))} is at the latest schema."]
    if owner_url() and engine.dialect.name == "postgresql":
        lines.append(
            f"Migrated as the owner; role {engine.url.username} granted its privileges "
            "(INSERT and SELECT only on the audit trail)."
        )
    lines += [f"Warning: {problem}." for problem in application_role_problems(engine)]
    return "\n".join(lines)


def _load_files(paths: list[Path]) -> list[CaseDocument]:
    from statutory_clock.store.casefile import CaseFileError, load_case_file

    docs = []
    try:
        for path in paths:
            docs.append(load_case_file(path))
    except CaseFileError as exc:
        raise RegisterCommandError(str(exc)) from None
    keys = [d.key for d in docs]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise RegisterCommandError(
                f"{paths[i]}, field key: {key!r} is also the key of {paths[keys.index(key)]}"
            )
    return docs


def _import(
    args: argparse.Namespace, paths: list[Path], replace: bool, migrate: bool = False
) -> str:
    # every file is valid before the database is touched
    return _import_docs(args, _load_files(paths), replace, migrate)


def _import_docs(
    args: argparse.Namespace, docs: list[CaseDocument], replace: bool, migrate: bool = False
) -> str:
    from statutory_clock.store import register

    engine = _engine(args, migrate=migrate)
    actor, today = _actor(args), _today(args)

    def work(session: Any) -> list[str]:
        lines = []
        for number, doc in enumerate(docs, start=1):
            if len(docs) > 5:  # a portfolio import takes a while: say where it has got to
                print(f"  importing {number}/{len(docs)}: {doc.key}", file=sys.stderr, flush=True)
            before = set(register.superseded_by(session, doc.case_key))
            case = register.import_case(session, doc, actor, today, replace=replace)
            _warn(args, _case_warnings(session, case))
            lines.append(
                f"Imported {case.key}: {case.local_authority.name}, "
                f"{len(case.milestones)} milestones, {len(case.recommendations)} "
                f"recommendations, {len(case.actions)} actions"
            )
            for earlier in register.superseded_by(session, case.key):
                if earlier not in before:
                    lines.append(f"Closed {earlier}: superseded by {case.key}")
        return lines

    lines = _write(engine, work)
    return "\n".join(
        [
            *lines,
            f"{len(docs)} case file(s) imported in one transaction "
            "(nothing is written unless every one is valid).",
        ]
    )


def _case_import(args: argparse.Namespace) -> str:
    return _import(args, args.files, args.replace)


def _demo_load(args: argparse.Namespace) -> str:
    from sqlalchemy import select

    from statutory_clock.live_demo import live_portfolio
    from statutory_clock.store.db import transaction
    from statutory_clock.store.models import Inspection
    from statutory_clock.store.register import calendar_for

    paths = sorted(DEMO_DIR.glob("*.yaml"))
    if not paths:
        raise RegisterCommandError(f"demo: no case files in {DEMO_DIR} (set STATCLOCK_DEMO_DIR)")
    engine = _engine(args, migrate=True)
    with transaction(engine) as session:
        present = set(session.execute(select(Inspection.key)).scalars())
        calendar = calendar_for(session)  # the live cases' dates agree with the DAGs'
    # The seed councils (history) first, then the fictional live portfolio dated from today,
    # keyed by name and year: loading again adds only what is missing.
    docs = _load_files([p for p in paths if p.stem not in present])
    live = live_portfolio(_today(args), calendar)
    # live_portfolio's documents are validated (parse_case_data), as a file's would be.
    docs += [case.document for case in live if case.key not in present]
    if not docs:
        return f"The {len(paths) + len(live)} demo cases are already loaded."
    return _import_docs(args, docs, replace=False)


def _case_export(args: argparse.Namespace) -> str:
    from statutory_clock.store import register
    from statutory_clock.store.casefile import dump_case_file

    output: Path | None = args.output
    if output is not None:  # refuse an unusable path before reading the register
        if output.is_dir():
            raise RegisterCommandError(
                f"--output: {printable(str(output), 200)} is a folder; give a file name"
            )
        if not output.parent.is_dir():
            raise RegisterCommandError(
                f"--output: the folder {printable(str(output.parent), 200)} does not exist"
            )
    engine = _engine(args)
    text: str = _write(
        engine, lambda s: dump_case_file(register.export_case(register.get_case(s, args.key)))
    )
    if output is None:
        return text
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)  # never a half-written case file
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RegisterCommandError(
            f"--output: cannot write {printable(str(output), 200)} "
            f"({exc.strerror or exc.__class__.__name__})"
        ) from None
    return f"Exported {args.key} to {output}"


def _case_list(args: argparse.Namespace) -> str:
    from statutory_clock.store.read_model import portfolio, portfolio_json

    engine = _engine(args)
    today = _today(args)
    rows = _write(engine, lambda s: portfolio(s, today, include_closed=args.all))
    if args.format == "json":
        return json.dumps(portfolio_json(rows), indent=2, ensure_ascii=False)
    if not rows:
        return (
            "No open cases (`statclock case list --all` shows closed ones too)."
            if args.all is False
            else "The register is empty: `statclock demo load` loads the demo councils."
        )
    header = (
        f"{'Case':<22} {'Authority':<34} {'Framework':<9} {'State':<12} "
        f"{'Overdue':>7} {'Due':>4} {'Not rec.':>8}  Next council deadline (as of "
        f"{long_date(today)})"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        nxt = row.next_deadline
        if row.state == "closed":
            state = "closed"
            following = _closed_line(row.closed_reason, row.closed_on, row.superseded_by)
        else:
            state = "open"
            following = (
                f"{short_date(nxt.due)} {nxt.id} ({_days_left(nxt.working_days_left)})"
                if nxt
                else "none ahead"
            )
        counts = row.counts
        lines.append(
            f"{row.key:<22} {_fit(row.authority, 34):<34} {row.framework:<9} {state:<12} "
            f"{counts.overdue:>7} {counts.due:>4} {counts.not_recorded:>8}  {following}"
        )
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _days_left(days: int) -> str:
    if days == 0:
        return "today"
    return "1 working day" if days == 1 else f"{days} working days"


def _closed_line(reason: str | None, on: date | None, superseded_by: str | None) -> str:
    what = f"superseded by {superseded_by}" if superseded_by else (reason or "closed")
    return f"{what.replace('_', ' ')}" + (f" on {short_date(on).strip()}" if on else "")


def _case_show(args: argparse.Namespace) -> str:
    from statutory_clock.store.read_model import case_json, case_view

    engine = _engine(args)
    today = _today(args)
    view = _write(engine, lambda s: case_view(s, args.key, today))
    if args.format == "json":
        return json.dumps(case_json(view), indent=2, ensure_ascii=False)
    return "\n".join([_case_table(view), "", *_write(engine, lambda s: _contacts(s, args.key))])


def _contacts(session: Any, key: str) -> list[str]:
    """The case's contacts with how each gets reminders (``statclock case reminders``)."""
    from statutory_clock.store.reading import get_case

    contacts = get_case(session, key).contacts
    lines = [f"{len(contacts)} contacts (reminders: each, or one daily digest email)"]
    for c in contacts:
        role = f", {c.role}" if c.role else ""
        lines.append(
            f"  {c.name}{role}: {c.email or 'no email address'}; reminders {c.reminders or 'each'}"
        )
    return lines


def _case_table(view: CaseView) -> str:
    judgement = (view.judgement or "not given").replace("_", " ")
    published = (
        f"{view.published:%B %Y} (month only; counted from {long_date(view.published)})"
        if view.published_precision == "month"
        else long_date(view.published)
    )
    if view.lifecycle is None:
        state = "Open"
    else:
        state = f"Closed on {long_date(view.lifecycle.closed_on)}: {view.lifecycle.describe()}"
    counts = view.counts
    nxt = view.next_deadline
    lines = [
        f"{view.authority} ({view.dfe_code}): case {view.key}, version {view.version}",
        f"Framework {view.framework}; judgement {judgement}; published {published}",
        state,
        f"Status as of {long_date(view.as_of)}: {counts.overdue} overdue, {counts.due} due, "
        f"{counts.not_recorded} not recorded, {counts.upcoming} upcoming, {counts.met} met, "
        f"{counts.missed} missed, {counts.waived} waived"
        + (f", {counts.closed} closed" if counts.closed else ""),
        (
            f"Next council deadline: {nxt.title} ({nxt.id}), {long_date(nxt.due)}, "
            f"in {nxt.working_days_left} working days"
            if nxt
            else "Next council deadline: "
            + ("none: the case is closed" if view.lifecycle else "none ahead")
        ),
        "",
        f"{'Due':<16} {'Actual':<16} {'Status':<12} {'Party':<7} {'Milestone':<30} Owner / basis",
    ]
    for m in view.timeline:
        due = short_date(m.effective_due) + ("*" if m.extended_to else "")
        actual = short_date(m.actual) if m.actual else "-"
        lines.append(
            f"{due:<16} {actual:<16} {m.status.replace('_', ' '):<12} {m.party:<7} "
            f"{m.id:<30} {m.owner or '-'}; {m.basis}"
        )
    if any(m.extended_to for m in view.timeline):
        lines.append("* extended: see `statclock case audit` for the reason and who agreed it")
    rag = view.rag
    lines += [
        "",
        f"{len(view.actions)} actions (RAG: red {rag.red}, amber {rag.amber}, green "
        f"{rag.green}, complete {rag.complete}, not rated {rag.not_rated})",
    ]
    return "\n".join(lines)


def _case_warnings(session: Any, case: Any) -> tuple[str, ...]:
    """The stored case's unusual facts (statutory_clock.plausibility), each naming the case."""
    from statutory_clock.store.read_model import case_warnings
    from statutory_clock.store.reading import calendar_for

    return tuple(f"{case.key}: {w}" for w in case_warnings(case, calendar_for(session)))


def _warn(args: argparse.Namespace, lines: Iterable[str]) -> None:
    """Unusual but possible facts: one line each on stderr, never in the output."""
    sub = getattr(args, "case_command", None) or getattr(args, "demo_command", None)
    command = f"statclock {args.command} {sub}" if sub else f"statclock {args.command}"
    for line in lines:
        print(f"{command}: warning: {line}", file=sys.stderr)


def _describe(result: Any) -> str:
    parts = [
        f"{m} {short_date(old).strip()} -> {short_date(new).strip()}"
        for m, old, new in result.moved
    ]
    moved = f"; moved: {', '.join(parts)}" if parts else ""
    return (
        f"{len(result.added)} added, {len(result.moved)} moved, {len(result.removed)} "
        f"removed{moved}"
    )


def _case_event(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)

    def work(session: Any) -> tuple[Any, tuple[str, ...]]:
        result = register.record_event(
            session,
            args.key,
            args.milestone,
            args.date,
            _actor(args),
            _today(args),
            args.note,
            args.expected_version,
        )
        return result, _case_warnings(session, register.get_case(session, args.key))

    result, warnings = _write(engine, work)
    _warn(args, warnings)
    return (
        f"Recorded {args.milestone} on {long_date(args.date)} for {args.key}; "
        f"milestones: {_describe(result)}."
    )


def _case_recompute(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    results = _write(engine, lambda s: register.recompute_all(s, _today(args), _actor(args)))
    lines = [f"{r.key}: {_describe(r)}, {len(r.status_changed)} status changes" for r in results]
    return "\n".join([*lines, f"{len(results)} open case(s) recomputed."])


def _case_close(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    today = _today(args)
    closing = _write(
        engine,
        lambda s: register.close_case(
            s,
            args.key,
            _actor(args),
            today,
            args.reason,
            intervention_lifted=args.intervention_lifted,
            expected_version=args.expected_version,
        ),
    )
    return (
        f"Closed {args.key} on {long_date(today)}: {closing.describe()}. "
        "No more reminders or packs; its history is kept."
    )


def _case_reopen(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    _write(
        engine,
        lambda s: register.reopen_case(
            s,
            args.key,
            _actor(args),
            _today(args),
            args.reason,
            expected_version=args.expected_version,
        ),
    )
    return f"Reopened {args.key}: its reminders and packs start again."


def _case_audit(args: argparse.Namespace) -> str:
    from sqlalchemy import select

    from statutory_clock.store.models import AuditEvent

    engine = _engine(args)

    def work(session: Any) -> list[str]:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.inspection_key == args.key)
                .order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        return [
            f"{r.at:%Y-%m-%d %H:%M:%S} "
            f"{r.actor + (f' for {r.on_behalf_of}' if r.on_behalf_of else ''):<14} "
            f"{r.action:<22} {r.entity:<34} "
            f"{r.field or '':<12} {r.old or '-'} -> {r.new or '-'}"
            + (f"  ({r.reason})" if r.reason else "")
            for r in rows
        ]

    rows = _write(engine, work)
    if not rows:
        raise RegisterCommandError(f"case: {args.key!r} has no audit trail (is it registered?)")
    return "\n".join(rows)


def _action_update(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    item = _write(
        engine,
        lambda s: register.update_action(
            s,
            args.key,
            args.number,
            _actor(args),
            _today(args),
            args.status,
            args.progress,
            args.date,
            args.expected_version,
        ),
    )
    return (
        f"Action {args.number} of {args.key}: status {item.status or 'not rated'}, "
        f"{len(item.progress)} progress note(s)."
    )


def _case_reminders(args: argparse.Namespace) -> str:
    from statutory_clock.store.contacts import set_reminders

    engine = _engine(args)
    choice = args.choice.replace("-", " ")  # "daily-digest" on the command line
    change = _write(
        engine,
        lambda s: set_reminders(
            s, args.key, args.contact, choice, _actor(args), args.expected_version
        ),
    )
    how = (
        "one email a day listing every reminder for them"
        if change.new == "daily digest"
        else "one email per reminder"
    )
    if not change.changed:
        return f"{change.contact} of {change.case_key} already gets {how}; nothing changed."
    return f"{change.contact} of {change.case_key} now gets {how} (was: {change.old})."


def _milestone_adjust(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    extended_to = getattr(args, "to", None)
    _write(
        engine,
        lambda s: register.adjust_milestone(
            s,
            args.key,
            args.milestone,
            _actor(args),
            _today(args),
            args.reason,
            args.agreed_by,
            extended_to=extended_to,
            waive=extended_to is None,
            expected_version=args.expected_version,
        ),
    )
    what = f"extended to {long_date(extended_to)}" if extended_to else "waived"
    return f"{args.milestone} of {args.key} {what} (agreed by {args.agreed_by})."


def base_url() -> str:
    """The address people reach Airflow at (``$STATCLOCK_BASE_URL``), without a final /."""
    from statutory_clock.addresses import BaseUrlError
    from statutory_clock.addresses import base_url as configured

    try:
        found = configured()
    except BaseUrlError as exc:
        raise RegisterCommandError(str(exc)) from None
    assert found is not None  # the default stands in when nothing is set
    return found


def _feed_url(args: argparse.Namespace) -> str:
    from statutory_clock.addresses import PAGES_PREFIX, feed_path
    from statutory_clock.store import register
    from statutory_clock.store.feed_tokens import PORTFOLIO, case_scope

    if (args.key is None) == (not args.portfolio):
        raise RegisterCommandError(
            "key: give a case key or --portfolio, not both"
            if args.key
            else "key: give a case key (e.g. croydon-2017) or --portfolio"
        )
    base = base_url()
    scope = PORTFOLIO if args.portfolio else case_scope(args.key)
    name = "portfolio" if args.portfolio else args.key
    engine = _engine(args)
    if args.rotate:
        token = _write(engine, lambda s: register.rotate_feed_token(s, scope, _actor(args)))
    else:
        token = _write(engine, lambda s: register.feed_token(s, scope))
    print(
        "Subscribe to this address in Outlook (Add calendar > Subscribe from web). Anyone "
        "with this address can read the feed; "
        + (
            "the previous address no longer works."
            if args.rotate
            else "rotate it with --rotate (the old address then stops working)."
        ),
        file=sys.stderr,
    )
    return f"{base}{PAGES_PREFIX}{feed_path(name, token)}"


def _audit_verify(args: argparse.Namespace) -> str:
    from sqlalchemy import select

    from statutory_clock.store.audit_chain import verify
    from statutory_clock.store.db import application_role_problems
    from statutory_clock.store.models import AuditEvent

    engine = _engine(args)
    table = AuditEvent.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.id)).mappings()
        verdict = verify(rows, args.expect_head)
    warnings = [f"Warning: {problem}." for problem in application_role_problems(engine)]
    if verdict.broken is not None:
        intact = (
            f"the {verdict.rows - 1:,} row(s) before it are intact (last good row "
            f"{verdict.head_id})"
            if verdict.head_id
            else "no row before it is intact"
        )
        raise CheckFailed(
            "\n".join(
                [
                    f"Audit trail BROKEN at row {verdict.broken.row_id}: {verdict.broken.problem}; "
                    f"{intact}.",
                    *warnings,
                ]
            )
        )
    if verdict.head_id is None:
        return "\n".join(["The audit trail is empty.", *warnings])
    return "\n".join(
        [
            f"Audit trail intact: {verdict.rows:,} rows, each chained to the one before it.",
            f"Head: {verdict.head_id}:{verdict.head_hash}",
            "Keep the head somewhere else; `statclock audit verify --expect-head <head>` later "
            "also proves that no row after it has gone.",
            *warnings,
        ]
    )


def _authority_rename(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    renamed = _write(
        engine,
        lambda s: register.rename_authority(s, args.dfe_code, args.name, _actor(args), args.reason),
    )
    cases = ", ".join(renamed.cases) or "none"
    return (
        f"Authority {renamed.dfe_code} renamed from {renamed.old_name!r} to "
        f"{renamed.new_name!r}; its cases: {cases}."
    )


def _authority_list(args: argparse.Namespace) -> str:
    from statutory_clock.store import register

    engine = _engine(args)
    rows = _write(engine, register.list_authorities)
    if not rows:
        return "The register has no authorities: `statclock demo load` loads the demo councils."
    header = f"{'DfE code':<8} {'Authority':<40} Cases"
    lines = [f"{a.dfe_code:<8} {a.name:<40} {', '.join(a.cases) or '-'}" for a in rows]
    return "\n".join([header, "-" * len(header), *lines])


_HANDLERS: dict[tuple[str, str | None], Callable[[argparse.Namespace], str]] = {
    ("db", "upgrade"): _db_upgrade,
    ("case", "import"): _case_import,
    ("case", "export"): _case_export,
    ("case", "list"): _case_list,
    ("case", "show"): _case_show,
    ("case", "reminders"): _case_reminders,
    ("case", "event"): _case_event,
    ("case", "recompute"): _case_recompute,
    ("case", "audit"): _case_audit,
    ("case", "close"): _case_close,
    ("case", "reopen"): _case_reopen,
    ("action", "update"): _action_update,
    ("milestone", "extend"): _milestone_adjust,
    ("milestone", "waive"): _milestone_adjust,
    ("audit", "verify"): _audit_verify,
    ("authority", "rename"): _authority_rename,
    ("authority", "list"): _authority_list,
    ("feed", "url"): _feed_url,
    ("demo", "load"): _demo_load,
}
