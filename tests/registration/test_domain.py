import uuid
from datetime import UTC, date, datetime

import pytest

from services.registration import domain
from services.registration.domain import PLAUSIBILITY_TEXTS, ArrivalWindow, Implausible, implausible_fields
from shared.events import (
    FAMILY_PLAN_PROGRESSED,
    WELCOME_LETTER_GENERATED,
    FamilyPlanProgressed,
    Household,
    Newcomer,
    PlanSummary,
    WelcomeLetterGenerated,
)
from tests.builders import registration


def test_the_same_idempotency_key_names_the_same_case():
    assert domain.case_id_for("key-123456") == domain.case_id_for("key-123456")
    assert domain.case_id_for("key-123456") != domain.case_id_for("key-123457")


def test_without_a_key_every_case_is_new():
    assert domain.case_id_for(None) != domain.case_id_for(None)
    assert isinstance(domain.case_id_for(None), uuid.UUID)


@pytest.mark.parametrize(("given", "stored"), [("0101901234", "010190-1234"), (" 290200-1234 ", "290200-1234")])
def test_cpr_numbers_are_normalised(given, stored):
    assert domain.normalise_cpr(given) == stored


@pytest.mark.parametrize(
    ("given", "message"),
    [("01019-1234", "DDMMYY-SSSS"), ("320190-1234", "valid date"), ("011390-1234", "valid date"), ("abc", "DDMMYY")],
)
def test_bad_cpr_numbers_are_refused_with_the_reason(given, message):
    with pytest.raises(ValueError, match=message):
        domain.normalise_cpr(given)


def test_29_february_is_valid_in_a_leap_year_of_either_century():
    assert domain.normalise_cpr("290200-1234") == "290200-1234"  # 2000 and 1900: 2000 was a leap year
    with pytest.raises(ValueError):
        domain.normalise_cpr("290201-1234")


def test_masking_keeps_only_the_birth_date():
    assert domain.mask_cpr("010190-1234") == "010190-****"
    assert domain.mask_cpr(None) is None


def test_fingerprint_depends_on_the_request():
    assert domain.request_fingerprint(b"a") == domain.request_fingerprint(b"a")
    assert domain.request_fingerprint(b"a") != domain.request_fingerprint(b"b")


# ------------------------------------------------------------------------------------------- timeline

def _events(case_id):
    from datetime import UTC, datetime, timedelta

    from shared.events import (
        JOB_LEAD_STATUS_CHANGED,
        SCHOOL_INTAKE_STATUS_CHANGED,
        WELCOME_LETTER_GENERATED,
        JobLeadStatusChanged,
        SchoolIntakeStatusChanged,
        WelcomeLetterGenerated,
    )

    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    task, lead_a, lead_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def intake(status, previous, minutes):
        return SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
            case_id=case_id, task_id=task, kind="reception_class", unit_id="brejning", unit_name="Brejning Skole",
            status=status, previous_status=previous, changed_by="Lise", changed_at=t0 + timedelta(minutes=minutes)),
            producer="school_intake", correlation_id=case_id)

    def lead(lead_id, status, previous, minutes):
        return JOB_LEAD_STATUS_CHANGED.envelope(JobLeadStatusChanged(
            case_id=case_id, lead_id=lead_id, listing_id="L1", status=status, previous_status=previous,
            changed_by="system", changed_at=t0 + timedelta(minutes=minutes)), producer="job_match",
                                                correlation_id=case_id)

    letter = WELCOME_LETTER_GENERATED.envelope(WelcomeLetterGenerated(case_id=case_id, letter_id=uuid.uuid4(),
                                                                      language="ar"),
                                               producer="welcome_pack", correlation_id=case_id)
    # Delivered out of order on purpose: the latest change decides the state, not the arrival order.
    return [intake("acknowledged", "new", 30), letter, intake("new", None, 1), lead(lead_a, "new", None, 1),
            lead(lead_b, "new", None, 1), lead(lead_a, "contacted", "new", 50)]


def test_the_case_progress_is_the_latest_state_of_each_letter_task_and_lead():
    case_id = uuid.uuid4()
    entries = [domain.timeline_entry(e) for e in _events(case_id)]
    progress = domain.case_progress(entries)
    assert [(t.status, t.detail["unit_name"]) for t in progress.intake_tasks] == [("acknowledged", "Brejning Skole")]
    assert [letter.detail["language"] for letter in progress.letters] == ["ar"]
    assert progress.job_leads_by_status == {"contacted": 1, "new": 1} and progress.job_leads == 2
    assert {e.case_id for e in entries} == {case_id} and {e.source for e in entries} == {
        "school_intake", "welcome_pack", "job_match"}


