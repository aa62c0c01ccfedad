"""The event catalogue (docs/asyncapi.yaml) and the event versions' compatibility."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from shared import asyncapi
from shared.events import ALL_EVENTS, EventSpec, Newcomer, NewcomerArrived
from shared.schema_compat import breaking_changes


def test_the_checked_in_catalogue_is_what_the_models_generate():
    assert asyncapi.DOCUMENT.read_text() == asyncapi.render(), "run: python -m shared.asyncapi"


def test_the_catalogue_names_every_topic_with_its_key_publishers_and_consumers():
    doc = yaml.safe_load(asyncapi.DOCUMENT.read_text())
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {spec.topic for spec in ALL_EVENTS}
    arrived = doc["channels"]["newcomerArrived"]
    assert "Published by registration; consumed by welcome_pack, school_intake, job_match" in arrived["description"]
    message = doc["components"]["messages"]["NewcomerArrivedV2"]
    assert message["bindings"]["kafka"]["key"]["description"] == "payload.case_id"
    operations = {(o["x-service"], o["action"]) for o in doc["operations"].values()
                  if o["channel"]["$ref"] == "#/channels/newcomerArrived"}
    assert operations == {("registration", "send"), ("welcome_pack", "receive"), ("school_intake", "receive"),
                          ("job_match", "receive")}
    # Every $ref resolves inside the document.
    text = asyncapi.DOCUMENT.read_text()
    for ref in set(re.findall(r"\$ref: '#/([^']+)'", text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
    assert "cpr" not in json.dumps(doc["components"]["schemas"]).lower()


@pytest.mark.parametrize("spec", ALL_EVENTS, ids=lambda s: f"{s.type}.v{s.version}")
def test_a_published_version_is_never_changed(spec: EventSpec):
    snapshot = json.loads(asyncapi.snapshot_path(spec).read_text())
    assert snapshot == json.loads(json.dumps(asyncapi.payload_schema(spec))), (
        f"{spec.type} v{spec.version} changed after it was published: add v{spec.version + 1} (optional fields "
        f"only, min_reader_version={spec.version}) or a new topic")


def test_each_version_is_readable_by_the_readers_of_the_version_before():
    by_type: dict[str, list[int]] = {}
    for path in asyncapi.SNAPSHOTS.glob("*.json"):
        event_type, version = path.stem.rsplit(".v", 1)
        by_type.setdefault(event_type, []).append(int(version))
    assert set(by_type) == {spec.type for spec in ALL_EVENTS}
    for event_type, versions in by_type.items():
        for older, newer in zip(sorted(versions), sorted(versions)[1:], strict=False):
            old = json.loads((asyncapi.SNAPSHOTS / f"{event_type}.v{older}.json").read_text())
            new = json.loads((asyncapi.SNAPSHOTS / f"{event_type}.v{newer}.json").read_text())
            assert breaking_changes(old, new) == [], f"{event_type} v{older} -> v{newer}"


# ------------------------------------------------------------------------- the compatibility check itself

class NewcomerWithEmail(Newcomer):
    phone: str | None = None


class ArrivedV2(NewcomerArrived):
    newcomer: NewcomerWithEmail


class NewcomerWithRequiredEmail(Newcomer):
    phone: str


class ArrivedWithRequired(NewcomerArrived):
    newcomer: NewcomerWithRequiredEmail


class ArrivedWithIntCase(NewcomerArrived):
    municipality: int  # type: ignore[assignment]


def test_an_added_optional_field_is_compatible():
    assert breaking_changes(NewcomerArrived.model_json_schema(), ArrivedV2.model_json_schema()) == []


def test_removed_retyped_and_newly_required_fields_are_breaking():
    v1 = NewcomerArrived.model_json_schema()
    assert breaking_changes(v1, ArrivedWithRequired.model_json_schema()) == [
        "payload.newcomer.phone: added as required (old events do not have it)"]
    assert any("municipality: type changed" in p for p in breaking_changes(v1, ArrivedWithIntCase.model_json_schema()))
    removed = json.loads(json.dumps(v1))
    del removed["properties"]["household"]
    assert breaking_changes(v1, removed) == ["payload.household: removed"]
    new_enum = json.loads(json.dumps(v1))
    new_enum["$defs"]["PurposeOfStay"]["enum"].append("tourism")
    assert breaking_changes(v1, new_enum) == [
        "payload.newcomer.purpose_of_stay: new values ['tourism'] (old readers would refuse them)"]
