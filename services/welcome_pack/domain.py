"""Pure rules of the welcome pack: which sections a household's letter has, and the family's plan. No I/O, no
clock reads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events import NewcomerArrived, PlanSummary, PurposeOfStay
from shared.schooling import SchoolAgeRules, SchoolingStage, age_on, schooling_stage
from shared.working_days import danish_working_days

_LETTER_NAMESPACE = uuid.UUID("0b6a4f52-4a7e-4f8e-9b0c-5a1c2d3e4f50")
# Herning's international strategy: Danish, English and German letters; Chinese, Arabic, Russian, Spanish, French.
SUPPORTED_LANGUAGES = ("da", "en", "de", "zh", "ar", "ru", "es", "fr")
RIGHT_TO_LEFT = frozenset({"ar"})
FALLBACK_LANGUAGE = "en"


class LetterSection(StrEnum):
    """The sections of a welcome letter, in the order they are printed."""

    CPR_AND_MITID = "cpr_and_mitid"
    EU_REGISTRATION = "eu_registration"
    DIGITAL_POST = "digital_post"
    HEALTH_CARD_AND_GP = "health_card_and_gp"
    TAX_CARD = "tax_card"
    DANISH_LESSONS = "danish_lessons"
    DAYCARE = "daycare"
    SCHOOL = "school"
    INTERNATIONAL_SCHOOL = "international_school"
    LANGUAGE_ASSESSMENT = "language_assessment"
    SPOUSE_JOB_HELP = "spouse_job_help"
    STUDENTS = "students"
    INTEGRATION_PROGRAMME = "integration_programme"
    LIBRARY_AND_CLUBS = "library_and_clubs"
    INTERNATIONAL_NETWORK = "international_network"
    BORGERSERVICE_CONTACT = "borgerservice_contact"


# The letter follows the same school-age rule as the intake tasks (shared.schooling), with Denmark's numbers.
SCHOOL_AGE_RULES = SchoolAgeRules()


def letter_id_for(case_id: uuid.UUID, language: str) -> uuid.UUID:
    """One letter per case and language: a redelivered event finds the letter it already made."""
    return uuid.uuid5(_LETTER_NAMESPACE, f"{case_id}:{language}")


def letter_language(preferred: str) -> str:
    return preferred if preferred in SUPPORTED_LANGUAGES else FALLBACK_LANGUAGE


def letter_sections(arrival: NewcomerArrived) -> list[LetterSection]:
    purpose = arrival.newcomer.purpose_of_stay
    household = arrival.household
    chosen = {
        LetterSection.CPR_AND_MITID,
        LetterSection.DIGITAL_POST,
        LetterSection.HEALTH_CARD_AND_GP,
        LetterSection.TAX_CARD,
        LetterSection.DANISH_LESSONS,
        LetterSection.LIBRARY_AND_CLUBS,
        LetterSection.INTERNATIONAL_NETWORK,
        LetterSection.BORGERSERVICE_CONTACT,
    }
    if purpose is PurposeOfStay.EU_EEA_CITIZEN:
        chosen.add(LetterSection.EU_REGISTRATION)
    if purpose is PurposeOfStay.STUDY:
        chosen.add(LetterSection.STUDENTS)
    if purpose is PurposeOfStay.REFUGEE:
        chosen.add(LetterSection.INTEGRATION_PROGRAMME)
    stages = {schooling_stage(child.date_of_birth, arrival.newcomer.arrival_date, SCHOOL_AGE_RULES)
              for child in household.children}
    if SchoolingStage.UNDER_SCHOOL_AGE in stages:
        chosen |= {LetterSection.DAYCARE, LetterSection.LANGUAGE_ASSESSMENT}
    if stages & {SchoolingStage.COMPULSORY_SCHOOL, SchoolingStage.PAST_COMPULSORY}:
        chosen |= {LetterSection.SCHOOL, LetterSection.INTERNATIONAL_SCHOOL}
    if household.spouse is not None and household.spouse.wants_job_help:
        chosen.add(LetterSection.SPOUSE_JOB_HELP)
    return [s for s in LetterSection if s in chosen]


# ============================================================================================== the family's plan
# Steps of a household's first year, built from the arrival. Each step's text (what to do, what to bring, who
# acts) is a catalog message keyed by its kind; the facts (places, links, due days, regulated occupations) come
# from data/<municipality>.json "plan". Sources: ../../shared DOMAIN.md ("Checked for the family's plan ...").

NORDIC = frozenset({"DK", "FI", "IS", "NO", "SE", "FO", "GL", "AX"})
EU_EEA_CH = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "EE", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL",
    "PT", "RO", "SK", "SI", "ES",  # EU, without the Nordic members
    "LI", "CH",  # EEA and Switzerland (Iceland and Norway are Nordic)
})


class NationalityGroup(StrEnum):
    NORDIC = "nordic"      # registers directly at Borgerservice, with the home country's personal number
    EU_EEA = "eu_eea"      # the EU registration certificate (SIRI) comes first
    OTHER = "other"        # the residence permit comes first


def nationality_group(nationality: str, purpose: PurposeOfStay) -> NationalityGroup:
    if nationality.upper() in NORDIC:
        return NationalityGroup.NORDIC
    if nationality.upper() in EU_EEA_CH or purpose is PurposeOfStay.EU_EEA_CITIZEN:
        return NationalityGroup.EU_EEA
    return NationalityGroup.OTHER


class PlanStage(StrEnum):
    """When a step falls, from its due date's distance to the arrival (working days)."""

    ON_ARRIVAL = "on_arrival"
    FIRST_WEEK = "first_week"
    FIRST_MONTH = "first_month"
    MONTHS_2_6 = "months_2_6"
    MONTHS_7_12 = "months_7_12"


