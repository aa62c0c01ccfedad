"""Pure rules of school intake: what each newcomer child needs, and where. No I/O, no clock reads.

Every number comes from IntakeRules, so a municipality can set its own (see data/<municipality>.json "rules").
Sources for the defaults: ../../shared DOMAIN.md notes (folkeskoleloven, dagtilbudsloven, uvm.dk).
"""

from __future__ import annotations

import math
import uuid
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.events import Address, Child, DanishLevel, NewcomerArrived, OfferAnswer, PurposeOfStay
from shared.schooling import SchoolAgeRules, SchoolingStage, age_on, cohort_grade, months_old, schooling_stage
from shared.workflow import Workflow
from shared.working_days import danish_working_days

_TASK_NAMESPACE = uuid.UUID("3c1e9a8e-77f4-4a5b-8f0e-2d9b6c1a7e21")


class IntakeRules(BaseModel):
    """The numbers behind the rules, with Danish defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    school_start_age: int = 6  # compulsory school starts 1 August of the year the child turns this age
    school_years: int = 10  # grades 0-9
    compulsory_end_age: int = 17  # ends at the latest 31 July of the year the child turns this age
    youth_min_age: int = 15
    adult_age: int = 18
    nursery_until_months: int = 33  # vuggestue/dagpleje under 2 years 9 months, then børnehave
    language_assessment_age: int = 3
    reception_class_capacity: int = Field(default=12, ge=1)
    reception_class_max_grade_span: int = Field(default=3, ge=1)
    small_team_max_pupils: int = Field(default=7, ge=1)
    basic_danish_max_years: int = 2
    limited_stay_months: int = 36  # shorter stays for work also hear of the international school
    school_task_due_working_days: int = 5
    youth_contact_working_days: int = 5
    daycare_task_due_working_days: int = 10
    # 1 May, grundlovsdag, 24 and 31 December: customary days off, not public holidays; counted out if true.
    count_customary_days_off: bool = False
    # A task still new after its due date: its unit is reminded once the date has passed; the administration is told
    # this many working days after the due date. Tasks overdue longer than the look-back are left alone (a
    # first start must not remind of years of old tasks).
    escalate_after_working_days: int = Field(default=3, ge=1)
    # A freed reception-class place offered to the longest-waiting child: the family answers (on its own pages)
    # within this many working days, or the offer lapses and the place goes to the next child in line.
    offer_answer_working_days: int = Field(default=5, ge=1)
    reminder_lookback_days: int = Field(default=30, ge=1)

    @property
    def school_age(self) -> SchoolAgeRules:
        return SchoolAgeRules(school_start_age=self.school_start_age, school_years=self.school_years,
                              compulsory_end_age=self.compulsory_end_age, adult_age=self.adult_age)


class IntakeKind(StrEnum):
    RECEPTION_CLASS = "reception_class"  # basisundervisning in Danish as a second language
    DISTRICT_SCHOOL = "district_school"
    DAYCARE = "daycare"
    YOUTH_GUIDANCE = "youth_guidance"


class TaskStatus(StrEnum):
    NEW = "new"
    WAITLISTED = "waitlisted"  # no reception-class place free yet; offered the next one in order of arrival
    OFFERED = "offered"  # a freed place is held for the child until the family answers (or the deadline passes)
    ACKNOWLEDGED = "acknowledged"
    MEETING_SCHEDULED = "meeting_scheduled"
    PLACED = "placed"
    DECLINED = "declined"
    REDIRECTED = "redirected"


# What staff may do from each status. The system moves WAITLISTED -> OFFERED when a place frees; the family's
# answer moves OFFERED -> NEW (accepted) or -> DECLINED (declined, or no answer by the deadline). Staff who act
# on an offered task first (acknowledge or decline it) make the family's later answer void.
TASK_WORKFLOW = Workflow[TaskStatus]({
    TaskStatus.NEW: frozenset({TaskStatus.ACKNOWLEDGED, TaskStatus.DECLINED, TaskStatus.REDIRECTED}),
    TaskStatus.WAITLISTED: frozenset({TaskStatus.DECLINED}),
    TaskStatus.OFFERED: frozenset({TaskStatus.ACKNOWLEDGED, TaskStatus.DECLINED}),
    TaskStatus.ACKNOWLEDGED: frozenset({TaskStatus.MEETING_SCHEDULED, TaskStatus.DECLINED, TaskStatus.REDIRECTED}),
    TaskStatus.MEETING_SCHEDULED: frozenset({TaskStatus.PLACED, TaskStatus.DECLINED, TaskStatus.REDIRECTED}),
    TaskStatus.PLACED: frozenset(),
    TaskStatus.DECLINED: frozenset(),
    TaskStatus.REDIRECTED: frozenset(),
})


def offer_outcome(status: TaskStatus, deadline: date | None, answer: OfferAnswer,
                  answered_on: date) -> TaskStatus | None:
    """What a family's answer does to its child's task: accepted -> NEW (the school takes it on), declined ->
    DECLINED (the place goes to the next child); None when the answer comes too late or after staff acted."""
    if status is not TaskStatus.OFFERED or deadline is None or answered_on > deadline:
        return None
    return TaskStatus.NEW if answer is OfferAnswer.ACCEPTED else TaskStatus.DECLINED


def offer_lapsed(status: TaskStatus, deadline: date | None, today: date) -> bool:
    return status is TaskStatus.OFFERED and deadline is not None and today > deadline


def frees_place(to: TaskStatus) -> bool:
    """Declining or moving a child gives their reception-class place back."""
    return to in (TaskStatus.DECLINED, TaskStatus.REDIRECTED)


def place_pool_id(school_id: str, grades: tuple[int, int]) -> str:
    """One pool of reception-class places per school and grade band."""
    return f"{school_id}:{grades[0]}-{grades[1]}"


def parse_pool_id(pool_id: str) -> tuple[str, tuple[int, int]]:
    """The school id and grade band a pool id names (the inverse of place_pool_id)."""
    school_id, band = pool_id.rsplit(":", 1)
    low, high = band.split("-")
    return school_id, (int(low), int(high))


@dataclass(frozen=True)
class PlaceInLine:
    """A waitlisted child's place in the line of its grade band: what its number follows from."""

    task_id: str
    case_id: str
    band: tuple[int, int]
    arrival_date: str  # ISO date
    created_at: datetime
    published: int | None = None  # the number last published to the family

    @property
    def order(self) -> tuple[str, datetime, str]:
        """Places are offered in order of arrival, then of registration (as the store's oldest_waitlisted)."""
        return self.arrival_date, self.created_at, self.task_id


