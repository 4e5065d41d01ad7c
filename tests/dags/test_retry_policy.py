"""The tasks' retry policy, and the three settings a council's IT team may change it with."""

from __future__ import annotations

from datetime import timedelta

import pytest

from statclock_airflow import DEFAULT_ARGS, retry_policy

SETTINGS = (
    "STATCLOCK_TASK_RETRIES",
    "STATCLOCK_RETRY_DELAY_SECONDS",
    "STATCLOCK_MAX_RETRY_DELAY_SECONDS",
)


@pytest.fixture(autouse=True)
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def test_default_outlasts_half_an_hour_away() -> None:
    policy = retry_policy()
    assert policy == {
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
    }
    # 5, 10 and 20 minutes at least (Airflow doubles, with jitter): 35 minutes before a task
    # fails for good.
    assert sum(5 * 2**n for n in range(policy["retries"])) == 35
    assert {k: DEFAULT_ARGS[k] for k in policy} == policy  # what the DAGs get


def test_settings_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATCLOCK_TASK_RETRIES", "12")
    monkeypatch.setenv("STATCLOCK_RETRY_DELAY_SECONDS", " 20 ")
    monkeypatch.setenv("STATCLOCK_MAX_RETRY_DELAY_SECONDS", "60")
    assert retry_policy() == {
        "retries": 12,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=60),
    }


@pytest.mark.parametrize(
    ("name", "value", "unit"),
    [
        ("STATCLOCK_TASK_RETRIES", "three", "retries"),
        ("STATCLOCK_RETRY_DELAY_SECONDS", "-5", "seconds"),
        ("STATCLOCK_MAX_RETRY_DELAY_SECONDS", "1.5", "seconds"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, unit: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        retry_policy()
    assert str(refused.value) == f"{name} must be a whole number of {unit}, not {value!r}"
