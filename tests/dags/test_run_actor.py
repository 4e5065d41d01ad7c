"""Who the audit trail records for a DAG run (statclock_airflow.run_actor)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from statclock_airflow import run_actor


@pytest.mark.parametrize(
    ("triggering_user_name", "expected"),
    [
        ("p.manager", "p.manager"),  # the trigger form, the REST API, the Trigger button
        (None, "statutory_clock DAG"),  # a scheduled or asset-triggered run
        ("", "statutory_clock DAG"),
    ],
)
def test_run_actor_is_the_triggering_user_or_the_dag(triggering_user_name, expected):
    context = {"dag_run": SimpleNamespace(triggering_user_name=triggering_user_name)}
    assert run_actor(context, "statutory_clock DAG") == expected
