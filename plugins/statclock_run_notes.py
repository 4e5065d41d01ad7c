"""The run's note for register_inspection: what happened, naming the council.

Airflow 3.3's task SDK has no way for a task to set its run's note, and a run id cannot name the
council (the form's trigger makes it before the task has read the facts). The REST API could
set a note, but only with an API token the task would have to hold. So the task leaves its one
line as an XCom (``statutory_clock.store.registration.NOTE_KEY``) and this listener, called
by Airflow when the run ends, writes it as the run's note. The listener runs where the run's
state is decided (the scheduler; ``dag.test()`` in tests), with the DagRun in that session: the
note is written in the same transaction as the run's final state, so it cannot be half-written
and takes no second connection to the metadata database (SQLite would lock). A note typed in
the trigger form is kept below the line.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

DAG_ID = "register_inspection"
TASK_ID = "register_case"
NOTE_KEY = "run_note"  # as statutory_clock.store.registration.NOTE_KEY (plugins load first)
# A line this listener wrote begins with one of these: a re-run replaces it, keeping the rest.
OURS = ("Registered ", "Not registered", "Council: ")

log = logging.getLogger(__name__)


def _line(dag_run: Any, session: Any) -> str | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.execute(
        select(XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id == TASK_ID,
            XComModel.key == NOTE_KEY,
            XComModel.map_index == -1,
        )
    ).first()
    if row is None:
        return None
    value = XComModel.deserialize_value(row)
    return value if isinstance(value, str) and value.strip() else None


def note_for(line: str, existing: str | None) -> str:
    """The line first, then what was there that this listener did not write."""
    kept = [p for p in (existing or "").split("\n\n") if p.strip() and not p.startswith(OURS)]
    return "\n\n".join([line, *kept])


class RunNotes:
    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        _write_note(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        _write_note(dag_run)


def _write_note(dag_run: Any) -> None:
    if dag_run.dag_id != DAG_ID:
        return
    from sqlalchemy.orm import object_session

    try:
        session = object_session(dag_run)
        if session is not None:  # the scheduler's own session: its transaction writes it
            _set_note(dag_run, session)
            return
        # Detached (dag.test() passes its session but not its run): a short one of our own.
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as own:
            row = own.get(DagRun, dag_run.id)
            if row is not None:
                _set_note(row, own)
    except Exception:  # a note is never worth failing the scheduler's loop for
        log.exception("Could not write the note of %s", dag_run.run_id)


def _set_note(dag_run: Any, session: Any) -> None:
    line = _line(dag_run, session)
    if line is not None:
        dag_run.note = note_for(line, dag_run.note)


class StatclockRunNotesPlugin(AirflowPlugin):
    name = "statclock_run_notes"
    listeners: ClassVar[list[Any]] = [RunNotes()]
