"""When a child is of school age in Denmark: the one rule both welcome_pack and school_intake use (pure).

Compulsory schooling (undervisningspligt) starts 1 August of the year the child turns 6 and lasts 10 school
years (grades 0-9); it ends at the latest 31 July of the year the child turns 17 (folkeskoleloven; see
DOMAIN.md). Grades follow the age cohort: a child born in November is in grade 0 from the August of the year
they turn 6, while still 5. Deciding by age in years (as the letter once did) disagreed with the intake task
for children born late in the year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


@dataclass(frozen=True)
class SchoolAgeRules:
    school_start_age: int = 6   # compulsory school starts 1 August of the year the child turns this age
    school_years: int = 10      # grades 0-9
    compulsory_end_age: int = 17  # ends at the latest 31 July of the year the child turns this age
    adult_age: int = 18


class SchoolingStage(StrEnum):
    UNDER_SCHOOL_AGE = "under_school_age"   # daycare (and language assessment)
    COMPULSORY_SCHOOL = "compulsory_school"  # grade 0-9 by age cohort
    PAST_COMPULSORY = "past_compulsory"      # 15-17 and done with compulsory schooling: youth guidance
    ADULT = "adult"                           # 18 or older: a newcomer of their own


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def months_old(born: date, day: date) -> int:
    return (day.year - born.year) * 12 + (day.month - born.month) - (day.day < born.day)


def school_year_start(day: date) -> int:
    """The calendar year in which the school year containing `day` began (school years start 1 August)."""
    return day.year if day.month >= 8 else day.year - 1


def cohort_grade(born: date, day: date, rules: SchoolAgeRules) -> int:
    """The grade of the child's age cohort: 0 in the school year starting the year they turn school_start_age."""
    return school_year_start(day) - (born.year + rules.school_start_age)


def compulsory_schooling_ended(born: date, day: date, rules: SchoolAgeRules) -> bool:
    return day > date(born.year + rules.compulsory_end_age, 7, 31) or (
        cohort_grade(born, day, rules) >= rules.school_years
    )


def schooling_stage(born: date, day: date, rules: SchoolAgeRules) -> SchoolingStage:
    if age_on(born, day) >= rules.adult_age:
        return SchoolingStage.ADULT
    if cohort_grade(born, day, rules) < 0:
        return SchoolingStage.UNDER_SCHOOL_AGE
    if compulsory_schooling_ended(born, day, rules):
        return SchoolingStage.PAST_COMPULSORY
    return SchoolingStage.COMPULSORY_SCHOOL
