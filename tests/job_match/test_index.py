from datetime import date

from services.job_match.domain import Listing
from services.job_match.index import ListingIndex


def listing(listing_id, skills, expires="2026-12-31", occupation=None):
    return Listing.model_validate({"id": listing_id, "title": "t", "employer": "e", "municipality": "herning",
                                   "occupation": occupation, "required_skills": skills, "published": "2026-11-01",
                                   "expires": expires})


def test_candidates_share_a_term_and_are_open():
    index = ListingIndex([listing("A", ["svejser"]), listing("B", ["kok"]), listing("C", ["welding"], "2026-11-02"),
                          listing("D", ["cooking"], occupation="welder")])
    assert [x.listing.id for x in index.candidates({"welding"}, date(2026, 11, 27))] == ["A", "D"]
    assert [x.listing.id for x in index.candidates({"welding"}, date(2026, 11, 2))] == ["A", "C", "D"]
    assert index.candidates({"nothing"}, date(2026, 11, 27)) == []


def test_a_changed_listing_replaces_its_old_terms():
    index = ListingIndex([listing("A", ["svejser"])])
    index.put(listing("A", ["kok"]))
    assert len(index) == 1
    assert index.candidates({"welding"}, date(2026, 11, 27)) == []
    assert [x.listing.id for x in index.candidates({"cooking"}, date(2026, 11, 27))] == ["A"]
    index.remove("A")
    assert len(index) == 0 and index.candidates({"cooking"}, date(2026, 11, 27)) == []
