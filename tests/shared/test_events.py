import json
import uuid

import pytest
from pydantic import ValidationError

from shared.events import NEWCOMER_ARRIVED, EventModel, EventSpec, Newcomer, UnreadableEvent, to_json
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
    assert set(event) == {"event_id", "type", "version", "min_reader_version", "occurred_at", "correlation_id",
                          "causation_id", "producer", "payload"}
    assert event["type"] == "NewcomerArrived" and event["version"] == NEWCOMER_ARRIVED.version
    assert event["occurred_at"].endswith("Z")


# Version rules on an event of the tests' own, so that they do not move with the real events' versions.
class Visit(EventModel):
    case_id: uuid.UUID
    place: str


class VisitV2(Visit):
    note: str | None = None


VISIT_V1 = EventSpec[Visit](type="Visit", version=1, topic="tests.visit", payload=Visit)
# A v2 that only adds an optional field, published on the same topic; it says v1 readers can read it.
VISIT_V2 = EventSpec[VisitV2](type="Visit", version=2, topic="tests.visit", payload=VisitV2, min_reader_version=1)


def visit_v2(min_reader_version=1):
    spec = VISIT_V2.model_copy(update={"min_reader_version": min_reader_version})
    case_id = uuid.uuid4()
    return spec.envelope(VisitV2(case_id=case_id, place="Herning", note="added in v2"), producer="tests",
                         correlation_id=case_id)


def test_a_v2_that_adds_an_optional_field_is_read_by_a_v1_consumer():
    parsed = VISIT_V1.parse(to_json(visit_v2()))
    assert parsed.version == 2 and parsed.payload.place == "Herning"
    assert not hasattr(parsed.payload, "note")  # the v1 reader drops what it does not know


def test_a_v2_that_v1_readers_cannot_read_is_refused_not_guessed():
    with pytest.raises(UnreadableEvent, match="version 2 is not readable here .*oldest reader is v2"):
        VISIT_V1.parse(to_json(visit_v2(min_reader_version=2)))


def test_a_v2_reader_reads_the_v1_events_still_on_the_topic_only_when_v2_only_added_fields():
    case_id = uuid.uuid4()
    old = to_json(VISIT_V1.envelope(Visit(case_id=case_id, place="Herning"), producer="tests", correlation_id=case_id))
    assert VISIT_V2.parse(old).payload.note is None
    breaking_v2 = VISIT_V2.model_copy(update={"min_reader_version": 2})
    with pytest.raises(UnreadableEvent, match="version 1 is not readable"):
        breaking_v2.parse(old)


def test_newcomer_arrived_v2_carries_the_contact_and_v1_events_are_still_read():
    assert (NEWCOMER_ARRIVED.version, NEWCOMER_ARRIVED.min_reader_version) == (2, 1)
    body = registration(email="amira@example.org", contact_consent=True)
    parsed = NEWCOMER_ARRIVED.parse(to_json(arrival_event(body)))
    assert (parsed.payload.newcomer.email, parsed.payload.newcomer.contact_consent) == ("amira@example.org", True)
    v1 = json.loads(to_json(arrival_event()))
    v1.update(version=1, min_reader_version=None)
    for field in ("email", "contact_consent"):
        del v1["payload"]["newcomer"][field]
    assert NEWCOMER_ARRIVED.parse(json.dumps(v1).encode()).payload.newcomer.email is None


@pytest.mark.parametrize(
    "path",
    [("payload", "favourite_colour"), ("payload", "newcomer", "pronouns"), ("payload", "household", "spouse", "x"),
     ("payload", "newcomer", "address", "flat"), ("payload", "household", "children", 0, "nickname"), ("trace_id",)],
)
def test_an_unknown_field_in_the_readers_own_version_is_unreadable_at_any_depth(path):
    """Dead-lettered with the field named: a misspelt field must not become a default (e.g. wants_job_help)."""
    event = json.loads(to_json(arrival_event()))
    node = event
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "x"
    with pytest.raises(UnreadableEvent, match=".".join(map(str, path)) + ": Extra inputs are not permitted"):
        NEWCOMER_ARRIVED.parse(json.dumps(event).encode())
    newer = NEWCOMER_ARRIVED.version + 1
    event.update(version=newer, min_reader_version=1)  # the same field in a compatible newer version: dropped
    assert NEWCOMER_ARRIVED.parse(json.dumps(event).encode()).version == newer


def test_unknown_version_is_refused_not_guessed():
    event = json.loads(to_json(arrival_event()))
    event.update(version=9, min_reader_version=9)  # a version that says older readers cannot read it
    with pytest.raises(UnreadableEvent, match="version 9 is not readable"):
        NEWCOMER_ARRIVED.parse(json.dumps(event).encode())


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


def test_unknown_fields_are_refused_at_every_depth():
    with pytest.raises(ValidationError, match="favourite_colour"):
        Newcomer.model_validate(newcomer(favourite_colour="blue"))
    with pytest.raises(ValidationError, match="address.flat"):
        Newcomer.model_validate(newcomer(address={**newcomer()["address"], "flat": "2 tv"}))


def test_case_id_is_a_uuid():
    assert isinstance(arrival_event().payload.case_id, uuid.UUID)
