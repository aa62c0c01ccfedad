"""The family's plan: pure tables (nationality group x purpose x household; due dates across holidays)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.welcome_pack.domain import (
    Actor,
    Document,
    NationalityGroup,
    PlanRules,
    PlanStage,
    RegulatedOccupation,
    StepKind,
    StepState,
    StepStatus,
    nationality_group,
    onboarding_plan,
    plan_progress,
    plan_summary,
    regulated_occupation,
    stage_of,
    step_ids_done_by_intake,
    step_ids_done_by_lead,
    with_job_help_choice,
)
from shared.events import PurposeOfStay
from tests.builders import arrival, child, registration, spouse

K = StepKind
NURSE = RegulatedOccupation(code="nurse", words=("nurse", "sygeplejerske", "krankenschwester"),
                            authority="Styrelsen for Patientsikkerhed", web="https://stps.dk")
RULES = PlanRules(regulated_occupations=(NURSE,))
EVERYONE = {K.DOCUMENTS, K.CPR_REGISTRATION, K.TAX_CARD, K.MITID, K.HEALTH_CARD_AND_GP, K.DIGITAL_POST,
            K.DANISH_EDUCATION, K.INTERNATIONAL_NETWORK}


def household(nationality: str, purpose: str, *, arrived: str = "2026-11-02", with_spouse: bool = True,
              children: list | None = None, occupation: str | None = "svejser"):
    body = registration(with_spouse=with_spouse, children=children or [], nationality=nationality,
                        purpose_of_stay=purpose, arrival_date=arrived)
    if with_spouse:
        body["household"]["spouse"] = spouse(occupation=occupation)
    return arrival(body)


def by_id(steps):
    return {s.id: s for s in steps}


@pytest.mark.parametrize(("nationality", "purpose", "group"), [
    ("SE", "work", NationalityGroup.NORDIC), ("IS", "study", NationalityGroup.NORDIC),
    ("FO", "work", NationalityGroup.NORDIC), ("GL", "other", NationalityGroup.NORDIC),
    ("DE", "work", NationalityGroup.EU_EEA), ("PL", "eu_eea_citizen", NationalityGroup.EU_EEA),
    ("CH", "work", NationalityGroup.EU_EEA), ("LI", "work", NationalityGroup.EU_EEA),
    ("SY", "refugee", NationalityGroup.OTHER), ("IN", "work", NationalityGroup.OTHER),
    ("GB", "work", NationalityGroup.OTHER),  # the UK left the EU
    # Registered as an EU citizen with a nationality we do not list (e.g. a dual national): the EU path.
    ("US", "eu_eea_citizen", NationalityGroup.EU_EEA),
])
def test_nationality_groups(nationality, purpose, group):
    assert nationality_group(nationality, PurposeOfStay(purpose)) is group


def test_a_nordic_single_worker_registers_directly_with_the_home_personal_number():
    steps = onboarding_plan(household("SE", "work", with_spouse=False), RULES)
    assert {s.kind for s in steps} == EVERYONE
    documents = by_id(steps)["documents"]
    assert documents.bring == (Document.PASSPORT, Document.LEASE, Document.HOME_PERSONAL_NUMBER)
    assert documents.stage is PlanStage.ON_ARRIVAL


def test_an_eu_family_with_two_children_and_a_nurse_spouse():
    kids = [child("Lina Weber", "2019-03-05"), child("Omar Weber", "2024-06-20")]  # 7 and 2 on arrival
    steps = by_id(onboarding_plan(household("DE", "work", children=kids, occupation="Krankenschwester"), RULES))
    assert {s.kind for s in steps.values()} == EVERYONE | {
        K.EU_REGISTRATION_CERTIFICATE, K.SCHOOL, K.DAYCARE, K.LANGUAGE_ASSESSMENT, K.JOBCENTER_CONTACT,
        K.FIRST_JOB, K.RECOGNITION}
    assert set(steps) >= {"school:0", "daycare:1", "language_assessment:1"}
    assert steps["school:0"].param("name") == "Lina" and steps["school:0"].actor is Actor.SCHOOL
    assert steps["recognition"].param("authority") == "Styrelsen for Patientsikkerhed"
    assert steps["documents"].bring == (Document.PASSPORT, Document.LEASE, Document.EU_REGISTRATION_CERTIFICATE,
                                        Document.MARRIAGE_CERTIFICATE, Document.BIRTH_CERTIFICATES)


def test_a_refugee_family_with_a_sixteen_year_old():
    # Born June 2010: 16 on arrival, ten school years (from August 2016) behind them: the youth unit, no school.
    steps = by_id(onboarding_plan(household("SY", "refugee", children=[child("Sami Haddad", "2010-06-01")]), RULES))
    assert {s.kind for s in steps.values()} == EVERYONE | {
        K.RESIDENCE_PERMIT, K.INTEGRATION_PROGRAMME, K.YOUTH_GUIDANCE, K.JOBCENTER_CONTACT, K.FIRST_JOB}
    assert steps["youth_guidance:0"].actor is Actor.YOUTH_UNIT
    assert Document.LEGALISED_CERTIFICATES in steps["documents"].bring  # non-EU marriage and birth certificates
    assert Document.RESIDENCE_PERMIT in steps["documents"].bring


def test_a_fifteen_year_old_in_grade_nine_gets_school_and_youth_guidance():
    steps = by_id(onboarding_plan(household("SY", "refugee", children=[child("Noor", "2011-03-01")]), RULES))
    assert {"school:0", "youth_guidance:0"} <= set(steps)


def test_a_seventeen_year_old_past_compulsory_school_gets_youth_guidance_only():
    steps = by_id(onboarding_plan(household("IN", "work", children=[child("Ravi", "2009-03-01")]), RULES))
    assert "youth_guidance:0" in steps and "school:0" not in steps


def test_a_baby_under_the_assessment_age_gets_daycare_only():
    steps = by_id(onboarding_plan(household("IN", "work", children=[child("Baby", "2026-01-10")]), RULES))
    assert "daycare:0" in steps and "language_assessment:0" not in steps


def test_a_spouse_who_wants_no_job_help_has_no_jobcenter_steps():
    body = registration(children=[])
    body["household"]["spouse"]["wants_job_help"] = False
    assert not {K.JOBCENTER_CONTACT, K.FIRST_JOB, K.RECOGNITION} & {s.kind for s in onboarding_plan(arrival(body),
                                                                                                     RULES)}


@pytest.mark.parametrize(("registered", "chosen", "has_jobcenter_steps"), [
    (True, None, True), (True, False, False), (True, True, True), (False, True, True), (False, None, False),
])
def test_the_familys_job_help_choice_brings_or_removes_the_jobcenter_steps(registered, chosen, has_jobcenter_steps):
    body = registration(children=[])
    body["household"]["spouse"] = spouse(occupation="sygeplejerske", wants_job_help=registered)
    kinds = {s.kind for s in onboarding_plan(with_job_help_choice(arrival(body), chosen), RULES)}
    expected = {K.JOBCENTER_CONTACT, K.FIRST_JOB, K.RECOGNITION} if has_jobcenter_steps else set()
    assert kinds & {K.JOBCENTER_CONTACT, K.FIRST_JOB, K.RECOGNITION} == expected
    assert EVERYONE <= kinds  # nothing else moves


def test_a_job_help_choice_without_a_spouse_changes_nothing():
    single = arrival(registration(with_spouse=False, children=[]))
    assert with_job_help_choice(single, True) is single


@pytest.mark.parametrize(("arrived", "days", "due"), [
    ("2026-11-02", 5, "2026-11-09"),  # Monday + 5: the next Monday
    ("2026-11-06", 1, "2026-11-09"),  # Friday + 1: over the weekend
    ("2026-12-21", 5, "2026-12-29"),  # juledag (Fri) and 2. juledag (Sat); 24 December counts by default
    ("2027-03-22", 5, "2027-04-01"),  # skærtorsdag, langfredag, 2. påskedag 2027
    ("2027-05-03", 5, "2027-05-11"),  # Kristi himmelfartsdag 6 May 2027
])
def test_due_dates_count_danish_working_days(arrived, days, due):
    rules = PlanRules(due_working_days={K.CPR_REGISTRATION: days})
    steps = by_id(onboarding_plan(household("SE", "work", arrived=arrived, with_spouse=False), rules))
    assert steps["cpr_registration"].due == date.fromisoformat(due)


def test_a_municipality_may_count_the_customary_days_off():
    rules = PlanRules(due_working_days={K.CPR_REGISTRATION: 5}, count_customary_days_off=True)
    steps = by_id(onboarding_plan(household("SE", "work", arrived="2026-12-21", with_spouse=False), rules))
    assert steps["cpr_registration"].due == date(2026, 12, 30)  # 24 December not counted either


@pytest.mark.parametrize(("days", "stage"), [(0, PlanStage.ON_ARRIVAL), (1, PlanStage.FIRST_WEEK),
                                             (5, PlanStage.FIRST_WEEK), (6, PlanStage.FIRST_MONTH),
                                             (22, PlanStage.FIRST_MONTH), (23, PlanStage.MONTHS_2_6),
                                             (130, PlanStage.MONTHS_2_6), (131, PlanStage.MONTHS_7_12)])
def test_stages(days, stage):
    assert stage_of(days) is stage


def test_steps_are_in_due_order_with_ids_unique():
    kids = [child("A", "2019-03-05"), child("B", "2019-03-05")]  # two children of the same age: two steps
    steps = onboarding_plan(household("SY", "refugee", children=kids), RULES)
    assert [s.due for s in steps] == sorted(s.due for s in steps)
    assert len({s.id for s in steps}) == len(steps)
    assert {"school:0", "school:1"} <= {s.id for s in steps}


@pytest.mark.parametrize(("occupation", "code"), [
    ("Sygeplejerske", "nurse"), ("registered nurse", "nurse"), ("NURSE", "nurse"),
    ("nursery assistant", None),  # a word, not a prefix
    ("svejser", None), (None, None), ("", None),
])
def test_regulated_occupations_match_whole_words(occupation, code):
    found = regulated_occupation(occupation, RULES)
    assert (found.code if found else None) == code


def a_nordic_worker_part_way():
    """The Nordic single worker's plan with documents done, tax card not relevant and CPR set back to do."""
    steps = onboarding_plan(household("SE", "work", with_spouse=False), RULES)
    at = datetime(2026, 11, 3, tzinfo=UTC)
    return steps, {"documents": StepState(StepStatus.DONE, "family", at),
                   "tax_card": StepState(StepStatus.NOT_RELEVANT, "borgerservice", at),
                   "cpr_registration": StepState(StepStatus.TO_DO, "family", at)}