# The last working day (after arrival) each stage reaches; beyond the last, months 7-12.
_STAGE_ENDS = ((0, PlanStage.ON_ARRIVAL), (5, PlanStage.FIRST_WEEK), (22, PlanStage.FIRST_MONTH),
               (130, PlanStage.MONTHS_2_6))


def stage_of(working_days_after_arrival: int) -> PlanStage:
    return next((stage for end, stage in _STAGE_ENDS if working_days_after_arrival <= end), PlanStage.MONTHS_7_12)


class Actor(StrEnum):
    """Who acts on a step (and, for the steps other services complete, whose event ticks it)."""

    FAMILY = "family"
    BORGERSERVICE = "borgerservice"
    SCHOOL = "school"
    DAYCARE = "daycare"
    YOUTH_UNIT = "youth_unit"
    JOBCENTER = "jobcenter"


class StepKind(StrEnum):
    EU_REGISTRATION_CERTIFICATE = "eu_registration_certificate"
    RESIDENCE_PERMIT = "residence_permit"
    DOCUMENTS = "documents"
    CPR_REGISTRATION = "cpr_registration"
    TAX_CARD = "tax_card"
    MITID = "mitid"
    HEALTH_CARD_AND_GP = "health_card_and_gp"
    DIGITAL_POST = "digital_post"
    DANISH_EDUCATION = "danish_education"
    INTEGRATION_PROGRAMME = "integration_programme"
    DAYCARE = "daycare"
    SCHOOL = "school"
    LANGUAGE_ASSESSMENT = "language_assessment"
    YOUTH_GUIDANCE = "youth_guidance"
    JOBCENTER_CONTACT = "jobcenter_contact"
    RECOGNITION = "recognition"
    FIRST_JOB = "first_job"
    INTERNATIONAL_NETWORK = "international_network"


class Document(StrEnum):
    """What to bring (catalog labels by these codes)."""

    PASSPORT = "passport"
    LEASE = "lease"
    HOME_PERSONAL_NUMBER = "home_personal_number"
    EU_REGISTRATION_CERTIFICATE = "eu_registration_certificate"
    RESIDENCE_PERMIT = "residence_permit"
    MARRIAGE_CERTIFICATE = "marriage_certificate"
    BIRTH_CERTIFICATES = "birth_certificates"
    LEGALISED_CERTIFICATES = "legalised_certificates"  # non-EU certificates: apostilled or legalised
    CPR_NUMBER = "cpr_number"
    QUALIFICATION_PAPERS = "qualification_papers"