def test_one_event_for_the_leads_found_gives_a_line_per_lead_and_a_lead_found_again_keeps_its_state():
    from datetime import UTC, datetime, timedelta

    from shared.events import JOB_LEADS_FOUND, FoundLead, JobLeadsFound

    case_id = uuid.uuid4()
    events = _events(case_id)
    lead_a = events[3].payload.lead_id  # contacted at minute 50 (see _events)
    lead_c = uuid.uuid4()
    found = JOB_LEADS_FOUND.envelope(JobLeadsFound(
        case_id=case_id, found_at=datetime(2026, 11, 2, 11, tzinfo=UTC) + timedelta(hours=1),
        leads=[FoundLead(lead_id=lead_a, listing_id="L1"), FoundLead(lead_id=lead_c, listing_id="L7")]),
        producer="job_match", correlation_id=case_id)
    lines = domain.timeline_entries(found)
    assert [(e.record_id, e.status, e.previous_status, e.detail["listing_id"]) for e in lines] == [
        (str(lead_a), "new", None, "L1"), (str(lead_c), "new", None, "L7")]
    assert [e.event_id for e in domain.timeline_entries(found)] == [e.event_id for e in lines]  # redelivered: same
    assert len({e.event_id for e in lines}) == 2
    entries = [entry for e in [*events, found] for entry in domain.timeline_entries(e)]
    # lead_a was found again later (a changed listing matched again): still contacted, not new.
    assert domain.case_progress(entries).job_leads_by_status == {"contacted": 1, "new": 2}


def test_an_event_without_a_timeline_meaning_is_refused():
    from tests.builders import arrival_event

    with pytest.raises(TypeError):
        domain.timeline_entry(arrival_event())


# ------------------------------------------------------------------------------------------------ plausibility

TODAY = date(2026, 12, 2)
WINDOW = ArrivalWindow(days_back=365, days_ahead=365)


def _problems(body: dict) -> list[tuple[tuple, str]]:
    found = implausible_fields(Newcomer.model_validate(body["newcomer"]),
                               Household.model_validate(body["household"]), TODAY, WINDOW)
    return [(p.loc, p.code) for p in found]


def _family(**changes):
    """A plausible family (arrived 2026-11-02), then `changes` applied: dotted path -> value."""
    body = registration(arrival_date="2026-11-02")
    body["household"]["children"][0]["years_of_schooling"] = 1   # Lina, 7
    for path, value in changes.items():
        node = body
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parents:
            node = node[part]
        node[last] = value
    return body


