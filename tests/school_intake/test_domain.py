"""Table-driven tests of the intake rules at their boundaries."""

from pathlib import Path

import pytest

from services.school_intake import domain
from services.school_intake.domain import DaycareType, IntakeKind, IntakeRules, MunicipalityConfig
from shared.municipality import load_municipality_file
from shared.schooling import compulsory_schooling_ended
from shared.workflow import IllegalTransition
from tests.builders import arrival, child, d, registration

CONFIG = MunicipalityConfig.model_validate(
    load_municipality_file(Path(domain.__file__).parent, "herning")
)


def decide(children, **newcomer):
    return domain.decide_intake(arrival(registration(with_spouse=False, children=children, **newcomer)), CONFIG)


def one(born, arrival_date="2026-11-02", danish="none", languages=None, **newcomer):
    decisions = decide([child("C", born, danish, languages)], arrival_date=arrival_date, **newcomer)
    return decisions[0] if decisions else None


@pytest.mark.parametrize(
    ("born", "arrival_date", "kind", "grade"),
    [
        ("2020-12-31", "2026-09-01", IntakeKind.RECEPTION_CLASS, 0),  # turns 6 in 2026: in grade 0
        ("2021-01-01", "2026-09-01", IntakeKind.DAYCARE, None),  # turns 6 in 2027: not yet
        ("2020-05-01", "2026-07-31", IntakeKind.DAYCARE, None),  # school year 2025/26: still under school age
        ("2020-05-01", "2026-08-01", IntakeKind.RECEPTION_CLASS, 0),  # the school year starts 1 August
        ("2011-03-01", "2026-11-02", IntakeKind.RECEPTION_CLASS, 9),  # 15, in grade 9: still school
        ("2010-03-01", "2026-11-02", IntakeKind.YOUTH_GUIDANCE, None),  # 16, past grade 9
        ("2009-06-01", "2026-11-02", IntakeKind.YOUTH_GUIDANCE, None),  # 17
    ],
)
def test_kind_and_grade_by_birth_date_and_arrival_date(born, arrival_date, kind, grade):
    decision = one(born, arrival_date)
    assert (decision.kind, decision.grade) == (kind, grade)


def test_an_18_year_old_in_the_child_list_gets_no_child_task():
    assert one("2008-01-01") is None


def test_compulsory_schooling_ends_31_july_of_the_year_the_child_turns_17():
    rules = IntakeRules().school_age
    born = d("2010-01-15")
    assert compulsory_schooling_ended(born, d("2027-08-01"), rules)
    # Born late in the year: turns 17 in 2027 too, so the limit is the same 31 July.
    assert not compulsory_schooling_ended(d("2010-12-31"), d("2026-07-31"), rules)
    assert compulsory_schooling_ended(d("2010-12-31"), d("2027-08-01"), rules)


@pytest.mark.parametrize(
    ("danish", "kind", "supplementary"),
    [
        ("none", IntakeKind.RECEPTION_CLASS, False),
        ("basic", IntakeKind.RECEPTION_CLASS, False),
        ("good", IntakeKind.DISTRICT_SCHOOL, True),
        ("native", IntakeKind.DISTRICT_SCHOOL, False),
    ],
)
def test_danish_level_decides_reception_class_or_district_school(danish, kind, supplementary):
    decision = one("2015-04-01", danish=danish)
    assert decision.kind == kind
    assert decision.supplementary_danish is supplementary


def test_district_school_follows_the_address():
    decision = one("2015-04-01", danish="good")
    assert (decision.unit_id, decision.district_school_id) == ("herningsholm", "herningsholm")
    other = one("2015-04-01", danish="good",
                address={"street": "Holstebrovej", "house_number": "150", "postcode": "7400", "city": "Herning"})
    assert other.unit_id == "lindbjerg"


def test_house_number_ranges_are_inclusive():
    at_edge = {"street": "Holstebrovej", "house_number": "99", "postcode": "7400", "city": "Herning"}
    past_edge = {**at_edge, "house_number": "100"}
    assert one("2015-04-01", danish="good", address=at_edge).unit_id == "braendgaard"
    assert one("2015-04-01", danish="good", address=past_edge).unit_id == "lindbjerg"


def test_an_address_outside_every_district_goes_to_the_school_administration():
    decision = one("2015-04-01", danish="good",
                   address={"street": "Ukendt Vej", "house_number": "1", "postcode": "7400", "city": "Herning"})
    assert decision.unit_id == "school-administration"
    assert decision.district_school_id is None