class StepStatus(StrEnum):
    TO_DO = "to_do"
    DONE = "done"
    NOT_RELEVANT = "not_relevant"


# The plan's due days (working days after arrival) when the municipality's file does not set them.
DEFAULT_DUE_WORKING_DAYS: dict[StepKind, int] = {
    StepKind.EU_REGISTRATION_CERTIFICATE: 0, StepKind.RESIDENCE_PERMIT: 0, StepKind.DOCUMENTS: 0,
    StepKind.CPR_REGISTRATION: 5, StepKind.SCHOOL: 5, StepKind.YOUTH_GUIDANCE: 5,
    StepKind.TAX_CARD: 10, StepKind.MITID: 10, StepKind.DAYCARE: 10, StepKind.JOBCENTER_CONTACT: 10,
    StepKind.HEALTH_CARD_AND_GP: 15, StepKind.DIGITAL_POST: 20, StepKind.INTEGRATION_PROGRAMME: 20,
    StepKind.DANISH_EDUCATION: 30, StepKind.RECOGNITION: 40, StepKind.INTERNATIONAL_NETWORK: 60,
    StepKind.LANGUAGE_ASSESSMENT: 60, StepKind.FIRST_JOB: 150,
}


class RegulatedOccupation(BaseModel):
    """An occupation regulated in Denmark and the authority that recognises foreign qualifications for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    # Words that name it in a spouse's free-text occupation (any language the registration may use), lower case.
    words: tuple[str, ...]
    authority: str
    web: str


class PlanRules(BaseModel):
    """The municipality's plan facts (data/<municipality>.json "plan")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_working_days: dict[StepKind, int] = Field(default_factory=dict)
    regulated_occupations: tuple[RegulatedOccupation, ...] = ()
    count_customary_days_off: bool = False
    # A child from this age (on arrival) and under school age has the language-assessment step ("around age 3").
    language_assessment_from_age: int = 2
    youth_from_age: int = 15

    def due_days(self, kind: StepKind) -> int:
        return self.due_working_days.get(kind, DEFAULT_DUE_WORKING_DAYS[kind])


@dataclass(frozen=True)
class PlanStep:
    """One step of the plan. `id` is stable for the case (statuses are stored by it); `child` is the child's
    position in the household (0-based) for a child's step; `params` fill the step's catalog texts."""

    id: str
    kind: StepKind
    actor: Actor
    due: date
    stage: PlanStage
    bring: tuple[Document, ...] = ()
    place: str | None = None  # a key of the municipality file's places (borgerservice, jobcenter, ...)
    child: int | None = None
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


def regulated_occupation(occupation: str | None, rules: PlanRules) -> RegulatedOccupation | None:
    """The regulated occupation a free-text occupation names (word match, case-insensitive), if any."""
    if not occupation:
        return None
    words = set(re.findall(r"\w+", occupation.lower()))
    return next((r for r in rules.regulated_occupations if words & set(r.words)), None)


def onboarding_plan(arrival: NewcomerArrived, rules: PlanRules) -> list[PlanStep]:
    """The household's steps, in due-date order (ties: in the order they are built)."""
    calendar = danish_working_days(rules.count_customary_days_off)
    arrived = arrival.newcomer.arrival_date

    def step(kind: StepKind, actor: Actor, *, suffix: str = "", **fields: Any) -> PlanStep:
        days = rules.due_days(kind)
        return PlanStep(id=kind.value + suffix, kind=kind, actor=actor, due=calendar.add(arrived, days),
                        stage=stage_of(days), **fields)

    steps = [*_arrival_steps(arrival, step), *_children_steps(arrival, rules, step),
             *_spouse_steps(arrival, rules, step)]
    order = {s.id: i for i, s in enumerate(steps)}
    return sorted(steps, key=lambda s: (s.due, order[s.id]))


StepMaker = Callable[..., PlanStep]


