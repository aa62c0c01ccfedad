"""Close and erase of the same case at the same moment, many times, on the real database (FerretDB's updates
are read-modify-write: without turns, a close could write the erased data back after the 202)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.registration.app import create_app
from services.registration.erasure import PERSONAL_FIELDS
from services.registration.settings import RegistrationSettings
from shared.events import NEWCOMER_ERASED
from tests.apps import running
from tests.builders import registration
from tests.kafka_helpers import read_until_quiet

CASES = 60


@pytest.fixture(scope="module")
async def api(infrastructure):
    settings = infrastructure.settings(RegistrationSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_races",
                                       kafka_topic_prefix=f"test-{infrastructure.run_id}-races.")
    app = create_app(settings)
    async with running(app, role="borgerservice") as client:
        client.app = app
        yield client


async def test_an_erasure_answered_202_always_ends_erased_and_published_whatever_a_close_does_meanwhile(
        api, infrastructure):
    case_ids = []
    for _ in range(CASES):
        created = await api.post("/registrations", json=registration(), headers={"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201
        case_ids.append(created.json()["case_id"])

    async def close_and_erase(case_id: str) -> tuple[int, int]:
        close, erase = await asyncio.gather(
            api.post(f"/registrations/{case_id}/close"),
            api.request("DELETE", f"/registrations/{case_id}", json={"reason": "race test"}))
        return close.status_code, erase.status_code

    outcomes = await asyncio.gather(*(close_and_erase(c) for c in case_ids))
    assert all(erase == 202 for _, erase in outcomes), outcomes
    # A close either went first (204), found the case erased (410) or lost its turn to the erasure (409).
    assert {close for close, _ in outcomes} <= {204, 409, 410}, outcomes

    for case_id in case_ids:
        stored = await api.app.state.store.cases.find_one({"_id": case_id})
        assert stored.get("erasure"), case_id
        assert not set(PERSONAL_FIELDS) & set(stored), (case_id, set(stored))
        assert "Amira" not in json.dumps(stored, default=str)
        [entry] = stored["outbox"].values()
        assert json.loads(entry["value"])["type"] == "NewcomerErased"

    records = await read_until_quiet(infrastructure.kafka_bootstrap_servers,
                                     api.app.state.settings.topic(NEWCOMER_ERASED.topic))
    erased = [json.loads(r.value)["payload"]["case_id"] for r in records]
    assert sorted(erased) == sorted(case_ids)  # each exactly once
    print(f"\n[races] {CASES} close+erase pairs: closes answered "
          f"{ {code: [c for c, _ in outcomes].count(code) for code in {c for c, _ in outcomes}} }")