def lines_in_order(places: Iterable[PlaceInLine]) -> dict[tuple[int, int], list[PlaceInLine]]:
    """The places of each grade band's line, in the order places are offered."""
    lines: dict[tuple[int, int], list[PlaceInLine]] = {}
    for place in places:
        lines.setdefault(place.band, []).append(place)
    for line in lines.values():
        line.sort(key=lambda p: p.order)
    return lines


def line_numbers(places: Iterable[PlaceInLine]) -> dict[str, int]:
    """Each waitlisted child's number (from 1) in the line of its grade band, by task id."""
    return {place.task_id: number for line in lines_in_order(places).values()
            for number, place in enumerate(line, start=1)}


def place_in_line(task: dict[str, Any]) -> PlaceInLine | None:
    """The task's place in line, if it is waiting in one (a reception-class task, waitlisted, with a grade band)."""
    if (task.get("status") != TaskStatus.WAITLISTED or task.get("kind") != IntakeKind.RECEPTION_CLASS
            or not task.get("grade_band")):
        return None
    low, high = task["grade_band"]
    return PlaceInLine(task_id=task["_id"], case_id=task["case_id"], band=(low, high),
                       arrival_date=task["arrival_date"], created_at=task["created_at"],
                       published=task.get("waitlist_position"))