def documents_to_bring(arrival: NewcomerArrived) -> tuple[Document, ...]:
    group = nationality_group(arrival.newcomer.nationality, arrival.newcomer.purpose_of_stay)
    household = arrival.household
    bring = [Document.PASSPORT, Document.LEASE]
    bring.append({NationalityGroup.NORDIC: Document.HOME_PERSONAL_NUMBER,
                  NationalityGroup.EU_EEA: Document.EU_REGISTRATION_CERTIFICATE,
                  NationalityGroup.OTHER: Document.RESIDENCE_PERMIT}[group])
    if household.spouse is not None:
        bring.append(Document.MARRIAGE_CERTIFICATE)
    if household.children:
        bring.append(Document.BIRTH_CERTIFICATES)
    if group is NationalityGroup.OTHER and (household.spouse is not None or household.children):
        bring.append(Document.LEGALISED_CERTIFICATES)
    return tuple(bring)


def _arrival_steps(arrival: NewcomerArrived, step: StepMaker) -> list[PlanStep]:
    group = nationality_group(arrival.newcomer.nationality, arrival.newcomer.purpose_of_stay)
    steps = []
    if group is NationalityGroup.EU_EEA:
        steps.append(step(StepKind.EU_REGISTRATION_CERTIFICATE, Actor.FAMILY, place="siri"))
    elif group is NationalityGroup.OTHER:
        steps.append(step(StepKind.RESIDENCE_PERMIT, Actor.FAMILY, place="siri"))
    steps += [
        step(StepKind.DOCUMENTS, Actor.FAMILY, bring=documents_to_bring(arrival)),
        step(StepKind.CPR_REGISTRATION, Actor.BORGERSERVICE, place="borgerservice",
             bring=(Document.PASSPORT, Document.LEASE)),
        step(StepKind.TAX_CARD, Actor.FAMILY, place="tax", bring=(Document.CPR_NUMBER,)),
        step(StepKind.MITID, Actor.FAMILY, place="borgerservice", bring=(Document.PASSPORT, Document.CPR_NUMBER)),
        step(StepKind.HEALTH_CARD_AND_GP, Actor.FAMILY, place="borgerservice"),
        step(StepKind.DIGITAL_POST, Actor.FAMILY, place="borgerservice"),
        step(StepKind.DANISH_EDUCATION, Actor.FAMILY, place="language_centre", bring=(Document.CPR_NUMBER,)),
        step(StepKind.INTERNATIONAL_NETWORK, Actor.FAMILY, place="international_network"),
    ]
    if arrival.newcomer.purpose_of_stay is PurposeOfStay.REFUGEE:
        steps.append(step(StepKind.INTEGRATION_PROGRAMME, Actor.JOBCENTER, place="jobcenter"))
    return steps


def _children_steps(arrival: NewcomerArrived, rules: PlanRules, step: StepMaker) -> list[PlanStep]:
    arrived = arrival.newcomer.arrival_date
    steps = []
    for index, child in enumerate(arrival.household.children):
        stage = schooling_stage(child.date_of_birth, arrived, SCHOOL_AGE_RULES)
        age = age_on(child.date_of_birth, arrived)
        common: dict[str, Any] = {"suffix": f":{index}", "child": index,
                                  "params": (("name", first_name(child.full_name)),)}
        if stage is SchoolingStage.UNDER_SCHOOL_AGE:
            steps.append(step(StepKind.DAYCARE, Actor.DAYCARE, place="daycare_signup", **common))
            if age >= rules.language_assessment_from_age:
                steps.append(step(StepKind.LANGUAGE_ASSESSMENT, Actor.DAYCARE, **common))
        elif stage is SchoolingStage.COMPULSORY_SCHOOL:
            steps.append(step(StepKind.SCHOOL, Actor.SCHOOL, bring=(Document.BIRTH_CERTIFICATES,), **common))
        if stage is not SchoolingStage.ADULT and age >= rules.youth_from_age:
            steps.append(step(StepKind.YOUTH_GUIDANCE, Actor.YOUTH_UNIT, **common))
    return steps


def with_job_help_choice(arrival: NewcomerArrived, wants_job_help: bool | None) -> NewcomerArrived:
    """The arrival as the family has since chosen: job help for the spouse on or off (None: never changed). The
    plan follows it (the Jobcenter steps come and go with it)."""
    spouse = arrival.household.spouse
    if spouse is None or wants_job_help is None or spouse.wants_job_help == wants_job_help:
        return arrival
    household = arrival.household.model_copy(
        update={"spouse": spouse.model_copy(update={"wants_job_help": wants_job_help})})
    return arrival.model_copy(update={"household": household})


