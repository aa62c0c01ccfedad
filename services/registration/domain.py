"""Pure rules of registration: case identity, idempotency fingerprints, CPR handling, the case timeline. No I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from shared.events import (
    Child,
    EventEnvelope,
    FamilyMailRefused,
    FamilyPlanProgressed,
    Household,
    JobLeadsFound,
    JobLeadStatusChanged,
    Newcomer,
    PlanSummary,
    SchoolIntakeStatusChanged,
    WelcomeLetterGenerated,
)
from shared.schooling import age_on

# Namespace for case ids derived from an Idempotency-Key: the same key always names the same case.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d7c1e-2b1a-4a53-9a59-8f4f1f6c0a11")
_CPR = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$")


def case_id_for(idempotency_key: str | None) -> uuid.UUID:
    """A retried POST with the same key names the same case, so the retry cannot create a second one."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)


def request_fingerprint(canonical_json: bytes) -> str:
    return hashlib.sha256(canonical_json).hexdigest()


def normalise_cpr(value: str) -> str:
    """Return a CPR number as DDMMYY-SSSS, or raise ValueError saying what is wrong.

    Only the date part is checked: numbers issued since 2007 need not satisfy the old modulus-11 rule.
    """
    match = _CPR.match(value.strip())
    if not match:
        raise ValueError("CPR number must look like DDMMYY-SSSS")
    day, month, year, serial = match.groups()
    try:
        date(2000 + int(year), int(month), int(day))  # century does not matter for validity, except 29 Feb
    except ValueError:
        try:
            date(1900 + int(year), int(month), int(day))
        except ValueError:
            raise ValueError("CPR number does not start with a valid date (DDMMYY)") from None
    return f"{day}{month}{year}-{serial}"


def mask_cpr(cpr: str | None) -> str | None:
    """Shown where the full number is not needed: the birth date part only."""
    return None if cpr is None else f"{cpr[:6]}-****"


# ------------------------------------------------------------------------------------------------ plausibility
# Input that is well-formed but cannot be true: a newcomer born in 1850, an arrival in 2099, a "child" older than
# their parent. Each problem names the field it is about; the texts (Danish, English) are in PLAUSIBILITY_TEXTS.

EARLIEST_BIRTH = date(1900, 1, 1)
ADULT_AGE = 18
# The earliest age at which any school system starts (the UK's reception year at 4): a child's years of schooling
# cannot exceed their age minus this.
EARLIEST_SCHOOL_AGE = 4


@dataclass(frozen=True)
class ArrivalWindow:
    """How far from today an arrival date may lie (REGISTRATION_ARRIVAL_DAYS_BACK / _AHEAD)."""

    days_back: int = 365
    days_ahead: int = 365


@dataclass(frozen=True)
class Implausible:
    loc: tuple[str | int, ...]        # the field, as pydantic names it: ("household", "children", 0, "date_of_birth")
    code: str                         # a key of PLAUSIBILITY_TEXTS
    params: tuple[tuple[str, str], ...] = ()

    def text(self, language: str) -> str:
        danish, english = PLAUSIBILITY_TEXTS[self.code]
        return (danish if language == "da" else english).format(**dict(self.params))


PLAUSIBILITY_TEXTS: dict[str, tuple[str, str]] = {
    "born_before_1900": ("Fødselsdatoen skal ligge efter 1. januar 1900.", "Date of birth must be after 1900-01-01."),
    "born_after_arrival": ("Fødselsdatoen kan ikke ligge efter ankomstdatoen.",
                           "Date of birth cannot be after the arrival date."),
    "arrival_too_early": ("Ankomstdatoen kan højst ligge {days} dage tilbage.",
                          "Arrival date can be at most {days} days ago."),
    "arrival_too_late": ("Ankomstdatoen kan højst ligge {days} dage frem.",
                         "Arrival date can be at most {days} days ahead."),
    "child_is_adult": ("Barnet er 18 år eller ældre på ankomstdatoen: registrér personen som nytilkommen for sig selv.",
                       "This child is 18 or older on the arrival date: register them as a newcomer of their own."),
    "child_born_before_newcomer": ("Et barn skal være født efter den nytilkomne ({born}).",
                                   "A child must be born after the newcomer ({born})."),
    "child_born_before_spouse": ("Et barn skal være født efter ægtefællen/partneren ({born}).",
                                 "A child must be born after the spouse or partner ({born})."),
    "too_many_school_years": ("Højst {most} års skolegang for et barn på {age} år.",
                              "At most {most} years of schooling for a child aged {age}."),
}


