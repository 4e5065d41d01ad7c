"""Benchmark: a national portfolio in the case register, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_register.py [--postgres URL] [--councils 153]

153 councils x 3 inspections each, 20 recommendations and 60 actions per inspection (459 cases,
9,180 recommendations, 27,540 actions). Reports the import time, the time to recompute every
clock (the statutory_clock DAG's daily work: load, compute, update statuses, audit), and the
peak memory of the process. Targets (issue 3): full recompute under 2 s on PostgreSQL; memory
under 500 MB. PostgreSQL: --postgres URL, else $STATCLOCK_TEST_POSTGRES_URL; the benchmark
creates and drops its own database there.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.synthetic

from statutory_clock.store import db, register  # noqa: E402
from statutory_clock.store.case_document import CaseDocument  # noqa: E402
from statutory_clock.store.casefile_typing import ActionDict, CaseFileDict  # noqa: E402
from tests.synthetic import case_file, contact, direction, inspection, recommendations  # noqa: E402


def synthetic_portfolio(councils: int, seed: int = 153) -> list[CaseFileDict]:
    rng = random.Random(seed)
    docs = []
    for c in range(councils):
        code = f"{100 + c:03d}"
        for i, (framework, year) in enumerate([("sif", 2015), ("ilacs", 2019), ("ilacs", 2023)]):
            published = date(year, 1, 5) + timedelta(days=rng.randrange(300))
            judgement = rng.choice(["inadequate", "requires_improvement", "good"])
            actions: list[ActionDict] = [
                {
                    "recommendation": 1 + a % 20,
                    "current_strategy": None,
                    "required_outcome": f"Outcome {a}",
                    "lead_officer": f"Officer {a % 7}",
                    "key_tasks": f"Task list {a}",
                    "progress": [{"date": published + timedelta(days=30), "note": "Started"}],
                    "target_date": published + timedelta(days=180 + a),
                    "status": rng.choice(["red", "amber", "green", "complete", None]),
                    "smt_lead": "Director",
                }
                for a in range(60)
            ]
            manager = contact(
                "Programme Manager", "Improvement programme manager", f"pm@council{code}.gov.uk"
            )
            docs.append(
                case_file(
                    f"la{code}-{i}",
                    f"Council {code}",
                    code,
                    [manager],
                    inspection(
                        framework,
                        published,
                        {"overall": judgement},
                        recommendations(code),
                        actions,
                    ),
                    direction(published) if judgement == "inadequate" else None,
                )
            )
    return docs


def bench(url: str, docs: list[CaseFileDict], label: str) -> None:
    db.upgrade(url)
    engine = db.make_engine(url)
    as_of = date(2024, 6, 3)
    started = time.perf_counter()
    with db.transaction(engine) as session:
        for doc in docs:
            register.import_case(session, CaseDocument.from_dict(doc), "benchmark", as_of)
    imported = time.perf_counter() - started
    timings = []
    for day in (date(2024, 6, 4), date(2024, 6, 5), date(2024, 6, 6)):
        started = time.perf_counter()
        with db.transaction(engine) as session:
            results = register.recompute_all(session, day, "benchmark")
        timings.append(time.perf_counter() - started)
    engine.dispose()
    print(
        f"  {label:<10} import {imported:6.2f} s; recompute all {len(results)} cases: "
        f"{min(timings):.2f} s best, {sorted(timings)[1]:.2f} s median of 3",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--councils", type=int, default=153)
    parser.add_argument("--postgres", default=os.environ.get("STATCLOCK_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    docs = synthetic_portfolio(args.councils)
    recs = sum(len(d["inspection"]["recommendations"]) for d in docs)
    actions = sum(len(d["inspection"]["action_plan"]) for d in docs)
    print(
        f"{args.councils} councils, {len(docs)} inspections, {recs:,} recommendations, "
        f"{actions:,} actions"
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{Path(tmp) / 'bench.db'}", docs, "SQLite")
    if args.postgres:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"statclock_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            bench(url, docs, "PostgreSQL")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        print("  PostgreSQL skipped: pass --postgres URL or set STATCLOCK_TEST_POSTGRES_URL")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory (max RSS) {peak_mb:.0f} MB  target < 500 MB")


if __name__ == "__main__":
    main()
