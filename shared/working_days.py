"""Danish working days: Monday to Friday except the public holidays (pure: no I/O, no clock reads).

The holidays come from the `holidays` package, whose Danish "public" category is exactly the statutory list
(nytårsdag, skærtorsdag, langfredag, påskedag, 2. påskedag, Kr. himmelfartsdag, pinsedag, 2. pinsedag, juledag,
2. juledag; Store bededag is gone from 2024). 1 May, grundlovsdag, juleaftensdag and nytårsaftensdag are
customary days off, not public holidays: its "optional" category. A municipality chooses whether to count them
(`count_customary_days_off`).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


class WorkingDays:
    def __init__(self, count_customary_days_off: bool = False):
        categories = (holidays.PUBLIC, holidays.OPTIONAL) if count_customary_days_off else (holidays.PUBLIC,)
        # Years are added as dates are asked about (the package expands itself).
        self._days_off = holidays.country_holidays("DK", categories=categories)
        # A plan asks for the same few (arrival date, days) many times a day, each a walk over the calendar.
        self._walk_cached = lru_cache(maxsize=4096)(self._walk)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._days_off

    def add(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (start itself does not count, whatever day it is)."""
        return self._walk_cached(start, days)

    def _walk(self, start: date, days: int) -> date:
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        while days > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                days -= 1
        return current


@lru_cache(maxsize=2)
def danish_working_days(count_customary_days_off: bool = False) -> WorkingDays:
    """One calendar per choice, shared (building the holiday table costs more than a lookup)."""
    return WorkingDays(count_customary_days_off)
