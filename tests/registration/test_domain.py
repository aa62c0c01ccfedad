import uuid

import pytest

from services.registration import domain


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
