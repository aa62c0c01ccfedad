"""The outbox relay against the real database and broker."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared import bus
from shared.events import NEWCOMER_ARRIVED
from shared.outbox import OutboxRelay, ensure_outbox_indexes, outbox_entry, outbox_fields, outbox_update
from shared.settings import ServiceSettings
from tests.builders import arrival_event
from tests.kafka_helpers import read_topic


@pytest.fixture
async def setup(infrastructure, mongo_client):
    settings = infrastructure.settings(ServiceSettings, service_name="outbox",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    collection = mongo_client[settings.mongodb_database][f"things_{uuid.uuid4().hex[:6]}"]
    await ensure_outbox_indexes(collection)
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED])
    producer = bus.create_producer(settings)
    await producer.start()
    yield settings, collection, producer
    await producer.stop()


def _relay(collection, producer, lease_seconds=30.0):
    return OutboxRelay([collection], producer, poll_seconds=0.1, lease_seconds=lease_seconds)


def _entry(settings, event):
    return outbox_entry(settings.topic(NEWCOMER_ARRIVED.topic), str(event.payload.case_id), event)


async def test_pending_events_are_published_in_order_and_cleared(setup, infrastructure):
    settings, collection, producer = setup
    first, second = arrival_event(), arrival_event()
    await collection.insert_one({"_id": "a", **outbox_fields([_entry(settings, first), _entry(settings, second)])})

    assert await _relay(collection, producer).publish_pending() == 2

    doc = await collection.find_one({"_id": "a"})
    assert doc["outbox"] == {} and doc["outbox_pending"] is False
    records = await read_topic(infrastructure.kafka_bootstrap_servers, settings.topic(NEWCOMER_ARRIVED.topic), expect=2)
    assert [json.loads(r.value)["event_id"] for r in records] == [str(first.event_id), str(second.event_id)]
    assert records[0].key == str(first.payload.case_id).encode()
    assert await _relay(collection, producer).publish_pending() == 0


async def test_an_event_added_while_publishing_stays_pending(setup):
    settings, collection, producer = setup
    first, later = arrival_event(), arrival_event()
    await collection.insert_one({"_id": "b", **outbox_fields([_entry(settings, first)])})
    relay = _relay(collection, producer)
    claimed = await relay._claim(collection)
    await collection.update_one({"_id": "b"}, outbox_update([_entry(settings, later)]))  # arrives mid-publish

    await relay._publish_document(collection, claimed)

    doc = await collection.find_one({"_id": "b"})
    assert list(doc["outbox"]) == [str(later.event_id)] and doc["outbox_pending"] is True
    assert await relay.publish_pending() == 1
    assert (await collection.find_one({"_id": "b"}))["outbox_pending"] is False


async def test_a_leased_document_is_not_published_by_a_second_relay(setup):
    settings, collection, producer = setup
    await collection.insert_one({"_id": "c", **outbox_fields([_entry(settings, arrival_event())])})
    holder, other = _relay(collection, producer), _relay(collection, producer)
    assert await holder._claim(collection) is not None
    assert await other.publish_pending() == 0
    # When the lease runs out (the holder crashed), the other relay takes over: nothing is lost.
    await collection.update_one({"_id": "c"}, {"$set": {"outbox_lease_until": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await other.publish_pending() == 1


async def test_a_crash_after_publishing_but_before_clearing_republishes(setup, infrastructure):
    settings, collection, producer = setup
    event = arrival_event()
    await collection.insert_one({"_id": "d", **outbox_fields([_entry(settings, event)])})
    crashed = _relay(collection, producer, lease_seconds=0.01)
    doc = await crashed._claim(collection)
    entry = next(iter(doc["outbox"].values()))
    await producer.send_and_wait(entry["topic"], value=entry["value"].encode(), key=entry["key"].encode())
    # ...and the process dies here, before marking the event sent.

    assert await _relay(collection, producer).publish_pending() == 1
    records = await read_topic(infrastructure.kafka_bootstrap_servers, settings.topic(NEWCOMER_ARRIVED.topic), expect=2)
    assert [json.loads(r.value)["event_id"] for r in records] == [str(event.event_id)] * 2
