"""Ranking and filter tables for job matching."""

from datetime import date

import pytest

from services.job_match import domain
from services.job_match.domain import Listing
from tests.builders import arrival, registration, spouse

TODAY = date(2026, 11, 27)


def listing(**overrides) -> Listing:
    base = {
        "id": "L1", "title": "Svejser", "employer": "Herning Stål A/S", "municipality": "herning",
        "occupation": "welder", "required_skills": ["welding"], "wanted_skills": ["tig welding"],
        "required_languages": [{"language": "en", "level": "B1"}], "education_level": "vocational",
        "published": "2026-11-01", "expires": "2026-12-31",
    }
    base.update(overrides)
    return Listing.model_validate(base)


def profile(purpose="work", **spouse_overrides):
    body = registration(children=[], purpose_of_stay=purpose)
    body["household"]["spouse"] = spouse(**spouse_overrides)
    return domain.spouse_profile(arrival(body))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("Svejser", "welding"), ("welder", "welding"), ("  TIG ", "tig welding"), ("truckcertifikat", "forklift"),
     ("Underwater basket weaving", "underwater basket weaving")],
)
def test_skills_are_normalised_with_danish_and_english_synonyms(text, canonical):
    assert domain.normalise_skill(text) == canonical


def test_the_welder_with_german_and_english_gets_welding_leads_that_do_not_demand_danish():
    welder = profile(occupation="svejser", skills=["TIG", "MIG/MAG"],
                     languages=[{"language": "de", "level": "C1"}, {"language": "en", "level": "B2"}])
    listings = [
        listing(id="ok-en"),
        listing(id="ok-de", required_languages=[{"language": "de", "level": "B1"}]),
        listing(id="needs-danish", required_languages=[{"language": "da", "level": "B1"}]),
        listing(id="nurse", title="Sygeplejerske", occupation="nurse", required_skills=["nursing"], wanted_skills=[]),
    ]
    leads = domain.rank_leads(welder, listings, TODAY, limit=10)
    assert {lead.listing_id for lead in leads} == {"ok-en", "ok-de"}
    summary = leads[0].explanation.summary
    assert "welding" in summary and "meets the language requirements" in summary


@pytest.mark.parametrize(
    ("has", "needs", "is_lead"),
    [("B2", "B2", True), ("B1", "B2", False), ("C2", "B2", True), ("native", "C2", True), ("A2", "B1", False)],
)
def test_a_language_requirement_just_met_or_just_missed(has, needs, is_lead):
    p = profile(languages=[{"language": "en", "level": has}])
    lead = domain.evaluate(p, listing(required_languages=[{"language": "en", "level": needs}]), TODAY)
    assert (lead is not None) is is_lead


def test_every_required_language_must_be_met():
    p = profile(languages=[{"language": "en", "level": "C1"}])
    two = listing(required_languages=[{"language": "en", "level": "B1"}, {"language": "de", "level": "A2"}])
    assert domain.evaluate(p, two, TODAY) is None
    assert domain.unmet_languages(p, two) == ["de A2"]


@pytest.mark.parametrize(
    ("published", "expires", "open_"),
    [("2026-11-01", "2026-11-27", True), ("2026-11-01", "2026-11-26", False), ("2026-11-28", "2026-12-31", False)],
)
def test_expired_and_not_yet_published_listings_never_make_leads(published, expires, open_):
    lead = domain.evaluate(profile(), listing(published=published, expires=expires), TODAY)
    assert (lead is not None) is open_


def test_no_right_to_work_means_no_leads():
    assert domain.evaluate(profile(purpose="other"), listing(), TODAY) is None
    assert domain.evaluate(profile(purpose="work"), listing(), TODAY) is not None


def test_a_spouse_who_does_not_want_job_help_gets_none():
    assert domain.rank_leads(profile(wants_job_help=False), [listing()], TODAY, limit=10) == []


def test_nothing_in_common_is_not_a_lead():
    assert domain.evaluate(profile(), listing(occupation="cook", required_skills=["cooking"], wanted_skills=[]),
                           TODAY) is None


def test_ranking_prefers_more_matched_skills_then_same_municipality():
    p = profile(skills=["TIG", "welding"], occupation=None)
    both = listing(id="both", required_skills=["welding", "tig welding"], wanted_skills=[])
    half = listing(id="half", required_skills=["welding", "cnc machining"], wanted_skills=[])
    elsewhere = listing(id="elsewhere", required_skills=["welding", "tig welding"], wanted_skills=[],
                        municipality="holstebro")
    ranked = [lead.listing_id for lead in domain.rank_leads(p, [half, elsewhere, both], TODAY, limit=10)]
    assert ranked == ["both", "elsewhere", "half"]


def test_explanation_names_what_is_missing():
    p = profile(skills=["welding"], occupation=None)
    lead = domain.evaluate(p, listing(required_skills=["welding", "cnc machining"]), TODAY)
    assert lead.explanation.missing_required_skills == ["cnc machining"]
    assert "missing: cnc machining" in lead.explanation.summary


def test_limit_keeps_the_best():
    p = profile()
    listings = [listing(id=f"L{i}", municipality="herning" if i % 2 else "silkeborg") for i in range(30)]
    leads = domain.rank_leads(p, listings, TODAY, limit=10)
    assert len(leads) == 10
    assert all(lead.municipality == "herning" for lead in leads)


def test_lead_ids_are_one_per_spouse_and_listing():
    p = profile()
    assert domain.lead_id_for(p.case_id, "L1") == domain.lead_id_for(p.case_id, "L1")
    assert domain.lead_id_for(p.case_id, "L1") != domain.lead_id_for(p.case_id, "L2")


L = domain.LeadStatus


@pytest.mark.parametrize(("status", "wants_job_help", "to"), [
    (L.NEW, False, L.WITHDRAWN), (L.CONTACTED, False, L.WITHDRAWN), (L.APPLIED, False, L.WITHDRAWN),
    (L.HIRED, False, None), (L.NOT_RELEVANT, False, None), (L.WITHDRAWN, False, None),
    (L.WITHDRAWN, True, L.NEW), (L.NEW, True, None), (L.CONTACTED, True, None), (L.APPLIED, True, None),
    (L.HIRED, True, None), (L.NOT_RELEVANT, True, None),
])
def test_the_familys_job_help_choice_withdraws_open_leads_and_reopens_withdrawn_ones(status, wants_job_help, to):
    assert domain.family_choice_moves(status, wants_job_help) is to


def test_advisers_cannot_move_a_withdrawn_lead_nor_withdraw_one():
    assert domain.LEAD_WORKFLOW.next_statuses(L.WITHDRAWN) == []
    assert all(L.WITHDRAWN not in domain.LEAD_WORKFLOW.next_statuses(s) for s in L)


def test_every_skill_of_the_vocabulary_has_a_danish_name_for_the_board():
    from services.job_match.vocabulary import DANISH_NAMES, SKILL_SYNONYMS, skill_name

    assert set(DANISH_NAMES) == set(SKILL_SYNONYMS)
    assert skill_name("welding", "da") == "svejsning" and skill_name("welding", "en") == "welding"
    assert skill_name("Underwater basket weaving", "da") == "Underwater basket weaving"  # as the family wrote it
