"""GDPR erasure across the four running services: nothing personal is left in any database, every service
confirms, and replaying the arrival event does not bring the data back."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from pymongo import AsyncMongoClient

from shared.events import NEWCOMER_ARRIVED
from tests.builders import registration
from tests.kafka_helpers import group_lag, read_topic, write

NAMES = ("Amira Haddad", "Jonas Weber", "Lina Haddad", "Omar Haddad", "140587-1234", "Bredgade")


async def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def personal_data_left(client: AsyncMongoClient, system, case_id: str) -> list[str]:
    """Every document, in every collection of the four services' databases, that mentions the family."""
    found = []
    for service, database in system.databases.items():
        db = client[database]
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                text = json.dumps(doc, default=str)
                hits = [n for n in NAMES if n in text]
                if hits:
                    found.append(f"{service}.{name} {doc['_id']}: {hits}")
    return found


async def test_an_erased_family_is_gone_everywhere_and_stays_gone_on_replay(system, infrastructure):
    bs, adviser = system.headers("borgerservice"), system.headers("jobcenter_adviser")
    mongo = AsyncMongoClient(infrastructure.mongodb_uri, tz_aware=True)
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{system['registration']}/registrations", json=registration(), headers=bs)
        case_id = created.json()["case_id"]
        timeline_url = f"{system['registration']}/registrations/{case_id}/timeline"

        async def all_outputs():
            t = (await http.get(timeline_url, headers=bs)).json()
            return t["letters"] == 1 and len(t["intake_tasks"]) == 2 and sum(t["job_leads_by_status"].values()) == 10

        assert await wait_for(all_outputs)
        assert await personal_data_left(mongo, system, case_id)  # the check can see the data while it is there

        refused = await http.request("DELETE", f"{system['registration']}/registrations/{case_id}", json={},
                                     headers=bs)
        assert refused.status_code == 422  # a reason is required
        erased = await http.request("DELETE", f"{system['registration']}/registrations/{case_id}",
                                    json={"reason": "the family asked on 2026-11-27 (request 42)"}, headers=bs)
        assert erased.status_code == 202, erased.text

        async def confirmed():
            status = (await http.get(f"{system['registration']}/registrations/{case_id}/erasure", headers=bs)).json()
            return status if len(status["confirmed_by"]) == 3 else None

        status = await wait_for(confirmed)
        assert status and set(status["confirmed_by"]) == {"welcome_pack", "school_intake", "job_match"}
        assert status["basis"] == "request" and status["reason"].startswith("the family asked")
        assert (await http.get(f"{system['registration']}/registrations/{case_id}", headers=bs)).status_code == 410
        assert (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                               headers=bs)).json() == []
        assert (await http.get(f"{system['job_match']}/leads", params={"case_id": case_id},
                               headers=adviser)).json() == []
        assert await personal_data_left(mongo, system, case_id) == []

        # Erasing again changes nothing; the same registration retried with its key is refused, not recreated.
        again = await http.request("DELETE", f"{system['registration']}/registrations/{case_id}",
                                   json={"reason": "twice"}, headers=bs)
        assert again.status_code == 202 and again.json()["reason"].startswith("the family asked")

        # Replay: the original NewcomerArrived (still on the topic until its retention) is delivered again.
        topic = system.topic_prefix + NEWCOMER_ARRIVED.topic
        records = await read_topic(infrastructure.kafka_bootstrap_servers, topic, expect=1, timeout=5)
        mine = [r.value for r in records if r.key == case_id.encode()]
        assert mine, "the arrival event should still be on the topic"
        await write(infrastructure.kafka_bootstrap_servers, topic, mine, key=case_id.encode())
        # Each consumer has handled the replayed event (its group committed past it): whatever it would do, it
        # has done. A bounded wait for that, not a fixed pause.
        for service in ("welcome_pack", "school_intake", "job_match"):
            group = f"{system.topic_prefix}{service}"

            async def handled(group=group):
                return await group_lag(infrastructure.kafka_bootstrap_servers, group, [topic]) == 0

            assert await wait_for(handled), f"{service} did not handle the replayed arrival"
        assert await personal_data_left(mongo, system, case_id) == []
        assert (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                               headers=bs)).json() == []
    await mongo.close()