def test_progress_counts_done_open_overdue():
    steps, states = a_nordic_worker_part_way()
    # 2026-11-20: documents (due 2 Nov) done; cpr (9 Nov) and mitid (16 Nov) open and overdue; tax not relevant.
    progress = plan_progress(steps, states, date(2026, 11, 20))
    assert (progress.done, progress.not_relevant, progress.open) == (1, 1, len(steps) - 2)
    assert progress.overdue == 2


def test_the_summary_for_other_services_counts_and_keeps_the_open_due_dates():
    steps, states = a_nordic_worker_part_way()
    summary = plan_summary(steps, states)
    assert (summary.steps, summary.done, summary.not_relevant) == (len(steps), 1, 1)
    # The Nordic single worker's plan (see the table above): cpr 9 Nov, mitid 16 Nov, ... all but the two set.
    assert summary.open_due == sorted(s.due for s in steps if s.id not in ("documents", "tax_card"))
    assert date(2026, 11, 9) in summary.open_due and date(2026, 11, 2) not in summary.open_due
    fresh = plan_summary(steps, {})
    assert (fresh.done, len(fresh.open_due)) == (0, len(steps))


@pytest.mark.parametrize(("kind", "status", "index", "ids"), [
    ("district_school", "placed", 0, ["school:0"]), ("reception_class", "placed", 2, ["school:2"]),
    ("daycare", "placed", 1, ["daycare:1"]), ("youth_guidance", "meeting_scheduled", 0, ["youth_guidance:0"]),
    ("district_school", "acknowledged", 0, []), ("daycare", "placed", None, []),
])
def test_intake_events_tick_the_childs_step(kind, status, index, ids):
    assert step_ids_done_by_intake(kind, status, index) == ids


def test_lead_events_tick_the_spouses_steps():
    assert step_ids_done_by_lead("contacted") == ["jobcenter_contact"]
    assert step_ids_done_by_lead("hired") == ["jobcenter_contact", "first_job"]
    assert step_ids_done_by_lead("not_relevant") == []
    assert step_ids_done_by_lead("withdrawn") == []
