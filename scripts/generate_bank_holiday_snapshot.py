"""Regenerate the bundled GOV.UK-format bank holiday snapshot from the `holidays` package.

    .venv/bin/python scripts/generate_bank_holiday_snapshot.py

GOV.UK's own feed only covers a moving window of years, and nothing may be downloaded at run time,
so the product ships this snapshot. The output has GOV.UK's exact shape so that a refreshed feed
and the snapshot go through the same parser. Only weekdays are listed (GOV.UK lists the substitute
weekday, never the weekend date itself).
"""

from __future__ import annotations

import json
from pathlib import Path

import holidays

FIRST_YEAR, LAST_YEAR = 2000, 2035
TARGET = Path(__file__).resolve().parents[1] / "include/statutory_clock/data/bank-holidays.json"
DIVISIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}


def division_events(subdiv: str) -> list[dict[str, object]]:
    found = holidays.country_holidays("GB", subdiv=subdiv, years=range(FIRST_YEAR, LAST_YEAR + 1))
    events = []
    for day, name in sorted(found.items()):
        if day.weekday() >= 5:
            continue
        observed = "(observed)" in name
        events.append(
            {
                "title": name.replace(" (observed)", ""),
                "date": day.isoformat(),
                "notes": "Substitute day" if observed else "",
                "bunting": True,
            }
        )
    return events


def main() -> None:
    feed = {
        division: {"division": division, "events": division_events(subdiv)}
        for division, subdiv in DIVISIONS.items()
    }
    TARGET.write_text(json.dumps(feed, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {TARGET} ({FIRST_YEAR}-{LAST_YEAR})")


if __name__ == "__main__":
    main()
