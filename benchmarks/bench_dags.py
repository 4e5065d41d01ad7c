"""Benchmark: DAG parse time and the reminders decision at portfolio scale.

    .venv/bin/python benchmarks/bench_dags.py

1. Parse time of the whole dags/ folder, as the DAG processor sees it (Airflow already
   imported), and the number of database queries made while parsing (target: under 1 s in
   total; at most one query). Runs in a subprocess with a fresh AIRFLOW_HOME.
2. The reminders decision over 10,000 milestones (target: under 5 s): the pure decision
   (statutory_clock.reminders.decide_all) and the full step the DAG runs
   (statutory_clock.store.outbox.plan_reminders: load the register, decide, write the ledger)
   on a SQLite register holding the synthetic portfolio of benchmarks/bench_register.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PARSE = r"""
import json, time
from sqlalchemy import event
from airflow import settings
from airflow.dag_processing.dagbag import DagBag

queries = []
event.listen(settings.engine, "before_cursor_execute",
             lambda *args, **kwargs: queries.append(args[2]))
import sqlalchemy
register_queries = []
real_create_engine = sqlalchemy.create_engine
def counting_create_engine(*args, **kwargs):  # any register engine made at parse time counts
    register_queries.append(str(args[0]) if args else "engine")
    return real_create_engine(*args, **kwargs)
sqlalchemy.create_engine = counting_create_engine
started = time.perf_counter()
bag = DagBag(dag_folder=__import__("sys").argv[1])
elapsed = time.perf_counter() - started
stats = [{"file": s.file, "duration": s.duration.total_seconds(), "dags": s.dag_num}
         for s in bag.dagbag_stats]
print(json.dumps({"elapsed": elapsed, "errors": bag.import_errors, "stats": stats,
                  "metadata_queries": len(queries), "engines_created": register_queries}))
"""


def parse_time() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        }
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        runs = []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, "-c", PARSE, str(REPO / "dags")],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["elapsed"])
    assert not best["errors"], best["errors"]
    total = sum(s["duration"] for s in best["stats"])
    print(
        f"dags/ parse: {best['elapsed']:.3f} s for the whole folder (best of 3), "
        f"{total:.3f} s summed over files; target < 1 s"
    )
    for s in sorted(best["stats"], key=lambda s: -s["duration"]):
        print(f"    {Path(s['file']).name:<28} {s['duration']:.3f} s")
    print(
        f"    queries to Airflow's database while parsing: {best['metadata_queries']}; "
        f"engines created (register connections): {len(best['engines_created'])}; "
        "target: at most one query"
    )


def decision() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_register import synthetic_portfolio

    from statutory_clock.calendar import default_calendar
    from statutory_clock.reminders import ReminderItem, decide_all, load_policy
    from statutory_clock.store import db, outbox, register
    from statutory_clock.store.case_document import CaseDocument

    policy, cal = load_policy(), default_calendar()
    as_of = date(2024, 6, 3)
    items = [
        ReminderItem(
            item=f"milestone:m{i}",
            case_key=f"case{i // 20}",
            authority="Council",
            title="Milestone",
            due=as_of + timedelta(days=(i % 120) - 40),
            due_version=1,
            needed="x",
            basis="b",
            source="s",
            rule="sif.publish_report",
            confidence="high",
            owner=None,
            owner_email=None,
            escalation_email=None,
            done=i % 7 == 0,
        )
        for i in range(10_000)
    ]
    started = time.perf_counter()
    decisions = decide_all(items, as_of, policy, cal, {}, {}, "pm@example.org")
    pure = time.perf_counter() - started
    print(
        f"reminders decision, pure: 10,000 milestones in {pure:.3f} s "
        f"({len(decisions)} reminders due); target < 5 s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.transaction(engine) as session:
            for doc in synthetic_portfolio(270):  # about 10,000 milestones
                register.import_case(session, CaseDocument.from_dict(doc), "benchmark", as_of)
        with db.transaction(engine) as session:
            from sqlalchemy import func, select

            from statutory_clock.store.models import ActionItem, MilestoneRecord

            milestones = session.execute(
                select(func.count()).select_from(MilestoneRecord)
            ).scalar_one()
            actions = session.execute(select(func.count()).select_from(ActionItem)).scalar_one()
        started = time.perf_counter()
        with db.transaction(engine) as session:
            rows = outbox.plan_reminders(
                session, as_of + timedelta(days=1), policy, "pm@example.org"
            )
        full = time.perf_counter() - started
        print(
            f"reminders decision, full DAG step on SQLite: {milestones:,} milestones and "
            f"{actions:,} actions in {full:.3f} s ({len(rows)} ledger rows written); "
            "target < 5 s"
        )


if __name__ == "__main__":
    parse_time()
    decision()
