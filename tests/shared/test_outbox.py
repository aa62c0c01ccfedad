"""The outbox relay against the real database and broker."""

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from shared import bus
from shared.db import keep_newest_many
from shared.events import NEWCOMER_ARRIVED
from shared.outbox import (
    OutboxRelay,
    OutboxWrites,
    ensure_outbox_indexes,
    outbox_entry,
    outbox_fields,
    outbox_update,
    published_event_ids,
)
from shared.settings import ServiceSettings
from tests.builders import arrival_event
from tests.kafka_helpers import eventually, read_until_quiet


@pytest.fixture
async def setup(infrastructure, mongo_client):
    settings = infrastructure.settings(ServiceSettings, service_name="outbox",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    db = mongo_client[settings.mongodb_database]
    suffix = uuid.uuid4().hex[:6]
    collection, log = db[f"things_{suffix}"], db[f"outbox_log_{suffix}"]
    await ensure_outbox_indexes(collection)
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED])
    producer = bus.create_producer(settings)
    await producer.start()
    yield settings, collection, log, producer
    await producer.stop()


def relay(setup, **kwargs):
    _, collection, log, producer = setup
    return OutboxRelay([collection], producer, log, poll_seconds=0.1, lease_seconds=kwargs.pop("lease", 30.0),
                       **kwargs)


def entry(settings, event):
    return outbox_entry(settings.topic(NEWCOMER_ARRIVED.topic), str(event.payload.case_id), event)


async def published(infrastructure, settings, expect):
    """Every event on the topic once `expect` came and then nothing more for a second (a late duplicate
    counts)."""
    records = await read_until_quiet(infrastructure.kafka_bootstrap_servers, settings.topic(NEWCOMER_ARRIVED.topic),
                                     at_least=expect, quiet_seconds=1.0, timeout=20)
    return [json.loads(r.value)["event_id"] for r in records]


async def test_pending_events_are_published_once_in_order_without_touching_the_entity(setup, infrastructure):
    settings, collection, log, _ = setup
    case_id = uuid.uuid4()  # one key: one partition, so the order on the topic is the publishing order
    first, second = arrival_event(case_id=case_id), arrival_event(case_id=case_id)
    await collection.insert_one({"_id": "a", "name": "entity", **outbox_fields([entry(settings, first),
                                                                               entry(settings, second)])})
    before = await collection.find_one({"_id": "a"})

    assert await relay(setup).publish_pending() == 2
    assert await relay(setup).publish_pending() == 0  # a fresh relay (another replica) finds nothing to do

    assert await collection.find_one({"_id": "a"}) == before
    assert await published(infrastructure, settings, 2) == [str(first.event_id), str(second.event_id)]
    marks = await log.find({"_id": {"$regex": "^published:"}}).to_list(length=10)
    assert {m["_id"] for m in marks} == {f"published:{first.event_id}", f"published:{second.event_id}"}
    assert await published_event_ids(log, [str(first.event_id), "unknown"]) == {str(first.event_id)}


async def test_an_event_added_later_to_the_same_document_is_published_alone(setup, infrastructure):
    settings, collection, _, _ = setup
    case_id = uuid.uuid4()
    first, later = arrival_event(case_id=case_id), arrival_event(case_id=case_id)
    await collection.insert_one({"_id": "b", **outbox_fields([entry(settings, first)])})
    the_relay = relay(setup)
    assert await the_relay.publish_pending() == 1
    await collection.update_one({"_id": "b"}, outbox_update([entry(settings, later)]))
    assert await the_relay.publish_pending() == 1
    assert await published(infrastructure, settings, 2) == [str(first.event_id), str(later.event_id)]


async def test_two_replicas_publishing_at_once_send_each_event_once(setup, infrastructure):
    settings, collection, _, _ = setup
    events = [arrival_event() for _ in range(40)]
    await collection.insert_many([{"_id": f"doc-{i}", **outbox_fields([entry(settings, e)])}
                                  for i, e in enumerate(events)])
    a, b = relay(setup), relay(setup)
    counts = await asyncio.gather(a.publish_pending(), b.publish_pending())
    await asyncio.gather(a.publish_pending(), b.publish_pending())  # whatever one skipped, a pass picks up
    assert sum(counts) <= 40
    seen = Counter(await published(infrastructure, settings, 40))
    assert set(seen) == {str(e.event_id) for e in events}
    assert max(seen.values()) == 1


