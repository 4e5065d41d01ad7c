"""The council page's form parsers alone: whatever arrives, a typed request or a FormError."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statclock_airflow.ui.forms import (
    PARSERS,
    ActionForm,
    AdjustmentForm,
    EventForm,
    FormInvalid,
    parse_action,
    parse_adjustment,
    parse_event,
)

NAMES = [
    "milestone",
    "date-day",
    "date-month",
    "date-year",
    "note",
    "position",
    "rag",
    "kind",
    "extended-day",
    "extended-month",
    "extended-year",
    "reason",
    "agreed_by",
    "version",
]
VALUES = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["", "1", "12", "2017", "0", "-1", "1e3", "٣", "green", "extension", "a\x00"]),
    st.text(max_size=20).map(lambda t: t * 700),  # long
)


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(sorted(PARSERS)), data=st.dictionaries(st.sampled_from(NAMES), VALUES))
def test_anything_parses_or_is_refused_by_name(form, data):
    try:
        parsed = PARSERS[form](data)
    except FormInvalid as refused:
        assert refused.error.form == form
        assert refused.error.field in {n.split("-")[0] for n in NAMES}
        assert refused.error.message and "\n" not in refused.error.message
        assert len(refused.error.message) < 1_000  # values are shortened (60 escaped chars)
    else:
        assert isinstance(parsed, EventForm | ActionForm | AdjustmentForm)


def test_typed_requests():
    assert parse_event(
        {
            "milestone": "action_planning_visit",
            "date-day": "09",
            "date-month": "5",
            "date-year": "2017",
            "note": "a\r\nb",
            "version": "3",
        }
    ) == EventForm("action_planning_visit", date(2017, 5, 9), "a\nb", 3)
    assert parse_action(
        {
            "position": "2",
            "rag": "not_rated",
            "note": "  ",
            "version": "1",
            "date-day": "",
            "date-month": "",
            "date-year": "",
        }
    ) == ActionForm(2, "not_rated", None, None, 1)
    assert parse_adjustment(
        {
            "milestone": "written_statement_of_action",
            "kind": "waiver",
            "reason": "r",
            "agreed_by": "DfE",
            "version": "7",
            "extended-day": "99",
        }
    ) == AdjustmentForm("written_statement_of_action", "waiver", None, "r", "DfE", 7)


@pytest.mark.parametrize(
    ("day", "month", "year", "message"),
    [
        ("31", "2", "2017", "Date must be a real date (day '31', month '2', year '2017')"),
        ("", "2", "2017", "Date must include a day (day '', month '2', year '2017')"),
        ("1", "", "", "Date must include a month and a year"),
        ("1", "2", "99", "Year must include 4 numbers"),
        ("1", "2", "3000", "Date: '3000-02-01' is outside the dates statclock accepts"),
        ("", "", "", "Enter the date (day '', month '', year '')"),
    ],
)
def test_gov_uk_date_messages(day, month, year, message):
    with pytest.raises(FormInvalid) as refused:
        parse_event(
            {
                "milestone": "m",
                "date-day": day,
                "date-month": month,
                "date-year": year,
                "version": "1",
            }
        )
    assert refused.value.error.field == "date"
    assert message in refused.value.error.message
