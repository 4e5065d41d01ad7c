"""Writers at the same moment: imports of the same new council follow each other cleanly.

On PostgreSQL each write transaction takes the register's writer lock before it reads what it
will change; on SQLite ``BEGIN IMMEDIATE`` does the same. So a second import of the same new
authority sees the first one's row instead of failing on the unique key.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from statutory_clock.store import db, register
from statutory_clock.store.casefile import load_case_file
from statutory_clock.store.models import Inspection, LocalAuthority

CROYDON = Path(__file__).resolve().parents[2] / "include" / "demo" / "croydon-2017.yaml"
AS_OF = date(2017, 10, 2)


def _at_once(url: str, works: list[Callable[[object], object]]) -> list[object]:
    """Run each work in its own thread and transaction, all released at the same moment."""
    results: list[object] = [None] * len(works)
    start = threading.Barrier(len(works))

    def run(i: int) -> None:
        engine = db.make_engine(url)
        try:
            start.wait()
            with db.transaction(engine) as session:
                results[i] = works[i](session)
        except Exception as exc:  # the test looks at what each one ended with
            results[i] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_two_imports_of_the_same_new_case_at_once(register_engine, register_url):
    doc = load_case_file(CROYDON)
    results = _at_once(register_url, [lambda s: register.import_case(s, doc, "a", AS_OF).key] * 2)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and "croydon-2017" in results, results
    assert isinstance(refused[0], register.RegisterError)
    assert "already in the register" in str(refused[0])
    with db.transaction(register_engine) as session:
        assert session.execute(select(func.count()).select_from(Inspection)).scalar_one() == 1


def test_two_new_cases_of_one_new_council_at_once(register_engine, register_url):
    first = load_case_file(CROYDON)
    second = dataclasses.replace(first, key="croydon-2017-copy")
    results = _at_once(
        register_url,
        [
            lambda s: register.import_case(s, first, "a", AS_OF).key,
            lambda s: register.import_case(s, second, "b", AS_OF).key,
        ],
    )
    assert sorted(results) == ["croydon-2017", "croydon-2017-copy"], results
    with db.transaction(register_engine) as session:
        authorities = session.execute(select(LocalAuthority)).scalars().all()
    assert [a.dfe_code for a in authorities] == ["306"]