@dataclass
class WaitingLines:
    """Every waitlisted child's place, as the stored tasks said when last read (pure: no I/O, no clock)."""

    places: dict[str, PlaceInLine] = field(default_factory=dict)
    read_at: datetime | None = None  # when the last read of changes (or of everything) began
    read_whole_at: datetime | None = None  # when the last whole read began
    # Each band's places in order, made when first asked after a read (a joining child is numbered by bisection,
    # not by comparing it with everyone waiting: lines of thousands, fifty children a second).
    _in_order: dict[tuple[int, int], list[tuple[str, datetime, str]]] | None = field(default=None, repr=False)

    def due_for_whole_read(self, now: datetime, every: timedelta) -> bool:
        return self.read_whole_at is None or now - self.read_whole_at >= every

    def read_whole(self, tasks: Iterable[dict[str, Any]], began: datetime) -> None:
        """The lines as a read of every waitlisted task (begun at `began`) found them."""
        self.places = {place.task_id: place for place in map(place_in_line, tasks) if place is not None}
        self.read_at = self.read_whole_at = began
        self._in_order = None

    def read_changes(self, tasks: Iterable[dict[str, Any]], erased_cases: set[str], began: datetime) -> None:
        """What changed, in the order read: a task now waiting takes (or keeps) its place, any other leaves."""
        for task in tasks:
            place = place_in_line(task)
            if place is None:
                self.places.pop(task["_id"], None)
            else:
                self.places[place.task_id] = place
        if erased_cases:
            self.places = {i: p for i, p in self.places.items() if p.case_id not in erased_cases}
        self.read_at = began
        self._in_order = None

    def renumbered(self) -> dict[str, int]:
        """The children whose number is not the one last published to them: task id -> number now."""
        return {task_id: number for task_id, number in line_numbers(self.places.values()).items()
                if self.places[task_id].published != number}

    def numbers_on_joining(self, joining: Iterable[PlaceInLine]) -> dict[str, int] | None:
        """The numbers of children joining their lines now, together (a batch of arrivals): one more than those
        known to wait ahead of each, and than those of the batch ahead of it. None until the lines were first read
        (the job publishes them then). From another replica's joins not read yet a number may be too low: the
        job's next run puts it right."""
        if self.read_whole_at is None:
            return None
        numbers = {}
        for band, line in lines_in_order(joining).items():
            known = self._band_in_order(band)
            for batch_ahead, place in enumerate(line):
                numbers[place.task_id] = 1 + bisect_left(known, place.order) + batch_ahead
        return numbers

    def joined(self, place: PlaceInLine) -> None:
        """A child stored as waiting, with the number it was given (so far as this process knows the line)."""
        if self.read_whole_at is None:
            return
        if self._in_order is not None and place.task_id not in self.places:
            insort(self._in_order.setdefault(place.band, []), place.order)
        else:
            self._in_order = None
        self.places[place.task_id] = place

    def _band_in_order(self, band: tuple[int, int]) -> list[tuple[str, datetime, str]]:
        if self._in_order is None:
            self._in_order = {b: [p.order for p in line] for b, line in lines_in_order(self.places.values()).items()}
        return self._in_order.get(band, [])

    def published(self, task_id: str, number: int) -> None:
        place = self.places.get(task_id)
        if place is not None:
            self.places[task_id] = replace(place, published=number)

    def left(self, task_id: str) -> None:
        if self.places.pop(task_id, None) is not None:
            self._in_order = None


class DaycareType(StrEnum):
    NURSERY = "nursery"  # vuggestue / dagpleje
    KINDERGARTEN = "kindergarten"  # børnehave


class ReceptionClass(BaseModel):
    model_config = ConfigDict(frozen=True)
    grades: tuple[int, int]
    capacity: int | None = Field(default=None, ge=1)  # None: the municipality's reception_class_capacity

    @property
    def places(self) -> int:
        """The capacity; MunicipalityConfig fills in the municipality's default where the file gives none."""
        if self.capacity is None:
            raise ValueError("reception class capacity not resolved: read it through MunicipalityConfig")
        return self.capacity