CHILD0 = ("household", "children", 0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"newcomer.date_of_birth": "1850-01-01"}, [(("newcomer", "date_of_birth"), "born_before_1900")]),
        ({"newcomer.date_of_birth": "1899-12-31"}, [(("newcomer", "date_of_birth"), "born_before_1900")]),
        ({"newcomer.date_of_birth": "1900-01-01", "household.children": []}, []),
        ({"newcomer.date_of_birth": "2026-11-03"}, [(("newcomer", "date_of_birth"), "born_after_arrival")]),
        ({"newcomer.arrival_date": "2099-01-01"}, [(("newcomer", "arrival_date"), "arrival_too_late")]),
        ({"newcomer.arrival_date": "2027-12-02"}, []),                                   # exactly 365 days ahead
        ({"newcomer.arrival_date": "2027-12-03"}, [(("newcomer", "arrival_date"), "arrival_too_late")]),
        ({"newcomer.arrival_date": "2025-12-02"}, []),                                   # exactly 365 days back
        ({"newcomer.arrival_date": "2025-12-01"}, [(("newcomer", "arrival_date"), "arrival_too_early")]),
        ({"household.spouse.date_of_birth": "1801-05-01"},
         [(("household", "spouse", "date_of_birth"), "born_before_1900")]),
        ({"household.spouse.date_of_birth": "2027-01-01"},
         [(("household", "spouse", "date_of_birth"), "born_after_arrival")]),
        ({"household.children.0.date_of_birth": "1980-01-01"}, [((*CHILD0, "date_of_birth"), "child_is_adult")]),
        ({"household.children.0.date_of_birth": "2008-11-02"}, [((*CHILD0, "date_of_birth"), "child_is_adult")]),
        ({"household.children.0.date_of_birth": "2008-11-03", "household.children.0.years_of_schooling": 0}, []),
        ({"household.children.0.date_of_birth": "2026-12-01"}, [((*CHILD0, "date_of_birth"), "born_after_arrival")]),
        ({"newcomer.date_of_birth": "2010-01-01", "household.children.0.date_of_birth": "2009-06-01",
          "household.children.0.years_of_schooling": 0},
         [((*CHILD0, "date_of_birth"), "child_born_before_newcomer")]),
        ({"household.spouse.date_of_birth": "2019-03-05"},
         [((*CHILD0, "date_of_birth"), "child_born_before_spouse")]),       # born the same day as the "parent"
        ({"household.children.0.years_of_schooling": 3}, []),                # 7 years old: at most 3
        ({"household.children.0.years_of_schooling": 4},
         [((*CHILD0, "years_of_schooling"), "too_many_school_years")]),
        ({"household.children.1.years_of_schooling": 1},                    # Omar, 2
         [(("household", "children", 1, "years_of_schooling"), "too_many_school_years")]),
        ({"newcomer.date_of_birth": "1850-01-01", "household.children.1.date_of_birth": "1990-01-01"},
         [(("newcomer", "date_of_birth"), "born_before_1900"),
          (("household", "children", 1, "date_of_birth"), "child_is_adult")]),
    ],
)
def test_implausible_registrations_name_each_field(changes, expected):
    assert _problems(_family(**changes)) == expected


def test_every_plausibility_text_exists_in_danish_and_english_with_its_parameters():
    problem = Implausible(("x",), "too_many_school_years", (("most", "3"), ("age", "7")))
    assert problem.text("da") == "Højst 3 års skolegang for et barn på 7 år."
    assert problem.text("en") == "At most 3 years of schooling for a child aged 7."
    for danish, english in PLAUSIBILITY_TEXTS.values():
        assert danish != english and danish.endswith(".") and english.endswith(".")


@pytest.mark.parametrize(("today", "overdue"), [
    (date(2026, 11, 9), 0),   # the first open step is due that day: not late yet
    (date(2026, 11, 10), 1),
    (date(2026, 11, 17), 2),
    (date(2027, 12, 1), 3),
])
def test_the_plan_overview_counts_what_is_overdue_on_the_day(today, overdue):
    summary = PlanSummary(steps=6, done=2, not_relevant=1,
                          open_due=[date(2026, 11, 9), date(2026, 11, 16), date(2026, 12, 14)])
    report = {"_id": "x", "at": None, **summary.model_dump(mode="json")}
    overview = domain.plan_overview(report, today)
    assert (overview.steps, overview.done, overview.open, overview.not_relevant) == (6, 2, 3, 1)
    assert overview.overdue == overdue


def test_plan_reports_come_from_progress_events_and_letters_with_a_plan():
    case_id = uuid.uuid4()
    summary = PlanSummary(steps=3, done=1, not_relevant=0, open_due=[date(2026, 11, 9), date(2026, 11, 16)])
    progressed = FAMILY_PLAN_PROGRESSED.envelope(
        FamilyPlanProgressed(case_id=case_id, plan=summary, changed_at=datetime(2026, 11, 5, tzinfo=UTC)),
        producer="welcome_pack", correlation_id=case_id)
    letter = WelcomeLetterGenerated(case_id=case_id, letter_id=uuid.uuid4(), language="en")
    old_letter = WELCOME_LETTER_GENERATED.envelope(letter, producer="welcome_pack", correlation_id=case_id)
    new_letter = WELCOME_LETTER_GENERATED.envelope(letter.model_copy(update={"plan": summary}),
                                                   producer="welcome_pack", correlation_id=case_id)
    report = domain.plan_report(progressed)
    assert report["_id"] == str(case_id) and report["at"] == datetime(2026, 11, 5, tzinfo=UTC)
    assert (report["steps"], report["done"], report["open_due"]) == (3, 1, ["2026-11-09", "2026-11-16"])
    assert domain.plan_report(old_letter) is None  # a v1 letter says nothing of the plan
    assert domain.plan_report(new_letter)["at"] == new_letter.occurred_at