def test_reception_class_goes_to_the_nearest_school_offering_the_grade_band():
    young = one("2019-03-05")  # grade 1: Brændgård and Lindbjerg offer 0-2
    older = one("2012-03-05")  # grade 8: Brændgård offers 6-8, Hammerum 7-9
    assert young.unit_id in {"braendgaard", "lindbjerg"}
    assert young.grade_band == (0, 2)
    assert older.unit_id in {"braendgaard", "hammerum"}
    assert older.grade_band in {(6, 8), (7, 9)}
    ranked = [s.id for s in domain.reception_class_schools(1, CONFIG.school("herningsholm"), CONFIG)]
    assert ranked[0] == young.unit_id and set(ranked) == {"braendgaard", "lindbjerg"}


@pytest.mark.parametrize(
    ("born", "expected"),
    [("2024-02-03", DaycareType.NURSERY), ("2024-02-02", DaycareType.KINDERGARTEN)],  # 2 years 9 months on 2 Nov
)
def test_nursery_under_2_years_9_months_then_kindergarten(born, expected):
    assert one(born).daycare_type == expected


def test_language_assessment_only_when_danish_is_not_spoken_at_home():
    without = one("2024-06-20", languages=["pl"])
    with_danish = one("2024-06-20", languages=["pl", "da"])
    assert without.language_assessment_due == d("2027-06-20")
    assert with_danish.language_assessment_due is None


def test_language_assessment_for_a_three_year_old_is_due_at_arrival():
    assert one("2023-05-01").language_assessment_due == d("2026-11-02")


def test_limited_stay_for_work_notes_the_international_school():
    assert one("2015-04-01", expected_stay_months=24).international_school_info is True
    assert one("2015-04-01", expected_stay_months=48).international_school_info is False
    assert one("2015-04-01", expected_stay_months=24, purpose_of_stay="refugee").international_school_info is False


def test_due_dates_count_working_days():
    rules = domain.IntakeRules()
    assert domain.add_working_days(d("2026-11-27"), 5, rules) == d("2026-12-04")  # Friday -> Friday
    assert domain.add_working_days(d("2026-11-28"), 1, rules) == d("2026-11-30")  # Saturday -> Monday
    assert one("2010-03-01", "2026-11-27").due_date == d("2026-12-04")


def test_due_dates_skip_easter_and_christmas():
    # Skærtorsdag 2 April, langfredag 3 April, 2. påskedag 6 April 2026: 5 working days from 1 April end 13 April.
    assert one("2010-03-01", "2026-04-01").due_date == d("2026-04-13")
    # Juledag 25 December (Friday), nytårsdag 1 January 2027; 24 and 31 December are working days by default.
    assert one("2010-03-01", "2026-12-22").due_date == d("2026-12-30")
    assert one("2010-03-01", "2026-12-29").due_date == d("2027-01-06")


def test_a_municipality_may_count_the_customary_days_off():
    rules = domain.IntakeRules(count_customary_days_off=True)
    # 24 and 31 December then do not count either: 23, 28, 29, 30 December, 4 January.
    assert domain.add_working_days(d("2026-12-22"), 5, rules) == d("2027-01-04")


def test_a_five_year_old_born_in_november_is_in_grade_0_and_goes_to_school():
    [decision] = decide([child("Late", "2020-11-20", "good")], arrival_date="2026-09-01")
    assert decision.kind is domain.IntakeKind.DISTRICT_SCHOOL and decision.grade == 0


def test_the_family_of_four_children_gets_exactly_the_right_four_tasks():
    decisions = decide(
        [
            child("Two", "2024-06-20"),
            child("Seven", "2019-03-05", "none"),
            child("Twelve", "2014-05-10", "good"),
            child("Sixteen", "2010-02-11", "basic"),
        ]
    )
    assert [(x.child_index, x.kind) for x in decisions] == [
        (0, IntakeKind.DAYCARE),
        (1, IntakeKind.RECEPTION_CLASS),
        (2, IntakeKind.DISTRICT_SCHOOL),
        (3, IntakeKind.YOUTH_GUIDANCE),
    ]


def test_numbers_come_from_configuration():
    rules = IntakeRules(school_start_age=7, nursery_until_months=24)
    config = CONFIG.model_copy(update={"rules": rules})
    a = arrival(registration(with_spouse=False, children=[child("C", "2020-05-01"), child("B", "2024-06-20")]))
    first, second = domain.decide_intake(a, config)
    assert first.kind == IntakeKind.DAYCARE  # would be grade 0 with the Danish default of 6
    assert second.daycare_type == DaycareType.KINDERGARTEN  # 28 months


def test_task_ids_are_deterministic():
    a = arrival()
    assert domain.task_id_for(a.case_id, 0, IntakeKind.DAYCARE) == domain.task_id_for(a.case_id, 0, IntakeKind.DAYCARE)
    assert domain.task_id_for(a.case_id, 0, IntakeKind.DAYCARE) != domain.task_id_for(a.case_id, 1, IntakeKind.DAYCARE)


# ---------------------------------------------------------------------------------------------- workflow