def _spouse_steps(arrival: NewcomerArrived, rules: PlanRules, step: StepMaker) -> list[PlanStep]:
    spouse = arrival.household.spouse
    if spouse is None or not spouse.wants_job_help:
        return []
    steps = [step(StepKind.JOBCENTER_CONTACT, Actor.JOBCENTER, place="jobcenter"),
             step(StepKind.FIRST_JOB, Actor.FAMILY, place="jobcenter")]
    regulated = regulated_occupation(spouse.occupation, rules)
    if regulated is not None:
        steps.append(step(StepKind.RECOGNITION, Actor.FAMILY, bring=(Document.QUALIFICATION_PAPERS,),
                          params=(("occupation", regulated.code), ("authority", regulated.authority),
                                  ("web", regulated.web))))
    return steps


def first_name(full_name: str) -> str:
    """How the family's pages and mails name a child."""
    return full_name.split()[0]


@dataclass(frozen=True)
class StepState:
    """A step's stored status: who set it and when (absent: to do)."""

    status: StepStatus
    by: str
    at: datetime


def is_overdue(step: PlanStep, state: StepState | None, today: date) -> bool:
    return (state is None or state.status is StepStatus.TO_DO) and step.due < today


@dataclass(frozen=True)
class PlanProgress:
    done: int
    open: int
    overdue: int
    not_relevant: int


def plan_progress(steps: list[PlanStep], states: dict[str, StepState], today: date) -> PlanProgress:
    status = [states[s.id].status if s.id in states else StepStatus.TO_DO for s in steps]
    return PlanProgress(done=status.count(StepStatus.DONE), open=status.count(StepStatus.TO_DO),
                        overdue=sum(is_overdue(s, states.get(s.id), today) for s in steps),
                        not_relevant=status.count(StepStatus.NOT_RELEVANT))


def plan_summary(steps: list[PlanStep], states: dict[str, StepState]) -> PlanSummary:
    """The plan as other services may know it (FamilyPlanProgressed): counts and the open steps' due dates."""
    status = {s.id: states[s.id].status if s.id in states else StepStatus.TO_DO for s in steps}
    return PlanSummary(steps=len(steps), done=sum(v is StepStatus.DONE for v in status.values()),
                       not_relevant=sum(v is StepStatus.NOT_RELEVANT for v in status.values()),
                       open_due=sorted(s.due for s in steps if status[s.id] is StepStatus.TO_DO))


# school_intake's kinds of intake (a child has at most one of each).
INTAKE_KINDS = ("reception_class", "district_school", "daycare", "youth_guidance")

# Which step another service's event completes: (intake kind, status) -> the child's step kind; a job lead's
# status -> the spouse's step(s).
INTAKE_STEP_DONE: dict[tuple[str, str], StepKind] = {
    ("district_school", "placed"): StepKind.SCHOOL, ("reception_class", "placed"): StepKind.SCHOOL,
    ("daycare", "placed"): StepKind.DAYCARE, ("youth_guidance", "placed"): StepKind.YOUTH_GUIDANCE,
    ("youth_guidance", "meeting_scheduled"): StepKind.YOUTH_GUIDANCE,
}
LEAD_STEPS_DONE: dict[str, tuple[StepKind, ...]] = {
    "contacted": (StepKind.JOBCENTER_CONTACT,), "applied": (StepKind.JOBCENTER_CONTACT,),
    "hired": (StepKind.JOBCENTER_CONTACT, StepKind.FIRST_JOB),
}


def step_ids_done_by_intake(kind: str, status: str, child_index: int | None) -> list[str]:
    step = INTAKE_STEP_DONE.get((kind, status))
    return [] if step is None or child_index is None else [f"{step.value}:{child_index}"]


def step_ids_done_by_lead(status: str) -> list[str]:
    return [kind.value for kind in LEAD_STEPS_DONE.get(status, ())]
