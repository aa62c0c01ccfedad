import pytest

from services.welcome_pack.domain import LetterSection as S
from services.welcome_pack.domain import letter_id_for, letter_language, letter_sections
from tests.builders import arrival, child, registration

ALWAYS = {S.CPR_AND_MITID, S.DIGITAL_POST, S.HEALTH_CARD_AND_GP, S.TAX_CARD, S.DANISH_LESSONS,
          S.LIBRARY_AND_CLUBS, S.INTERNATIONAL_NETWORK, S.BORGERSERVICE_CONTACT}


def sections(body):
    return set(letter_sections(arrival(body)))


def test_single_worker_gets_only_the_sections_everyone_gets():
    assert sections(registration(with_spouse=False, children=[])) == ALWAYS


def test_children_under_school_age_bring_daycare_and_language_assessment():
    got = sections(registration(with_spouse=False, children=[child("Baby", "2025-01-01")]))
    assert got == ALWAYS | {S.DAYCARE, S.LANGUAGE_ASSESSMENT}


def test_school_age_children_bring_school_and_international_school():
    got = sections(registration(with_spouse=False, children=[child("Pupil", "2015-01-01")]))
    assert got == ALWAYS | {S.SCHOOL, S.INTERNATIONAL_SCHOOL}


def test_spouse_who_wants_job_help_brings_the_jobcenter_section():
    assert S.SPOUSE_JOB_HELP in sections(registration(children=[]))
    body = registration(children=[])
    body["household"]["spouse"]["wants_job_help"] = False
    assert S.SPOUSE_JOB_HELP not in sections(body)


@pytest.mark.parametrize(
    ("purpose", "extra"),
    [("study", S.STUDENTS), ("refugee", S.INTEGRATION_PROGRAMME), ("eu_eea_citizen", S.EU_REGISTRATION)],
)
def test_purpose_of_stay_sections(purpose, extra):
    got = sections(registration(with_spouse=False, children=[], purpose_of_stay=purpose))
    assert got == ALWAYS | {extra}


def test_sections_come_in_the_letter_order():
    order = list(S)
    got = letter_sections(arrival(registration()))
    assert got == sorted(got, key=order.index)


def test_language_falls_back_to_english():
    assert letter_language("en") == "en"
    assert letter_language("xx") == "en"


def test_a_five_year_old_born_late_in_the_year_gets_the_school_section_as_the_intake_does():
    """Born November 2020, arriving September 2026: still 5, but grade 0 by cohort (the intake's rule)."""
    got = sections(registration(with_spouse=False, children=[child("Late", "2020-11-20")], arrival_date="2026-09-01"))
    assert got == ALWAYS | {S.SCHOOL, S.INTERNATIONAL_SCHOOL}
    got = sections(registration(with_spouse=False, children=[child("Young", "2021-01-10")], arrival_date="2026-09-01"))
    assert got == ALWAYS | {S.DAYCARE, S.LANGUAGE_ASSESSMENT}


def test_letter_id_is_per_case_and_language():
    a = arrival()
    assert letter_id_for(a.case_id, "en") == letter_id_for(a.case_id, "en")
    assert letter_id_for(a.case_id, "en") != letter_id_for(a.case_id, "da")
