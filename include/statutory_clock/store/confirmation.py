"""Recording a fact a person confirmed in Airflow's human-in-the-loop step."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Engine

from statutory_clock.dates import long_date, parse_iso_date
from statutory_clock.inputs import LONG_TEXT, PERSON, InputError, Text
from statutory_clock.store.db import transaction
from statutory_clock.store.errors import RegisterError
from statutory_clock.store.facts import record_event


def _who(answer: Mapping[str, Any]) -> str:
    user = answer.get("responded_by_user")
    if isinstance(user, Mapping):
        return str(user.get("name") or user.get("id") or "unknown user")
    return str(user or "unknown user")


def _checked(field: str, value: str, rule: Text) -> str:
    """The HITL form is one more way in: the same rules as every other entry point."""
    try:
        return rule.check(field, value)
    except InputError as exc:
        raise RegisterError(exc.field, exc.value, exc.problem) from None


def record_confirmation(
    engine: Engine, answer: Mapping[str, Any], params: Mapping[str, Any], as_of: date
) -> str:
    """Apply the HITL answer: a confirmation becomes an event; a rejection changes nothing."""
    chosen = list(answer.get("chosen_options") or [])
    case_key, milestone = str(params["case_key"]), str(params["milestone"])
    who = _checked("responded_by_user", _who(answer), Text(PERSON))
    if chosen != ["Confirm"]:
        return f"{who} did not confirm {milestone} for {case_key}: nothing recorded"
    given = dict(answer.get("params_input") or {})
    raw = given.get("actual_date") or params.get("proposed_date")
    try:
        day = parse_iso_date(str(raw))
    except ValueError as exc:
        raise RegisterError("actual_date", raw, str(exc)) from None
    note = _checked(
        "note", str(given.get("note") or f"confirmed in Airflow by {who}"), Text(LONG_TEXT, True)
    )
    with transaction(engine) as session:
        result = record_event(
            session, case_key, milestone, day, who, max(as_of, day), note=str(note)
        )
    return (
        f"{milestone} for {case_key} recorded as {long_date(day)} (confirmed by {who}); "
        f"{len(result.moved)} dependent date(s) moved"
    )