def implausible_fields(newcomer: Newcomer, household: Household, today: date,
                       window: ArrivalWindow) -> list[Implausible]:
    """Every field of a registration that cannot be true, in form order; [] when all is plausible. A date that
    is itself implausible is not compared with others (one wrong year gives one message, not five)."""
    arrival = newcomer.arrival_date
    problems = _arrival(arrival, today, window)
    arrival_known = not problems
    adults: list[tuple[str, date]] = []
    people: list[tuple[str, tuple[str | int, ...], date]] = [
        ("newcomer", ("newcomer", "date_of_birth"), newcomer.date_of_birth)]
    if household.spouse is not None:
        people.append(("spouse", ("household", "spouse", "date_of_birth"), household.spouse.date_of_birth))
    for who, loc, born in people:
        found = _birth_date(loc, born, arrival if arrival_known else None)
        problems += found
        if not found:
            adults.append((who, born))
    for index, child in enumerate(household.children):
        problems += _child(("household", "children", index), child, arrival if arrival_known else None, adults)
    return sorted(problems, key=_form_order)


def _form_order(problem: Implausible) -> int:
    return 0 if problem.loc[0] == "newcomer" and problem.loc[-1] == "date_of_birth" else 1


def _arrival(arrival: date, today: date, window: ArrivalWindow) -> list[Implausible]:
    if arrival < today - timedelta(days=window.days_back):
        return [Implausible(("newcomer", "arrival_date"), "arrival_too_early", (("days", str(window.days_back)),))]
    if arrival > today + timedelta(days=window.days_ahead):
        return [Implausible(("newcomer", "arrival_date"), "arrival_too_late", (("days", str(window.days_ahead)),))]
    return []


def _birth_date(loc: tuple[str | int, ...], born: date, arrival: date | None) -> list[Implausible]:
    if born < EARLIEST_BIRTH:
        return [Implausible(loc, "born_before_1900")]
    if arrival is not None and born > arrival:
        return [Implausible(loc, "born_after_arrival")]
    return []


def _child(loc: tuple[str | int, ...], child: Child, arrival: date | None,
           adults: list[tuple[str, date]]) -> list[Implausible]:
    """Without a plausible arrival date, only what does not depend on it is checked."""
    problems = _birth_date((*loc, "date_of_birth"), child.date_of_birth, arrival)
    if problems:
        return problems
    if arrival is not None and age_on(child.date_of_birth, arrival) >= ADULT_AGE:
        return [Implausible((*loc, "date_of_birth"), "child_is_adult")]
    for who, adult_born in adults:
        if child.date_of_birth <= adult_born:
            return [Implausible((*loc, "date_of_birth"), f"child_born_before_{who}",
                                (("born", adult_born.isoformat()),))]
    if arrival is None:
        return []
    age = age_on(child.date_of_birth, arrival)
    most = max(age - EARLIEST_SCHOOL_AGE, 0)
    if child.years_of_schooling > most:
        return [Implausible((*loc, "years_of_schooling"), "too_many_school_years",
                            (("most", str(most)), ("age", str(age))))]
    return []


# ------------------------------------------------------------------------------------------------ timeline
# What happened downstream of a case, learnt from the other services' events (never by calling them).

class TimelineEntry(BaseModel):
    event_id: uuid.UUID
    case_id: uuid.UUID
    at: datetime
    source: str            # the service that published the event
    kind: str              # "letter" | "intake_task" | "job_lead" | "family_mail"
    record_id: str         # letter, task or lead id in the source service
    status: str
    previous_status: str | None = None
    detail: dict[str, str | None] = {}


def timeline_entries(event: EventEnvelope) -> list[TimelineEntry]:
    """The timeline lines of an event: one, or one per lead found (JobLeadsFound; each keyed by the event and the
    lead, so a redelivery adds nothing)."""
    p = event.payload
    if isinstance(p, JobLeadsFound):
        return [TimelineEntry(event_id=uuid.uuid5(event.event_id, str(lead.lead_id)), case_id=p.case_id,
                              source=event.producer, at=p.found_at, kind="job_lead", record_id=str(lead.lead_id),
                              status="new", detail={"listing_id": lead.listing_id, "reason": None,
                                                    "changed_by": "system"}) for lead in p.leads]
    return [timeline_entry(event)]


