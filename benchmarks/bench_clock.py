"""Benchmark: full statutory clocks for 10,000 synthetic inspections, 2010-2030.

    .venv/bin/python benchmarks/bench_clock.py [--cases 10000]

Side by side in one run:
  * engine      - full clocks (every rule, recurrences, DfE intervention, basis lines)
  * numpy floor - numpy.busday_offset over the same anchors and holidays, for the working-day
                  rules only: a lower bound on what any Python implementation could do
  * naive loop  - the same working-day rules, walking day by day
and the wall time of single `statclock clock` calls. Targets (issue 2): 10,000 clocks under 1 s
on one core; one `statclock clock` call under 0.5 s. The numpy and naive results are checked
against the engine's, so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from statutory_clock import CaseFacts, ClockBuilder
from statutory_clock.calendar import default_calendar

WORKING_DAY_RULES = {"publish_report": 30, "written_statement_of_action": 70}


def synthetic_cases(n: int, seed: int = 20261122) -> list[CaseFacts]:
    rng = random.Random(seed)
    start, span = date(2010, 1, 4), (date(2030, 12, 31) - date(2010, 1, 4)).days
    cases = []
    for _ in range(n):
        published = start + timedelta(days=rng.randrange(span))
        if published < date(2014, 1, 1):
            framework, scale = "slac2009", ["outstanding", "good", "adequate", "inadequate"]
        elif published < date(2019, 1, 1):
            framework, scale = "sif", ["outstanding", "good", "requires_improvement", "inadequate"]
        else:
            framework, scale = (
                "ilacs",
                ["outstanding", "good", "requires_improvement", "inadequate"],
            )
        judgement = rng.choice(scale)
        direction = (
            published + timedelta(days=rng.randrange(5, 60))
            if judgement == "inadequate" and rng.random() < 0.5
            else None
        )
        received = published - timedelta(days=rng.randrange(0, 5)) if rng.random() < 0.3 else None
        cases.append(
            CaseFacts(
                framework,
                published,
                received=received,
                judgements={"overall": judgement},
                direction=direction,
            )
        )
    return cases


REPEATS = 5


def time_engine(cases: list[CaseFacts]) -> tuple[list[float], int, list[dict[str, date]]]:
    """Best and median of REPEATS runs, each with a fresh builder (no clock is reused)."""
    ClockBuilder().compute(cases[0])  # load rulebooks and calendar once per process
    runs = []
    for _ in range(REPEATS):
        builder = ClockBuilder()
        started = time.perf_counter()
        clocks = builder.compute_many(cases)
        runs.append(time.perf_counter() - started)
    count = sum(len(c.milestones) for c in clocks)
    working = [{m.id: m.due for m in c.milestones if m.id in WORKING_DAY_RULES} for c in clocks]
    return runs, count, working


def time_numpy(cases: list[CaseFacts]) -> tuple[float, dict[str, np.ndarray]]:
    cal = default_calendar()
    anchors_py = [c.received or c.published for c in cases]
    years = range(2009, 2032)
    holidays = np.array([d for y in years for d in cal.bank_holidays(y)], dtype="datetime64[D]")
    # Christmas Day and Good Friday are always bank holidays in the list above.
    busdays = np.busdaycalendar(weekmask="1111100", holidays=holidays)
    anchors = np.array(anchors_py, dtype="datetime64[D]")
    started = time.perf_counter()
    # roll="backward": a non-working anchor counts from the working day before it, so +N lands
    # on the Nth working day after the anchor, which is the statutory convention.
    out = {
        rule: np.busday_offset(anchors, n, roll="backward", busdaycal=busdays)
        for rule, n in WORKING_DAY_RULES.items()
    }
    return time.perf_counter() - started, out


def time_naive(cases: list[CaseFacts]) -> tuple[float, dict[str, list[date]]]:
    cal = default_calendar()
    holidays = {d for y in range(2009, 2032) for d in cal.bank_holidays(y)}
    one = timedelta(days=1)

    def nth(anchor: date, n: int) -> date:
        day, counted = anchor, 0
        while counted < n:
            day += one
            if day.weekday() < 5 and day not in holidays:
                counted += 1
        return day

    started = time.perf_counter()
    out = {
        rule: [nth(c.received or c.published, n) for c in cases]
        for rule, n in WORKING_DAY_RULES.items()
    }
    return time.perf_counter() - started, out


def time_cli(runs: int = 7) -> list[float]:
    statclock = shutil.which("statclock", path=str(Path(sys.executable).parent))
    assert statclock, "statclock is not installed in this virtual environment"
    cmd = [
        statclock,
        "clock",
        "--framework",
        "sif",
        "--published",
        "2017-09-04",
        "--judgement",
        "inadequate",
        "--direction",
        "2017-09-04",
        "--format",
        "json",
    ]
    subprocess.run(cmd, check=True, capture_output=True)  # first run fills the rulebook cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    cases = synthetic_cases(args.cases)
    print(f"{len(cases):,} synthetic inspections, published 2010-2030 (seeded)", flush=True)

    engine_runs, milestones, engine_due = time_engine(cases)
    engine_s = statistics.median(engine_runs)
    numpy_s, numpy_due = time_numpy(cases)
    naive_s, naive_due = time_naive(cases)
    for rule in WORKING_DAY_RULES:
        mismatches = sum(
            1
            for i, due in enumerate(engine_due)
            if rule in due
            and (due[rule] != naive_due[rule][i] or due[rule] != numpy_due[rule][i].astype(date))
        )
        assert mismatches == 0, f"{rule}: {mismatches} disagreements between methods"
    cli = time_cli()

    print(
        f"  engine, full clocks     {engine_s:8.3f} s  median of {REPEATS} (best "
        f"{min(engine_runs):.3f} s); {milestones:,} milestones, "
        f"{engine_s / len(cases) * 1e6:.0f} us per clock; target < 1 s"
    )
    print(
        f"  numpy busday_offset     {numpy_s:8.3f} s  (working-day rules only: "
        f"{', '.join(WORKING_DAY_RULES)})"
    )
    print(f"  naive day-by-day loop   {naive_s:8.3f} s  (same working-day rules)")
    print(
        f"  statclock clock (CLI)   median {statistics.median(cli):.3f} s, "
        f"max {max(cli):.3f} s over {len(cli)} runs  target < 0.5 s"
    )
    print("  all three methods agree on every working-day due date")


if __name__ == "__main__":
    main()