# An intake mailbox: where a unit hears of new tasks (shared/notify.py). Plain check: one @, no spaces.
Mailbox = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class School(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    mailbox: Mailbox | None = None
    address: str
    grades: tuple[int, int]
    location: tuple[float, float]
    reception_classes: tuple[ReceptionClass, ...] = ()

    def reception_class_for(self, grade: int) -> ReceptionClass | None:
        return next((rc for rc in self.reception_classes if rc.grades[0] <= grade <= rc.grades[1]), None)


class DistrictRange(BaseModel):
    model_config = ConfigDict(frozen=True)
    school_id: str
    postcode: str
    street: str
    from_: int = Field(alias="from")
    to: int


class Unit(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    mailbox: Mailbox | None = None


class DaycareDistrict(Unit):
    postcodes: tuple[str, ...]


class MunicipalityConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    municipality: str
    rules: IntakeRules = IntakeRules()
    schools: tuple[School, ...]
    school_districts: tuple[DistrictRange, ...]
    daycare_districts: tuple[DaycareDistrict, ...]
    school_administration: Unit
    youth_unit: Unit

    @model_validator(mode="after")
    def _reception_classes_follow_the_rules(self) -> MunicipalityConfig:
        span = self.rules.reception_class_max_grade_span
        schools = []
        for school in self.schools:
            classes = []
            for rc in school.reception_classes:
                if rc.grades[1] - rc.grades[0] + 1 > span:
                    raise ValueError(f"{school.id}: a reception class spans at most {span} grade levels, "
                                     f"not {rc.grades[0]}-{rc.grades[1]}")
                classes.append(rc if rc.capacity else rc.model_copy(
                    update={"capacity": self.rules.reception_class_capacity}))
            schools.append(school.model_copy(update={"reception_classes": tuple(classes)}))
        object.__setattr__(self, "schools", tuple(schools))
        known = {s.id for s in self.schools}
        unknown = {d.school_id for d in self.school_districts} - known
        if unknown:
            raise ValueError(f"school districts name unknown schools: {sorted(unknown)}")
        without = [u.id for u in self.units() if not u.mailbox]
        if without:
            raise ValueError(f"every unit needs an intake mailbox (\"mailbox\"); missing for: {', '.join(without)}")
        return self

    def units(self) -> list[School | Unit]:
        """Every unit a task can go to."""
        return [*self.schools, *self.daycare_districts, self.school_administration, self.youth_unit]

    def unit(self, unit_id: str) -> School | Unit:
        return next(u for u in self.units() if u.id == unit_id)

    def school(self, school_id: str) -> School:
        return next(s for s in self.schools if s.id == school_id)


class ReasonCode(StrEnum):
    """Why a child got its kind of intake and unit; staff read it in Danish or English (texts.py)."""

    UNDER_SCHOOL_AGE = "under_school_age"              # school_start_year
    LANGUAGE_ASSESSMENT = "language_assessment"        # Danish not spoken at home
    PAST_COMPULSORY = "past_compulsory"                # age, days
    GRADE_BY_COHORT = "grade_by_cohort"                # grade
    BASIC_DANISH = "basic_danish"                      # level, years
    NEAREST_RECEPTION_CLASS = "nearest_reception_class"
    NO_RECEPTION_CLASS = "no_reception_class"
    DISTRICT_SCHOOL = "district_school"
    NO_DISTRICT = "no_district"


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    params: dict[str, int | str] = Field(default_factory=dict)


def reason(code: ReasonCode, **params: int | str) -> Reason:
    return Reason(code=code, params=params)


class IntakeDecision(BaseModel):
    """What one child needs: the kind of intake, the unit that must act, and by when."""

    model_config = ConfigDict(frozen=True)

    child_index: int
    kind: IntakeKind
    unit_id: str
    unit_name: str
    due_date: date
    grade: int | None = None
    grade_band: tuple[int, int] | None = None
    district_school_id: str | None = None
    supplementary_danish: bool = False
    daycare_type: DaycareType | None = None
    language_assessment_due: date | None = None
    international_school_info: bool = False
    # Reception class: schools offering the grade band, nearest the district school first (seats permitting).
    candidate_school_ids: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()


def task_id_for(case_id: uuid.UUID, child_index: int, kind: IntakeKind) -> uuid.UUID:
    """Deterministic: the same event delivered twice names the same tasks."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{case_id}:{child_index}:{kind.value}")


def add_working_days(start: date, days: int, rules: IntakeRules) -> date:
    """Danish working days: weekends and public holidays (and, if the municipality says so, the customary
    days off) are not counted."""
    return danish_working_days(rules.count_customary_days_off).add(start, days)


def grade_band(grade: int, rules: IntakeRules) -> tuple[int, int]:
    """Reception classes group at most `reception_class_max_grade_span` adjacent grades: 0-2, 3-5, ... by default."""
    span = rules.reception_class_max_grade_span
    low = (grade // span) * span
    return low, min(low + span - 1, rules.school_years - 1)


def district_school(address: Address, config: MunicipalityConfig) -> str | None:
    number = int("".join(ch for ch in address.house_number if ch.isdigit()))
    street = address.street.casefold()
    for district in config.school_districts:
        if (
            district.postcode == address.postcode
            and district.street.casefold() == street
            and district.from_ <= number <= district.to
        ):
            return district.school_id
    return None


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 12742 * math.asin(math.sqrt(h))


def reception_class_schools(grade: int, near: School | None, config: MunicipalityConfig) -> list[School]:
    """Schools with a reception class for this grade, nearest the child's district school first."""
    offering = [s for s in config.schools if s.reception_class_for(grade) is not None]
    if near is None:
        return sorted(offering, key=lambda s: s.id)
    return sorted(offering, key=lambda s: (_distance_km(near.location, s.location), s.id))


def _speaks_danish_at_home(child: Child) -> bool:
    return "da" in child.languages or child.danish_level is DanishLevel.NATIVE


def _limited_stay(arrival: NewcomerArrived, rules: IntakeRules) -> bool:
    months = arrival.newcomer.expected_stay_months
    return (
        arrival.newcomer.purpose_of_stay in (PurposeOfStay.WORK, PurposeOfStay.STUDY)
        and months is not None
        and months < rules.limited_stay_months
    )


def decide_intake(arrival: NewcomerArrived, config: MunicipalityConfig) -> list[IntakeDecision]:
    """One decision per child who needs the municipality to act; adults in the child list get none."""
    decisions = []
    for index, child in enumerate(arrival.household.children):
        decision = decide_for_child(index, child, arrival, config)
        if decision is not None:
            decisions.append(decision)
    return decisions


def decide_for_child(
    index: int, child: Child, arrival: NewcomerArrived, config: MunicipalityConfig
) -> IntakeDecision | None:
    day = arrival.newcomer.arrival_date
    stage = schooling_stage(child.date_of_birth, day, config.rules.school_age)
    if stage is SchoolingStage.ADULT:
        return None
    if stage is SchoolingStage.UNDER_SCHOOL_AGE:
        return _daycare(index, child, arrival, config)
    if stage is SchoolingStage.PAST_COMPULSORY:
        return _youth_guidance(index, child, day, config)
    return _school(index, child, arrival, config)


def _daycare(index: int, child: Child, arrival: NewcomerArrived, config: MunicipalityConfig) -> IntakeDecision:
    rules, day = config.rules, arrival.newcomer.arrival_date
    district = next((d for d in config.daycare_districts if arrival.newcomer.address.postcode in d.postcodes), None)
    unit: Unit = district or config.school_administration
    nursery = months_old(child.date_of_birth, day) < rules.nursery_until_months
    assessment = None
    reasons = [reason(ReasonCode.UNDER_SCHOOL_AGE, school_start_year=child.date_of_birth.year + rules.school_start_age)]
    if not _speaks_danish_at_home(child) and age_on(child.date_of_birth, day) <= rules.language_assessment_age:
        third_birthday = date(child.date_of_birth.year + rules.language_assessment_age, child.date_of_birth.month,
                              min(child.date_of_birth.day, 28))
        assessment = max(third_birthday, day)
        reasons.append(reason(ReasonCode.LANGUAGE_ASSESSMENT))
    return IntakeDecision(
        child_index=index, kind=IntakeKind.DAYCARE, unit_id=unit.id, unit_name=unit.name,
        due_date=add_working_days(day, rules.daycare_task_due_working_days, rules),
        daycare_type=DaycareType.NURSERY if nursery else DaycareType.KINDERGARTEN,
        language_assessment_due=assessment, international_school_info=_limited_stay(arrival, rules),
        reasons=tuple(reasons),
    )


def _youth_guidance(index: int, child: Child, day: date, config: MunicipalityConfig) -> IntakeDecision | None:
    rules = config.rules
    age = age_on(child.date_of_birth, day)
    if age < rules.youth_min_age:
        return None  # cannot happen with the default numbers; a config could make it so
    unit = config.youth_unit
    return IntakeDecision(
        child_index=index, kind=IntakeKind.YOUTH_GUIDANCE, unit_id=unit.id, unit_name=unit.name,
        due_date=add_working_days(day, rules.youth_contact_working_days, rules),
        reasons=(reason(ReasonCode.PAST_COMPULSORY, age=age, days=rules.youth_contact_working_days),),
    )


def _school(index: int, child: Child, arrival: NewcomerArrived, config: MunicipalityConfig) -> IntakeDecision:
    rules, day = config.rules, arrival.newcomer.arrival_date
    grade = cohort_grade(child.date_of_birth, day, rules.school_age)
    limited_stay = _limited_stay(arrival, rules)
    district_id = district_school(arrival.newcomer.address, config)
    district = config.school(district_id) if district_id else None
    due = add_working_days(day, rules.school_task_due_working_days, rules)

    if child.danish_level in (DanishLevel.NONE, DanishLevel.BASIC):
        candidates = reception_class_schools(grade, district, config)
        unit: Unit | School = candidates[0] if candidates else config.school_administration
        # The band of the class the child would join; the rule's own band where no school offers one.
        offered = candidates[0].reception_class_for(grade) if candidates else None
        band = offered.grades if offered else grade_band(grade, rules)
        return IntakeDecision(
            child_index=index, kind=IntakeKind.RECEPTION_CLASS, unit_id=unit.id, unit_name=unit.name,
            due_date=due, grade=grade, grade_band=band, district_school_id=district_id,
            international_school_info=limited_stay, candidate_school_ids=tuple(c.id for c in candidates),
            reasons=(reason(ReasonCode.GRADE_BY_COHORT, grade=grade),
                     reason(ReasonCode.BASIC_DANISH, level=child.danish_level.value,
                            years=rules.basic_danish_max_years),
                     reason(ReasonCode.NEAREST_RECEPTION_CLASS if candidates else ReasonCode.NO_RECEPTION_CLASS)),
        )

    unit = district or config.school_administration
    return IntakeDecision(
        child_index=index, kind=IntakeKind.DISTRICT_SCHOOL, unit_id=unit.id, unit_name=unit.name,
        due_date=due, grade=grade, district_school_id=district_id,
        supplementary_danish=child.danish_level is not DanishLevel.NATIVE,
        international_school_info=limited_stay,
        reasons=(reason(ReasonCode.GRADE_BY_COHORT, grade=grade),
                 reason(ReasonCode.DISTRICT_SCHOOL if district else ReasonCode.NO_DISTRICT)),
    )


class Reminder(StrEnum):
    OVERDUE = "overdue"        # to the unit: the task passed its due date unacknowledged
    ESCALATED = "escalated"    # to the school administration, escalate_after_working_days later


def reminders_due(status: TaskStatus, due: date, today: date, rules: IntakeRules,
                  created: date | None = None) -> list[Reminder]:
    """Which reminders a task has earned by `today` (each is sent once: its id is the task's and the kind's). A
    task registered after its due date (a late registration) counts from the day it was created: its unit has
    just been told of it, not reminded."""
    due = max(due, created) if created is not None else due
    if status is not TaskStatus.NEW or today <= due or (today - due).days > rules.reminder_lookback_days:
        return []
    due_so_far = [Reminder.OVERDUE]
    if today >= add_working_days(due, rules.escalate_after_working_days, rules):
        due_so_far.append(Reminder.ESCALATED)
    return due_so_far