LEGAL = {
    ("new", "acknowledged"), ("new", "declined"), ("new", "redirected"),
    ("waitlisted", "declined"),
    ("offered", "acknowledged"), ("offered", "declined"),  # staff acting before the family answers
    ("acknowledged", "meeting_scheduled"), ("acknowledged", "declined"), ("acknowledged", "redirected"),
    ("meeting_scheduled", "placed"), ("meeting_scheduled", "declined"), ("meeting_scheduled", "redirected"),
}


@pytest.mark.parametrize("current", list(domain.TaskStatus))
@pytest.mark.parametrize("to", list(domain.TaskStatus))
def test_every_transition_is_allowed_or_refused_with_the_allowed_ones(current, to):
    if (current.value, to.value) in LEGAL:
        domain.TASK_WORKFLOW.check(current, to)
    else:
        with pytest.raises(IllegalTransition) as refused:
            domain.TASK_WORKFLOW.check(current, to)
        assert refused.value.allowed == sorted(t for c, t in LEGAL if c == current.value)


def test_declining_or_redirecting_frees_the_place_and_nothing_else_does():
    assert {s for s in domain.TaskStatus if domain.frees_place(s)} == {domain.TaskStatus.DECLINED,
                                                                      domain.TaskStatus.REDIRECTED}


def test_reception_classes_without_a_capacity_get_the_municipality_default():
    braendgaard = CONFIG.school("braendgaard")
    assert [rc.capacity for rc in braendgaard.reception_classes] == [12, 12, 12]
    assert CONFIG.school("lindbjerg").reception_classes[1].capacity == 10


def test_a_reception_class_spanning_more_grade_levels_than_allowed_is_refused():
    import json as _json

    raw = _json.loads(_json.dumps(load_municipality_file(Path(domain.__file__).parent, "herning")))
    raw["schools"][0]["reception_classes"] = [{"grades": [0, 3]}]
    with pytest.raises(ValueError, match="spans at most 3 grade levels"):
        MunicipalityConfig.model_validate(raw)
    raw["rules"] = {"reception_class_max_grade_span": 4}
    assert MunicipalityConfig.model_validate(raw).school("braendgaard").reception_classes[0].grades == (0, 3)


def test_reception_class_decision_lists_candidate_schools_nearest_first():
    decision = one("2012-03-05")
    assert decision.candidate_school_ids[0] == decision.unit_id
    assert set(decision.candidate_school_ids) == {"braendgaard", "hammerum"}


def test_pool_ids_name_school_and_grade_band_both_ways():
    assert domain.parse_pool_id(domain.place_pool_id("braendgaard", (6, 8))) == ("braendgaard", (6, 8))


# ------------------------------------------------------------------------------------------------ reminders

@pytest.mark.parametrize(
    ("status", "due", "today", "expected"),
    [
        ("new", "2026-12-04", "2026-12-04", []),                         # the due date itself: not yet
        ("new", "2026-12-04", "2026-12-05", ["overdue"]),                # the day after (a Saturday)
        ("new", "2026-12-04", "2026-12-08", ["overdue"]),                # 2 working days after
        ("new", "2026-12-04", "2026-12-09", ["overdue", "escalated"]),   # 3 working days after: Mon, Tue, Wed
        ("new", "2026-12-22", "2026-12-24", ["overdue"]),                # 23, 24 Dec working; 25, 26 holidays
        ("new", "2026-12-22", "2026-12-27", ["overdue"]),
        ("new", "2026-12-22", "2026-12-28", ["overdue", "escalated"]),   # 23, 24, 28 December
        ("new", "2026-04-01", "2026-04-08", ["overdue"]),                # Easter: 7 April the 1st working day
        ("new", "2026-04-01", "2026-04-09", ["overdue", "escalated"]),   # 7, 8, 9 April
        ("acknowledged", "2026-12-04", "2026-12-20", []),                 # acted on: no reminder
        ("waitlisted", "2026-12-04", "2026-12-20", []),                   # waiting for a place: nothing to do yet
        ("new", "2026-10-01", "2026-12-01", []),                          # beyond the 30-day look-back
    ],
)
def test_reminders_follow_working_days_after_the_due_date(status, due, today, expected):
    got = domain.reminders_due(domain.TaskStatus(status), d(due), d(today), IntakeRules())
    assert [r.value for r in got] == expected


def test_a_task_registered_after_its_due_date_counts_from_its_creation():
    rules, new = IntakeRules(), domain.TaskStatus.NEW
    assert domain.reminders_due(new, d("2026-11-09"), d("2026-12-02"), rules, created=d("2026-12-02")) == []
    assert [r.value for r in domain.reminders_due(new, d("2026-11-09"), d("2026-12-03"), rules,
                                                  created=d("2026-12-02"))] == ["overdue"]
    assert len(domain.reminders_due(new, d("2026-11-09"), d("2026-12-07"), rules, created=d("2026-12-02"))) == 2
