"""Show the statutory clocks of the five councils in the seed documents.

    ./run.sh [--as-of YYYY-MM-DD]

These are the worked cases of docs/statutory-rules.md. The case register (include/demo/*.yaml)
holds their full detail; this view needs only the facts the clock depends on.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from statutory_clock.cli import _as_table, _iso_date
from statutory_clock.engine import CaseFacts, Recommendation, compute_clock

INADEQUATE = {"overall": "inadequate"}
DEMO_CASES: dict[str, CaseFacts] = {
    "London Borough of Bromley, 2010 (seed 004)": CaseFacts(
        "slac2009",
        date(2010, 5, 24),
        judgements={"overall": "adequate"},
        recommendations=(
            Recommendation(1, "Immediately"),
            Recommendation(2, "Within three months"),
            Recommendation(3, "Within six months"),
            Recommendation(4, "Within 12 months"),
        ),
    ),
    "London Borough of Bromley, 2016 (seed 000)": CaseFacts(
        "sif",
        date(2016, 6, 27),
        judgements=INADEQUATE,
        direction=date(2016, 6, 30),
        events={"action_planning_visit": date(2016, 7, 26)},
    ),
    "Buckinghamshire, 2014 (seed 001)": CaseFacts(
        "sif",
        date(2014, 8, 29),
        judgements=INADEQUATE,
    ),
    "London Borough of Croydon, 2017 (seed 002)": CaseFacts(
        "sif",
        date(2017, 9, 4),
        judgements=INADEQUATE,
        direction=date(2017, 9, 4),
    ),
    "London Borough of Tower Hamlets, 2017 (seed 003)": CaseFacts(
        "sif",
        date(2017, 4, 7),
        judgements=INADEQUATE,
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.sh", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="show each milestone's status on this date (default: none)",
    )
    args = parser.parse_args(argv)
    for name, facts in DEMO_CASES.items():
        print(f"\n=== {name}")
        print(_as_table(compute_clock(facts), facts, args.as_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())
