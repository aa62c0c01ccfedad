"""job_match with several replicas in one consumer group gives exactly the leads one replica gives (#14).

The listing events are split across the group's members, so without more each replica's in-memory index held
only its share of the listings, and a spouse matched on another replica missed leads. Three replicas run here
in one process on a 6-partition topic: listings are imported through one replica, then spouses arrive on every
partition; the leads are compared, case by case, with those of a single replica given the same events.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from aiokafka import AIOKafkaProducer

from services.job_match.app import create_app
from services.job_match.settings import JobMatchSettings
from shared.events import JOB_LISTING_PUBLISHED, NEWCOMER_ARRIVED, to_json
from tests.apps import as_role, running
from tests.builders import arrival_event, registration, spouse
from tests.kafka_helpers import group_lag, read_until_quiet

SKILL_SETS = [["glassblowing"], ["glassblowing", "kiln operation"], ["beekeeping"], ["beekeeping", "glassblowing"]]
LISTINGS = 60
SPOUSES = 24


def listings() -> list[dict]:
    """Listings no sample listing resembles: a spouse's leads can only come from these."""
    return [{"id": f"R{n:03d}", "title": f"Craft job {n}", "employer": f"Workshop {n % 7}", "municipality": "herning",
             "occupation": SKILL_SETS[n % len(SKILL_SETS)][0], "required_skills": SKILL_SETS[n % len(SKILL_SETS)],
             "wanted_skills": ["kiln operation"] if n % 3 == 0 else [], "education_level": "none",
             "hours_per_week": 20 + n % 18, "published": "2026-01-01", "expires": "2099-12-31"}
            for n in range(LISTINGS)]


def arrivals() -> list:
    events = []
    for n in range(SPOUSES):
        body = registration(children=[])
        body["household"]["spouse"] = spouse(occupation=None, skills=SKILL_SETS[n % len(SKILL_SETS)],
                                             languages=[{"language": "en", "level": "B2"}])
        events.append(arrival_event(body, case_id=uuid.uuid5(uuid.NAMESPACE_URL, f"replica-test-{n}")))
    return events


async def leads_with(infrastructure, replicas: int, events: list) -> dict[str, list[str]]:
    run = f"r{replicas}-{uuid.uuid4().hex[:6]}"
    settings = infrastructure.settings(
        JobMatchSettings, mongodb_database=f"test_{infrastructure.run_id}_{run}", kafka_topic_partitions=6,
        kafka_topic_prefix=f"test-{infrastructure.run_id}-{run}.", sample_listings_file=None)
    apps = [create_app(settings) for _ in range(replicas)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        imported = await clients[0].post("/listings/import", json=listings(),
                                         headers=as_role(settings, "jobcenter_adviser"))
        assert imported.status_code == 200 and imported.json()["new"] == LISTINGS, imported.text
        published = await read_until_quiet(settings.kafka_bootstrap_servers,
                                           settings.topic(JOB_LISTING_PUBLISHED.topic))
        assert len(published) == LISTINGS
        # Every replica in the group, owning arrival partitions, before the arrivals come: else one replica may
        # handle them all while the others are still joining (seen in CI: [[0, 1, 2, 3, 4, 5], [], []]).
        loop = asyncio.get_running_loop()
        arrivals_topic = settings.topic(NEWCOMER_ARRIVED.topic)
        deadline = loop.time() + 60
        while not all(any(tp.topic == arrivals_topic for tp in app.state.runtime.consumer.consumer.assignment())
                      for app in apps):
            assert loop.time() < deadline, "the replicas did not share the arrival partitions within 60 s"
            await asyncio.sleep(0.2)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(settings.topic(NEWCOMER_ARRIVED.topic), value=to_json(event),
                                             key=str(event.payload.case_id).encode())
        finally:
            await producer.stop()
        topics = [arrivals_topic, settings.topic(JOB_LISTING_PUBLISHED.topic)]
        deadline = loop.time() + 120
        while await group_lag(settings.kafka_bootstrap_servers, settings.consumer_group, topics):
            assert loop.time() < deadline, "the replicas did not handle every event within 120 s"
            await asyncio.sleep(0.2)
        members = [app.state.runtime.consumer.consumer.assignment() for app in apps]
        handled_arrivals = [sorted(tp.partition for tp in m if tp.topic == arrivals_topic) for m in members]
        assert all(handled_arrivals), f"every replica must own arrival partitions: {handled_arrivals}"
        store = apps[0].state.store
        found = {}
        for event in events:
            case_id = str(event.payload.case_id)
            found[case_id] = sorted(lead["listing_id"] for lead in await store.leads_of_case(case_id))
        return found


async def test_three_replicas_give_exactly_the_leads_of_one(infrastructure, capsys):
    events = arrivals()
    one = await leads_with(infrastructure, 1, events)
    three = await leads_with(infrastructure, 3, events)
    with capsys.disabled():
        print(f"\n[replicas] leads with 1 replica: {sum(map(len, one.values()))}, with 3: "
              f"{sum(map(len, three.values()))}; cases that differ: {sum(one[c] != three[c] for c in one)}")
    assert all(len(leads) == 10 for leads in one.values()), one  # every spouse has ten candidates and more
    assert three == one
