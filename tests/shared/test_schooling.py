"""The school-age rule both welcome_pack and school_intake use."""

from __future__ import annotations

import pytest

from shared.schooling import SchoolAgeRules, SchoolingStage, age_on, cohort_grade, schooling_stage
from tests.builders import d

RULES = SchoolAgeRules()


@pytest.mark.parametrize(
    ("born", "day", "stage"),
    [
        ("2021-01-10", "2026-09-01", SchoolingStage.UNDER_SCHOOL_AGE),  # turns 6 in 2027
        ("2020-11-20", "2026-09-01", SchoolingStage.COMPULSORY_SCHOOL),  # 5, but turns 6 in 2026: grade 0
        ("2020-11-20", "2026-07-31", SchoolingStage.UNDER_SCHOOL_AGE),  # the school year starts 1 August
        ("2011-06-01", "2026-09-01", SchoolingStage.COMPULSORY_SCHOOL),  # grade 9
        ("2010-03-01", "2026-09-01", SchoolingStage.PAST_COMPULSORY),    # would be grade 10: done at 16
        ("2009-12-31", "2026-07-31", SchoolingStage.PAST_COMPULSORY),    # grade 10 by cohort in 2025/26
        ("2008-09-02", "2026-09-01", SchoolingStage.PAST_COMPULSORY),    # 17 the day before 18
        ("2008-09-01", "2026-09-01", SchoolingStage.ADULT),              # 18 today
    ],
)
def test_schooling_stage(born, day, stage):
    assert schooling_stage(d(born), d(day), RULES) is stage


def test_age_and_cohort_grade_at_their_boundaries():
    assert age_on(d("2020-03-05"), d("2026-03-04")) == 5
    assert age_on(d("2020-03-05"), d("2026-03-05")) == 6
    assert cohort_grade(d("2020-12-31"), d("2026-08-01"), RULES) == 0
    assert cohort_grade(d("2020-12-31"), d("2026-07-31"), RULES) == -1
