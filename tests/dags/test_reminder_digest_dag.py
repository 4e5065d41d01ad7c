"""The daily digest through real `dag.test()` runs of the reminders DAG: one email, once."""

from __future__ import annotations

from sqlalchemy import select

from statutory_clock.store import db
from statutory_clock.store.contacts import set_reminders
from statutory_clock.store.models import ReminderLedger
from tests.dags.airflow_runner import run_dag_test
from tests.dags.test_dag_runs import env_for, load_demo
from tests.seeds import BARBARA, barbara_owns_two_croydon_deadlines

WEDNESDAY_6_DEC_2017 = "2017-12-06T07:30:00+00:00"


def test_a_digest_goes_once_however_often_the_dag_runs(register_url, mail, tmp_path):
    url = load_demo(register_url)
    engine = db.make_engine(url)
    with db.transaction(engine) as session:
        barbara_owns_two_croydon_deadlines(session)
        set_reminders(session, "croydon-2017", "Barbara Peacock", "daily digest", "pm")

    env = env_for(url, mail, STATCLOCK_BASE_URL="https://airflow.council.example")
    first = run_dag_test("reminders", env, logical_date=WEDNESDAY_6_DEC_2017, home=tmp_path)
    assert first.state == "success", first.tail()
    (digest,) = [m for m in mail.messages() if m["To"] == BARBARA]
    assert digest["Subject"] == "2 statutory deadlines to act on – Wednesday 6 December 2017"
    text = digest.get_body(("plain",)).get_content()
    assert "https://airflow.council.example/statclock/councils/croydon-2017" in text
    count = len(mail.messages())

    again = run_dag_test("reminders", env, logical_date=WEDNESDAY_6_DEC_2017, home=tmp_path)
    assert again.state == "success", again.tail()
    assert again.xcom == {"decide_reminders": 0, "send_reminders": 0}
    assert len(mail.messages()) == count
    with db.transaction(engine) as session:
        barbaras = session.execute(
            select(ReminderLedger.state, ReminderLedger.message_id).where(
                ReminderLedger.recipient == BARBARA
            )
        ).all()
    engine.dispose()
    assert sorted(barbaras) == [("sent", digest["Message-ID"])] * 2
    assert first.xcom["send_reminders"] == count + 1  # reminders sent: two in the one digest
