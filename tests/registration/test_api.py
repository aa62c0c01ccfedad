"""Registration over HTTP against the real database and broker."""

import asyncio
import json
import uuid

import pytest

from services.registration.app import create_app
from services.registration.settings import RegistrationSettings
from shared.events import NEWCOMER_ARRIVED
from tests.apps import running
from tests.builders import registration
from tests.kafka_helpers import eventually, read_until_quiet


@pytest.fixture(scope="module")
async def api(infrastructure):
    settings = infrastructure.settings(RegistrationSettings)
    app = create_app(settings)
    async with running(app, role="borgerservice") as client:
        client.settings = settings
        yield client


async def test_a_registration_is_stored_and_its_event_published_without_the_cpr_number(api, infrastructure):
    response = await api.post("/registrations", json=registration())
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["cpr_number_masked"] == "140587-****"
    assert "140587-1234" not in response.text

    async def published():
        return (await api.get(f"/registrations/{case['case_id']}")).json()["arrival_event_published"]

    assert await eventually(published)
    records = await read_until_quiet(infrastructure.kafka_bootstrap_servers,
                                     api.settings.topic(NEWCOMER_ARRIVED.topic), quiet_seconds=1.0)
    mine = [r for r in records if r.key == case["case_id"].encode()]
    assert len(mine) == 1
    event = json.loads(mine[0].value)
    assert event["payload"]["case_id"] == case["case_id"]
    assert event["payload"]["household"]["spouse"]["full_name"] == "Jonas Weber"
    assert "1234" not in json.dumps(event["payload"])  # the CPR serial appears nowhere


async def test_get_returns_the_case(api):
    case = (await api.post("/registrations", json=registration())).json()
    got = await api.get(f"/registrations/{case['case_id']}")
    assert got.status_code == 200
    assert got.json()["newcomer"]["full_name"] == "Amira Haddad"


async def test_unknown_case_is_404_and_a_bad_id_is_422(api):
    assert (await api.get(f"/registrations/{uuid.uuid4()}")).status_code == 404
    assert (await api.get("/registrations/not-a-uuid")).status_code == 422


async def test_bad_input_gets_a_message_per_field_and_stores_nothing(api, mongo_client):
    body = registration()
    body["newcomer"]["nationality"] = "Poland"
    body["newcomer"]["address"]["postcode"] = "74"
    body["household"]["children"][0]["date_of_birth"] = "not a date"
    body["cpr_number"] = "999999-1234"
    before = await mongo_client[api.settings.mongodb_database]["cases"].count_documents({})

    response = await api.post("/registrations", json=body)

    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert ("body", "newcomer", "nationality") in locations
    assert ("body", "newcomer", "address", "postcode") in locations
    assert ("body", "household", "children", 0, "date_of_birth") in locations
    assert ("body", "cpr_number") in locations
    assert "999999-1234" not in response.text  # submitted values are not echoed back
    assert await mongo_client[api.settings.mongodb_database]["cases"].count_documents({}) == before


async def test_misspelt_fields_are_refused_not_dropped(api):
    body = registration()
    body["housheold"] = body.pop("household")
    response = await api.post("/registrations", json=body)
    assert response.status_code == 422
    assert any(e["loc"] == ["body", "housheold"] for e in response.json()["detail"])


async def test_a_retried_post_with_the_same_idempotency_key_returns_the_same_case(api, mongo_client):
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    first = await api.post("/registrations", json=registration(), headers=key)
    again = await api.post("/registrations", json=registration(), headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["case_id"] == again.json()["case_id"]
    cases = mongo_client[api.settings.mongodb_database]["cases"]
    assert await cases.count_documents({"_id": first.json()["case_id"]}) == 1


async def _case_inserts(api) -> float:
    metrics = (await api.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("velkommen_db_commands_total{") and 'command="insert"' in line
               and 'collection="cases"' in line)


async def test_registrations_at_the_same_moment_share_an_insert_and_each_gets_its_own_answer(api, mongo_client):
    keys = [f"together-{uuid.uuid4()}" for _ in range(10)]
    before = await _case_inserts(api)
    # Each key twice at once: one registers the case, the other is answered with it. Households without children:
    # the session's school_intake tests read these arrivals too, and their children would take the reception-class
    # places those tests count on.
    body = registration(with_spouse=False, children=[])
    answers = await asyncio.gather(*(api.post("/registrations", json=body, headers={"Idempotency-Key": k})
                                     for k in keys + keys))
    inserts = await _case_inserts(api) - before
    for first, again in zip(answers[:10], answers[10:], strict=True):
        assert sorted((first.status_code, again.status_code)) == [200, 201]
        assert first.json()["case_id"] == again.json()["case_id"]
    case_ids = [a.json()["case_id"] for a in answers[:10]]
    assert len(set(case_ids)) == 10
    cases = mongo_client[api.settings.mongodb_database]["cases"]
    assert len(await cases.find({"_id": {"$in": case_ids}}).to_list(length=None)) == 10
    assert inserts <= 10, inserts  # one insert command per registration without the group commit: 20


async def test_the_same_key_with_a_different_registration_is_a_conflict(api):
    key = {"Idempotency-Key": f"conflict-{uuid.uuid4()}"}
    assert (await api.post("/registrations", json=registration(), headers=key)).status_code == 201
    other = await api.post("/registrations", json=registration(full_name="Someone Else"), headers=key)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]


