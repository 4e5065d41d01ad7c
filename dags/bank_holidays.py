"""Refresh England and Wales bank holidays from GOV.UK, every Monday at 06:00 (Europe/London).

A new bank holiday (a coronation, a state funeral) or a moved one changes the working days every
statutory deadline is counted in. This DAG keeps the register's calendar in line with GOV.UK:

1. **fetch_feed** downloads the feed from the URL in the Airflow Variable
   `statclock_bank_holidays_url` (default `https://www.gov.uk/bank-holidays.json`) and checks
   its shape. No network, an HTTP error, an HTML page or a malformed feed fails this task only,
   with a one-line warning naming the URL and the problem; the calendar is left exactly as it
   is. Network errors and HTTP 5xx are retried; a malformed answer is not.
2. **record_changes** records every date the feed adds or removes in the register's calendar
   (one transaction, each change audited as "bank holiday added" or "bank holiday removed")
   and keeps a copy of the feed at `$STATCLOCK_BANK_HOLIDAYS_COPY` (default
   `var/bank-holidays.json`). Dates an operator added or removed by hand are never overridden.
3. **recompute_affected**, only if something changed, recomputes every open case's clock as of
   the run's day and updates the `statclock_register_cases` asset, so the statutory clock and
   reminders DAGs follow; a deadline that moved then gets its "deadline changed" notice from
   the reminders DAG. When nothing changed this task is skipped and no asset event is sent.

Run it by hand after GOV.UK announces a one-off holiday rather than waiting for Monday.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from statclock_airflow import DEFAULT_ARGS, TAGS, TIMEZONE, cases_asset, register_engine, run_as_of
from statclock_airflow.timetables import CronInWords

URL_VARIABLE = "statclock_bank_holidays_url"
DEFAULT_FEED_URL = "https://www.gov.uk/bank-holidays.json"
ACTOR = "bank_holidays DAG"

log = logging.getLogger(__name__)


@dag(
    schedule=CronInWords("0 6 * * 1", timezone=TIMEZONE),  # "At 06:00, only on Monday"
    start_date=pendulum.datetime(2026, 1, 5, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "calendar"],
    doc_md=__doc__,
)
def bank_holidays() -> None:
    # multiple_outputs=False: a dict return annotation would otherwise push every key as an XCom
    # of its own as well as the whole dict (the feed twice).
    @task(multiple_outputs=False)
    def fetch_feed() -> dict[str, Any]:
        """Download and check the feed; fail (changing nothing) if it is unreachable or wrong."""
        from statutory_clock.calendar import CalendarError
        from statutory_clock.holiday_feed import FeedError, validate_feed
        from statutory_clock.holiday_feed import fetch_feed as download

        url = str(Variable.get(URL_VARIABLE, default=DEFAULT_FEED_URL))
        try:
            payload = download(url)
            feed = validate_feed(payload, source=url)
        except FeedError as error:
            log.warning("Bank holidays not refreshed, the calendar is unchanged: %s", error)
            if error.transient:
                raise  # worth retrying: DEFAULT_ARGS' retries apply
            raise AirflowFailException(str(error)) from None
        except CalendarError as error:
            log.warning("Bank holidays not refreshed, the calendar is unchanged: %s", error)
            raise AirflowFailException(str(error)) from None
        log.info(
            "Fetched %d England and Wales bank holidays for %d-%d from %s",
            len(feed.dates),
            feed.years.start,
            feed.years.stop - 1,
            url,
        )
        return {"url": url, "feed": payload}

    @task(multiple_outputs=False)
    def record_changes(fetched: dict[str, Any]) -> dict[str, Any]:
        """Record each added or removed bank holiday in the register, in one transaction."""
        from statutory_clock.holiday_feed import (
            apply_feed,
            default_copy_path,
            save_feed,
            validate_feed,
        )
        from statutory_clock.store.db import transaction

        url, payload = fetched["url"], fetched["feed"]
        feed = validate_feed(payload, source=url)
        engine = register_engine()
        try:
            with transaction(engine) as session:
                changes = apply_feed(session, feed, actor=ACTOR, source=url)
        finally:
            engine.dispose()
        for day, title in changes.added:
            log.info("Bank holiday added: %s %s", day.isoformat(), title)
        for day in changes.removed:
            log.info("Bank holiday removed: %s", day.isoformat())
        for day in changes.kept:
            log.warning(
                "The feed disagrees with an operator's change for %s; the operator's stands",
                day.isoformat(),
            )
        if not changes.changed:
            log.info("The feed matches the register's calendar: nothing to record")
        # The copy is for operators to read. Failing here, after the commit, would make a retry
        # find nothing to record and skip the recompute, so a copy that cannot be written is
        # only a warning.
        try:
            log.info("Kept a copy of the feed at %s", save_feed(default_copy_path(), payload))
        except OSError as error:
            log.warning("Could not keep a copy of the feed: %s", error)
        return changes.as_dict()

    @task(outlets=[cases_asset()], multiple_outputs=False)
    def recompute_affected(changes: dict[str, Any]) -> dict[str, Any]:
        """Recompute every open case if the calendar changed; skipped (no asset event) if not."""
        if not changes["changed"]:
            raise AirflowSkipException("No bank holiday changed: every deadline stands")
        from statutory_clock.store.db import transaction
        from statutory_clock.store.register import recompute_all

        as_of = run_as_of(get_current_context())
        engine = register_engine()
        try:
            with transaction(engine) as session:
                results = recompute_all(session, as_of=as_of, actor=ACTOR)
        finally:
            engine.dispose()
        moved = [
            [result.key, milestone, old.isoformat(), new.isoformat()]
            for result in results
            for milestone, old, new in result.moved
        ]
        for key, milestone, old, new in moved:
            log.info("Deadline moved: %s %s %s -> %s", key, milestone, old, new)
        log.info(
            "Recomputed %d open cases as of %s: %d deadlines moved",
            len(results),
            as_of.isoformat(),
            len(moved),
        )
        return {
            "as_of": as_of.isoformat(),
            "cases": len(results),
            "cases_changed": sum(1 for result in results if result.changed),
            "moved": moved,
        }

    recompute_affected(record_changes(fetch_feed()))


bank_holidays()
