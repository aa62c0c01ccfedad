import json
import uuid

import pytest
from pydantic import ValidationError

from shared.events import NEWCOMER_ARRIVED, Newcomer, UnreadableEvent, to_json
from tests.builders import arrival_event, newcomer, registration


def test_envelope_round_trips_as_json():
    event = arrival_event()
    parsed = NEWCOMER_ARRIVED.parse(to_json(event))
    assert parsed == event
    assert parsed.payload.household.children[0].full_name == "Lina Haddad"


def test_event_has_no_cpr_number_even_when_registration_had_one():
    body = registration()
    assert body["cpr_number"]
    wire = to_json(arrival_event(body)).decode()
    assert "cpr" not in wire.lower()
    assert body["cpr_number"] not in wire


def test_envelope_fields():
    event = json.loads(to_json(arrival_event()))
    assert set(event) == {"event_id", "type", "version", "occurred_at", "correlation_id", "causation_id",
                          "producer", "payload"}
    assert event["type"] == "NewcomerArrived" and event["version"] == 1
    assert event["occurred_at"].endswith("Z")


def test_a_newer_version_with_an_added_optional_field_is_read_by_this_consumer():
    event = json.loads(to_json(arrival_event()))
    event["payload"]["newcomer"]["email"] = "added@in.v2"
    parsed = NEWCOMER_ARRIVED.parse(json.dumps(event).encode())
    assert parsed.payload.newcomer.full_name == "Amira Haddad"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "not a valid NewcomerArrived"),
        (b'{"type": "NewcomerArrived"}', "payload: Field required"),
    ],
)
def test_unreadable_messages_say_why(raw, reason):
    with pytest.raises(UnreadableEvent, match=reason):
        NEWCOMER_ARRIVED.parse(raw)


def test_unknown_version_is_refused_not_guessed():
    event = json.loads(to_json(arrival_event()))
    event["version"] = 3
    with pytest.raises(UnreadableEvent, match="version 3 is not readable"):
        NEWCOMER_ARRIVED.parse(json.dumps(event).encode())


def test_wrong_type_is_refused():
    event = json.loads(to_json(arrival_event()))
    event["type"] = "SomethingElse"
    with pytest.raises(UnreadableEvent, match="expected event type NewcomerArrived"):
        NEWCOMER_ARRIVED.parse(json.dumps(event).encode())


def test_codes_are_normalised_and_checked():
    person = Newcomer.model_validate(newcomer(nationality=" pl ", preferred_language="EN"))
    assert (person.nationality, person.preferred_language) == ("PL", "en")
    with pytest.raises(ValidationError, match="nationality"):
        Newcomer.model_validate(newcomer(nationality="POL"))


def test_dates_must_be_possible():
    with pytest.raises(ValidationError, match="arrival_date cannot be before date_of_birth"):
        Newcomer.model_validate(newcomer(arrival_date="1980-01-01"))
    with pytest.raises(ValidationError, match="date_of_birth cannot be in the future"):
        Newcomer.model_validate(newcomer(date_of_birth="2999-01-01", arrival_date="2999-02-01"))


def test_case_id_is_a_uuid():
    assert isinstance(arrival_event().payload.case_id, uuid.UUID)
