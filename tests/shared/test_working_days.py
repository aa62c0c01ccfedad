"""Danish working days: weekends and public holidays from the `holidays` package (dates checked by hand
against the Danish calendar: Easter Sunday 2026 is 5 April, 2027 is 28 March)."""

from __future__ import annotations

import pytest

from shared.working_days import WorkingDays, danish_working_days
from tests.builders import d


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2026-03-30", 1, "2026-03-31"),   # an ordinary Monday
        ("2026-03-27", 1, "2026-03-30"),   # Friday -> Monday
        ("2026-04-01", 1, "2026-04-07"),   # skærtorsdag, langfredag, weekend, 2. påskedag
        ("2026-04-01", 5, "2026-04-13"),
        ("2026-05-13", 1, "2026-05-15"),   # Kr. himmelfartsdag 14 May
        ("2026-05-22", 1, "2026-05-26"),   # pinse: 24 (Sunday) and 25 May
        ("2026-12-23", 1, "2026-12-24"),   # juleaftensdag is not a public holiday
        ("2026-12-24", 1, "2026-12-28"),   # juledag (Friday), 2. juledag (Saturday)
        ("2026-12-31", 1, "2027-01-04"),   # nytårsdag (Friday)
        ("2027-03-24", 1, "2027-03-30"),   # Easter 2027: 25, 26 and 29 March off
        ("2027-03-24", 2, "2027-03-31"),
        ("2026-06-04", 1, "2026-06-05"),   # grundlovsdag is a customary day off, not a public holiday
        ("2026-11-02", 0, "2026-11-02"),
    ],
)
def test_adding_working_days_skips_weekends_and_public_holidays(start, days, expected):
    assert WorkingDays().add(d(start), days) == d(expected)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2026-12-23", 1, "2026-12-28"),   # 24 December counted out too
        ("2026-12-30", 1, "2027-01-04"),   # 31 December and 1 January
        ("2026-06-04", 1, "2026-06-08"),   # grundlovsdag (Friday)
        ("2026-04-30", 1, "2026-05-04"),   # 1 May (Friday)
    ],
)
def test_a_municipality_can_count_out_the_customary_days_off(start, days, expected):
    assert WorkingDays(count_customary_days_off=True).add(d(start), days) == d(expected)


def test_store_bededag_is_a_holiday_until_2023_only():
    calendar = danish_working_days()
    assert not calendar.is_working_day(d("2023-05-05"))   # 4th Friday after Easter 2023
    assert calendar.is_working_day(d("2024-04-26"))       # abolished from 2024


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        WorkingDays().add(d("2026-11-02"), -1)