def timeline_entry(event: EventEnvelope) -> TimelineEntry:
    """One timeline line from a WelcomeLetterGenerated, SchoolIntakeStatusChanged, JobLeadStatusChanged or
    FamilyMailRefused."""
    p = event.payload
    common = {"event_id": event.event_id, "case_id": p.case_id, "source": event.producer}
    if isinstance(p, WelcomeLetterGenerated):
        return TimelineEntry(**common, at=event.occurred_at, kind="letter", record_id=str(p.letter_id),
                             status="generated", detail={"language": p.language})
    if isinstance(p, SchoolIntakeStatusChanged):
        return TimelineEntry(**common, at=p.changed_at, kind="intake_task", record_id=str(p.task_id), status=p.status,
                             previous_status=p.previous_status,
                             detail={"task_kind": p.kind, "unit_id": p.unit_id, "unit_name": p.unit_name,
                                     "reason": p.reason, "changed_by": p.changed_by})
    if isinstance(p, JobLeadStatusChanged):
        return TimelineEntry(**common, at=p.changed_at, kind="job_lead", record_id=str(p.lead_id), status=p.status,
                             previous_status=p.previous_status,
                             detail={"listing_id": p.listing_id, "reason": p.reason, "changed_by": p.changed_by})
    if isinstance(p, FamilyMailRefused):
        return TimelineEntry(**common, at=p.refused_at, kind="family_mail", record_id=str(p.case_id), status="refused",
                             detail={"smtp_code": str(p.smtp_code) if p.smtp_code else None})
    raise TypeError(f"no timeline entry for {type(p).__name__}")


@dataclass(frozen=True)
class CaseProgress:
    """Where a case stands downstream: the latest state of every letter, intake task and job lead."""

    letters: list[TimelineEntry]
    intake_tasks: list[TimelineEntry]
    job_leads_by_status: dict[str, int]
    # The family's e-mail address was refused by the mail server (welcome_pack's FamilyMailRefused).
    mail_refused: TimelineEntry | None = None

    @property
    def job_leads(self) -> int:
        return sum(self.job_leads_by_status.values())


def case_progress(entries: list[TimelineEntry]) -> CaseProgress:
    latest: dict[tuple[str, str], TimelineEntry] = {}
    # A record's creation (no previous status) comes first whatever its time: a lead found again later (a changed
    # listing matched again) does not undo what an adviser did with it.
    for entry in sorted(entries, key=lambda e: (e.previous_status is not None, e.at)):
        latest[(entry.kind, entry.record_id)] = entry
    by_kind: dict[str, list[TimelineEntry]] = {"letter": [], "intake_task": [], "job_lead": [], "family_mail": []}
    for entry in latest.values():
        by_kind[entry.kind].append(entry)
    leads: dict[str, int] = {}
    for lead in by_kind["job_lead"]:
        leads[lead.status] = leads.get(lead.status, 0) + 1
    return CaseProgress(letters=by_kind["letter"], intake_tasks=by_kind["intake_task"],
                        job_leads_by_status=dict(sorted(leads.items())),
                        mail_refused=by_kind["family_mail"][0] if by_kind["family_mail"] else None)


# ---------------------------------------------------------------------------------------------- the family's plan

def plan_report(event: EventEnvelope) -> dict[str, Any] | None:
    """What to keep of the family's plan from an event (a progress report, or a letter's starting plan)."""
    p = event.payload
    if isinstance(p, FamilyPlanProgressed):
        return {"_id": str(p.case_id), "at": p.changed_at, **p.plan.model_dump(mode="json")}
    if isinstance(p, WelcomeLetterGenerated) and p.plan is not None:
        return {"_id": str(p.case_id), "at": event.occurred_at, **p.plan.model_dump(mode="json")}
    return None


@dataclass(frozen=True)
class PlanOverview:
    """The family's plan on a given day, for the case page."""

    steps: int
    done: int
    open: int
    overdue: int
    not_relevant: int


def plan_overview(report: dict[str, Any], today: date) -> PlanOverview:
    plan = PlanSummary.model_validate({k: v for k, v in report.items() if k not in ("_id", "at")})
    return PlanOverview(steps=plan.steps, done=plan.done, open=len(plan.open_due),
                        overdue=sum(due < today for due in plan.open_due), not_relevant=plan.not_relevant)