async def test_health_and_readiness(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "kafka": True, "background_tasks": True}


async def test_a_closed_case_is_erased_when_its_retention_period_ends(infrastructure):
    settings = infrastructure.settings(RegistrationSettings, case_retention_days=0, retention_check_seconds=0.2,
                                       mongodb_database=f"test_{infrastructure.run_id}_retention")
    app = create_app(settings)
    async with running(app, role="borgerservice") as client:
        key = {"Idempotency-Key": f"retention-{uuid.uuid4()}"}
        case_id = (await client.post("/registrations", json=registration(), headers=key)).json()["case_id"]
        open_case = await client.get(f"/registrations/{case_id}")
        assert open_case.status_code == 200  # not closed: kept, whatever the period
        assert (await client.post(f"/registrations/{case_id}/close")).status_code == 204

        async def erased():
            response = await client.get(f"/registrations/{case_id}/erasure")
            return response.json() if response.status_code == 200 else None

        status = await eventually(erased, timeout=10)
        assert status and status["basis"] == "retention" and status["erased_by"] == "system"
        assert (await client.get(f"/registrations/{case_id}")).status_code == 410
        # The original request retried with its key does not bring the case back.
        assert (await client.post("/registrations", json=registration(), headers=key)).status_code == 410
        stored = await app.state.store.cases.find_one({"_id": case_id})
        assert not {"newcomer", "household", "cpr_number"} & set(stored)
        assert "Amira" not in json.dumps(stored, default=str)
        [pending] = stored["outbox"].values()
        assert json.loads(pending["value"])["type"] == "NewcomerErased"


def _with(body: dict, path: str, value) -> dict:
    node = body
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        node = node[part]
    node[last] = value
    return body


@pytest.mark.parametrize(
    "path",
    [
        "favourite_colour",                            # the top level
        "newcomer.favourite_colour",
        "newcomer.address.flat",
        "newcomer.languages.0.dialect",
        "household.pets",
        "household.spouse.wants_jobhelp",              # the typo that used to give leads against a "no"
        "household.spouse.languages.0.dialect",
        "household.children.0.danish_levle",
    ],
)
async def test_an_unknown_field_at_any_depth_is_refused_naming_it(api, mongo_client, path):
    before = await mongo_client[api.settings.mongodb_database]["cases"].count_documents({})
    response = await api.post("/registrations", json=_with(registration(), path, "x-value"))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", *[int(p) if p.isdigit() else p for p in path.split(".")]]
    assert error["type"] == "extra_forbidden" and "x-value" not in response.text
    assert await mongo_client[api.settings.mongodb_database]["cases"].count_documents({}) == before


@pytest.mark.parametrize(
    ("path", "value", "loc", "type_"),
    [
        ("newcomer.date_of_birth", "1850-01-01", ["newcomer", "date_of_birth"], "born_before_1900"),
        ("newcomer.arrival_date", "2099-01-01", ["newcomer", "arrival_date"], "arrival_too_late"),
        ("household.spouse.date_of_birth", "1801-01-01", ["household", "spouse", "date_of_birth"],
         "born_before_1900"),
        ("household.children.0.date_of_birth", "1980-01-01", ["household", "children", 0, "date_of_birth"],
         "child_is_adult"),
        ("household.children.1.years_of_schooling", 5, ["household", "children", 1, "years_of_schooling"],
         "too_many_school_years"),
    ],
)
async def test_an_implausible_registration_is_a_422_naming_the_field(api, mongo_client, path, value, loc, type_):
    before = await mongo_client[api.settings.mongodb_database]["cases"].count_documents({})
    response = await api.post("/registrations", json=_with(registration(), path, value))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", *loc], f"implausible.{type_}")
    assert error["msg"] and str(value) not in error["msg"]
    assert await mongo_client[api.settings.mongodb_database]["cases"].count_documents({}) == before


async def test_the_arrival_window_is_configurable(infrastructure):
    settings = infrastructure.settings(RegistrationSettings, arrival_days_ahead=30000,
                                       mongodb_database=f"test_{infrastructure.run_id}_window")
    async with running(create_app(settings), role="borgerservice") as client:
        far = registration(children=[], arrival_date="2099-01-01")
        assert (await client.post("/registrations", json=far)).status_code == 201


async def test_an_invalid_email_address_is_a_422_and_a_valid_one_goes_into_the_event(api, infrastructure):
    bad = await api.post("/registrations", json=registration(email="amira.example.org", contact_consent=True))
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "newcomer", "email"]]
    assert "amira.example.org" not in bad.text
    good = await api.post("/registrations", json=registration(email="amira@example.org", contact_consent=True))
    assert good.status_code == 201
    case_id = good.json()["case_id"]
    records = await read_until_quiet(infrastructure.kafka_bootstrap_servers,
                                     api.settings.topic(NEWCOMER_ARRIVED.topic), quiet_seconds=1.0)
    [mine] = [json.loads(r.value) for r in records if r.key == case_id.encode()]
    assert (mine["version"], mine["min_reader_version"]) == (2, 1)
    assert mine["payload"]["newcomer"]["email"] == "amira@example.org"
    assert mine["payload"]["newcomer"]["contact_consent"] is True