async def test_a_live_claim_blocks_and_an_expired_one_is_taken_over(setup, infrastructure):
    settings, collection, log, _ = setup
    event = arrival_event()
    await collection.insert_one({"_id": "c", **outbox_fields([entry(settings, event)])})
    live = {"_id": str(event.event_id), "owner": "other-replica", "published_at": None,
            "until": datetime.now(UTC) + timedelta(seconds=30)}
    await log.insert_one(live)
    assert await relay(setup).publish_pending() == 0

    # The other replica died before publishing: once its lease is over, the event is published by us.
    await log.update_one({"_id": live["_id"]}, {"$set": {"until": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await relay(setup).publish_pending() == 1
    assert await published(infrastructure, settings, 1) == [str(event.event_id)]


async def test_a_crash_after_publishing_but_before_marking_republishes_rather_than_loses(setup, infrastructure):
    settings, collection, log, producer = setup
    event = arrival_event()
    await collection.insert_one({"_id": "d", **outbox_fields([entry(settings, event)])})
    # A relay claims the event (as its pass does) and publishes it...
    await log.insert_one({"_id": str(event.event_id), "owner": "doomed-relay", "published_at": None,
                          "until": datetime.now(UTC) + timedelta(seconds=0.05)})
    e = entry(settings, event)
    await producer.send_and_wait(e["topic"], value=e["value"].encode(), key=e["key"].encode())
    # ...the process dies here, before marking the event published.
    await asyncio.sleep(0.1)

    assert await relay(setup).publish_pending() == 1
    assert await published(infrastructure, settings, 2) == [str(event.event_id)] * 2


async def test_the_checkpoint_moves_past_published_documents_only(setup):
    settings, collection, log, _ = setup
    event = arrival_event()
    await collection.insert_one({"_id": "e", **outbox_fields([entry(settings, event)])})
    await collection.update_one({"_id": "e"}, {"$set": {"outbox_added_at": datetime.now(UTC) - timedelta(minutes=5)}})
    await log.insert_one({"_id": str(event.event_id), "owner": "other", "published_at": None,
                          "until": datetime.now(UTC) + timedelta(seconds=30)})
    await relay(setup).publish_pending()
    checkpoint = await log.find_one({"_id": f"checkpoint:{collection.name}"})
    assert checkpoint is None or checkpoint["at"] <= (await collection.find_one({"_id": "e"}))["outbox_added_at"]


async def test_a_relay_told_what_was_written_publishes_it_without_scanning(setup, infrastructure):
    settings, collection, log, producer = setup
    writes = OutboxWrites()
    watched = writes.watch(collection)
    relay_ = OutboxRelay([watched], producer, log, poll_seconds=0.1, lease_seconds=30.0, writes=writes)
    await relay_.publish_pending(full=True)  # the start-up scan (nothing yet)
    event = arrival_event()
    await watched.insert_one({"_id": "hinted", **outbox_fields([entry(settings, event)])})
    assert writes.wake.is_set() and list(writes.written) == [collection.name]
    assert writes.written[collection.name]["hinted"]["outbox"].keys() == {str(event.event_id)}  # the events themselves
    # A document written around the watched collection is not seen by a pass without a scan...
    hidden = arrival_event()
    await collection.insert_one({"_id": "unhinted", **outbox_fields([entry(settings, hidden)])})
    assert await relay_.publish_pending(full=False) == 1
    assert await published(infrastructure, settings, 1) == [str(event.event_id)]
    # ...until the periodic scan finds it.
    assert await relay_.publish_pending(full=True) == 1
    # Two cases: two partitions, so compare without order.
    assert sorted(await published(infrastructure, settings, 2)) == sorted([str(event.event_id), str(hidden.event_id)])


async def test_inserted_documents_are_published_from_the_hint_and_others_are_read(setup, infrastructure):
    """A successful insert hands its events to the relay (no read back); an update or a refused insert only
    names the document, which the relay then reads."""
    settings, collection, log, producer = setup
    writes = OutboxWrites()
    watched = writes.watch(collection)
    relay_ = OutboxRelay([watched], producer, log, poll_seconds=0.1, lease_seconds=30.0, writes=writes)
    await relay_.publish_pending(full=True)
    first, second, third, fourth = (arrival_event() for _ in range(4))
    await collection.insert_one({"_id": "exists", **outbox_fields([entry(settings, first)])})  # unwatched
    with pytest.raises(BulkWriteError):
        await watched.insert_many([{"_id": "exists", **outbox_fields([entry(settings, second)])},
                                   {"_id": "new", **outbox_fields([entry(settings, third)])}], ordered=False)
    noted = writes.written[collection.name]
    assert noted["exists"] is None and noted["new"]["outbox"].keys() == {str(third.event_id)}
    await watched.update_one({"_id": "exists"}, outbox_update([entry(settings, fourth)]))
    assert writes.written[collection.name]["exists"] is None
    # Proof that the inserted one is not read back: it is gone from the collection, yet published.
    await collection.delete_one({"_id": "new"})
    assert await relay_.publish_pending(full=False) == 3
    assert sorted(await published(infrastructure, settings, 3)) == sorted(
        str(e.event_id) for e in (first, third, fourth))  # never `second`: that insert was refused


async def test_the_periodic_scan_leaves_the_last_seconds_to_the_writers_relay(setup, infrastructure):
    """The periodic scan (beside the hinted passes) publishes what nobody was told about, except documents
    written within the overlap: those belong to the relay of the process that wrote them."""
    settings, collection, log, _ = setup
    old, recent = arrival_event(), arrival_event()
    await collection.insert_one({"_id": "old", **outbox_fields([entry(settings, old)])})
    await collection.update_one({"_id": "old"}, {"$set": {"outbox_added_at": datetime.now(UTC) - timedelta(minutes=1)}})
    await collection.insert_one({"_id": "recent", **outbox_fields([entry(settings, recent)])})
    relay_ = relay(setup)
    assert await relay_._pass(collection, recent_too=False) == 1
    assert await published(infrastructure, settings, 1) == [str(old.event_id)]
    assert await relay_.publish_pending(full=True) == 1  # the start-up scan takes everything
    assert sorted(await published(infrastructure, settings, 2)) == sorted([str(old.event_id), str(recent.event_id)])


async def test_an_event_held_by_a_dead_relays_claim_is_published_when_the_lease_ends_not_at_the_next_scan(
        setup, infrastructure):
    """A relay killed between claiming (or sending) and marking leaves a live claim: the start-up scan of its
    successor must skip it, and then take it over once the lease is over, not a whole scan interval later."""
    settings, collection, log, _ = setup
    event = arrival_event()
    await collection.insert_one({"_id": "orphan", **outbox_fields([entry(settings, event)])})
    await log.insert_one({"_id": str(event.event_id), "owner": "killed-relay", "published_at": None,
                          "until": datetime.now(UTC) + timedelta(seconds=1)})
    relay_ = relay(setup, scan_seconds=300.0)
    running = asyncio.create_task(relay_.run())
    try:
        assert await published(infrastructure, settings, 1) == [str(event.event_id)]
    finally:
        relay_.stop()
        await running
    assert str(event.event_id) in await published_event_ids(log, [str(event.event_id)])


async def test_a_graceful_stop_publishes_what_was_written_just_before_it(setup, infrastructure):
    settings, collection, log, producer = setup
    writes = OutboxWrites()
    watched = writes.watch(collection)
    relay_ = OutboxRelay([watched], producer, log, poll_seconds=60.0, lease_seconds=30.0, scan_seconds=300.0,
                         writes=writes)
    running = asyncio.create_task(relay_.run())
    while not await log.find_one({"_id": f"checkpoint:{collection.name}"}):  # the start-up scan is done
        await asyncio.sleep(0.05)
    event = arrival_event()
    await watched.insert_one({"_id": "last", **outbox_fields([entry(settings, event)])})
    relay_.stop()  # before the relay task ran again: the write's wake-up and the stop come together
    await running
    assert await published(infrastructure, settings, 1) == [str(event.event_id)]
    assert str(event.event_id) in await published_event_ids(log, [str(event.event_id)])


class LogLosingMarkerWrites:
    """The relay's log collection, whose first `failures` inserts of published markers fail as during a database
    restart."""

    def __init__(self, log, failures: int):
        self._log, self.failures = log, failures

    def __getattr__(self, name):
        return getattr(self._log, name)

    async def insert_many(self, documents, *args, **kwargs):
        if self.failures and documents[0]["_id"].startswith("published:"):
            self.failures -= 1
            raise AutoReconnect("connection closed (injected)")
        return await self._log.insert_many(documents, *args, **kwargs)


async def test_published_markers_that_could_not_be_written_are_retried(setup, infrastructure):
    """Without its marker, an event is published again by the next process's start-up scan once the claim ends."""
    settings, collection, log, producer = setup
    event = arrival_event()
    await collection.insert_one({"_id": "f", **outbox_fields([entry(settings, event)])})
    flaky = LogLosingMarkerWrites(log, failures=2)
    relay_ = OutboxRelay([collection], producer, flaky, poll_seconds=0.1, lease_seconds=30.0)
    assert await relay_.publish_pending() == 1  # returns once the markers are written (settle)
    assert flaky.failures == 0
    assert await published_event_ids(log, [str(event.event_id)]) == {str(event.event_id)}


async def test_a_bulk_write_to_a_collection_that_carries_events_is_refused(setup):
    """A bulk write does not say which documents it touched, so the relay would not hear of them."""
    _, collection, _, _ = setup
    watched = OutboxWrites().watch(collection)
    with pytest.raises(TypeError, match="outbox relay"):
        await keep_newest_many(watched, [{"_id": "k", "at": datetime.now(UTC)}], "at")
    assert await collection.find_one({"_id": "k"}) is None


class CountingLogInserts:
    """The relay's log collection, counting its inserts: those claiming any of `event_ids` (one per pass that
    published them; a start-up scan's claims of events published before are not counted), and all."""

    def __init__(self, log, event_ids: set[str]):
        self._log, self.event_ids, self.claim_inserts, self.inserts = log, event_ids, 0, 0

    def __getattr__(self, name):
        return getattr(self._log, name)

    async def insert_many(self, documents, *args, **kwargs):
        self.inserts += 1
        if any("owner" in d and d["_id"] in self.event_ids for d in documents):
            self.claim_inserts += 1
        return await self._log.insert_many(documents, *args, **kwargs)


async def _passes_for_a_stream(setup, linger_seconds: float) -> tuple[int, int, int]:
    """One document after a quiet spell, then 20 more written every 10 ms: the passes that published the first
    alone, the passes for the 20, and the relay's inserts into its log for the 20 (claims and markers)."""
    settings, collection, log, producer = setup
    events = [arrival_event() for _ in range(21)]
    counting = CountingLogInserts(log, {str(e.event_id) for e in events})
    writes = OutboxWrites()
    watched = writes.watch(collection)
    relay_ = OutboxRelay([watched], producer, counting, poll_seconds=60.0, lease_seconds=30.0, scan_seconds=300.0,
                         writes=writes, linger_seconds=linger_seconds)
    running = asyncio.create_task(relay_.run())

    async def all_published(upto: int) -> bool:
        ids = [str(e.event_id) for e in events[:upto]]
        return len(await published_event_ids(log, ids)) == upto

    try:
        await watched.insert_one({"_id": uuid.uuid4().hex, **outbox_fields([entry(settings, events[0])])})
        assert await eventually(lambda: all_published(1))
        first, first_inserts = counting.claim_inserts, counting.inserts
        for event in events[1:]:
            await watched.insert_one({"_id": uuid.uuid4().hex, **outbox_fields([entry(settings, event)])})
            await asyncio.sleep(0.01)  # the pace of the stream, not a wait for something to happen
        assert await eventually(lambda: all_published(21))
    finally:
        relay_.stop()
        await running
    return first, counting.claim_inserts - first, counting.inserts - first_inserts


async def test_while_events_keep_coming_the_relay_lingers_and_publishes_them_in_fewer_passes(setup):
    lingering = await _passes_for_a_stream(setup, linger_seconds=0.3)
    at_once = await _passes_for_a_stream(setup, linger_seconds=0.0)
    assert lingering[0] == at_once[0] == 1  # after a quiet spell: at once, alone
    # 20 events over at least 0.2 s: with 300 ms of lingering a few passes; without, about one per write.
    assert lingering[1] <= 4 < at_once[1]


async def test_while_passes_follow_each_other_the_published_markers_go_in_with_the_next_claims(setup):
    """One insert into the log per pass, not two: a pass's markers wait for the next pass's claims (the last
    pass's go alone, MARKER_LINGER_SECONDS later)."""
    _, passes, inserts = await _passes_for_a_stream(setup, linger_seconds=0.0)
    assert passes >= 5  # about one per write (the test above)
    assert inserts <= passes + 2 < 2 * passes
