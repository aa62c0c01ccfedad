"""Transactional outbox without multi-document transactions, correct on FerretDB as well as MongoDB.

An entity and the events it owes are written in ONE document write: the events go into the entity's `outbox`
map (event_id -> entry) and `outbox_added_at` is set. Nothing else is needed from the writer.

The relay never writes entity documents. FerretDB 1.x applies an update by reading the document and writing it
back whole, so a relay that cleared a flag could undo a change written at the same moment. The relay keeps its
own collection (`outbox_log`) instead:
- a claim per event, created by an insert with the event id as `_id`: exactly one relay replica wins it, even
  on FerretDB. The winner publishes, waits for the broker's acknowledgement, then marks the claim published.
  A replica that dies holding a claim loses it when its lease ends, and another replica publishes the event:
  at-least-once, and every consumer is idempotent.
- a checkpoint per watched collection: the time up to which every event is published, so a pass reads only
  documents changed since then (minus a small overlap for writes that became visible late).
Events stay in their entity document after publishing (entities owe few events; erasure removes them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.bus import FATAL_PRODUCER_ERRORS, Producer
from shared.db import TRANSIENT_DB_ERRORS, duplicate_ids
from shared.events import EventEnvelope, to_json

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOG_COLLECTION = "outbox_log"  # the relay's own collection, in the service's database


def outbox_entry(topic: str, key: str, envelope: EventEnvelope) -> dict[str, Any]:
    # The envelope is kept as a JSON string: stored exactly as it will be sent, and free of the document
    # shapes FerretDB does not support (nested arrays, keys with dots).
    return {
        "event_id": str(envelope.event_id),
        "topic": topic,
        "key": key,
        "value": to_json(envelope).decode(),
        "order": time.time_ns(),
    }


def _entries(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: {**e, "order": e["order"] + i} for i, e in enumerate(entries)}


def outbox_fields(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fields of a NEW document that owes these events."""
    return {"outbox": _entries(entries), "outbox_added_at": datetime.now(UTC)}


def outbox_update(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Update operators that add these events to an EXISTING document (merge with the entity's own $set)."""
    return {"$set": {**{f"outbox.{k}": v for k, v in _entries(entries).items()},
                     "outbox_added_at": datetime.now(UTC)}}


async def ensure_outbox_indexes(collection: AsyncCollection) -> None:
    await collection.create_index([("outbox_added_at", 1)])


async def published_event_ids(log_collection: AsyncCollection, event_ids: Iterable[str]) -> set[str]:
    ids = list(event_ids)
    cursor = log_collection.find({"_id": {"$in": ids}, "published_at": {"$ne": None}}, {"_id": 1})
    return {doc["_id"] async for doc in cursor}


class OutboxRelay:
    """Publishes pending events of the given collections; wake it with notify() after a write."""

    def __init__(
        self,
        collections: Iterable[AsyncCollection],
        producer: Producer,
        log_collection: AsyncCollection,
        *,
        poll_seconds: float,
        lease_seconds: float,
        overlap_seconds: float = 5.0,
        owner: str | None = None,
    ):
        self.collections = list(collections)
        self.producer = producer
        self.log = log_collection
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.overlap = timedelta(seconds=overlap_seconds)
        self.owner = owner or f"relay-{uuid.uuid4()}"
        self.published = 0
        self._published_recently: dict[str, None] = {}  # insertion-ordered; saves a log read per pass
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.publish_pending()
            except (*TRANSIENT_DB_ERRORS, KafkaError) as exc:
                log.warning("outbox relay: %r; will retry", exc)
            except Exception:  # noqa: BLE001 - the relay must keep running; the event stays pending
                log.exception("outbox relay failed; will retry")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """One pass over every watched collection; returns how many events this relay published."""
        sent = 0
        for collection in self.collections:
            sent += await self._pass(collection)
        self.published += sent
        return sent

    async def _pass(self, collection: AsyncCollection) -> int:
        checkpoint_id = f"checkpoint:{collection.name}"
        checkpoint = await self.log.find_one({"_id": checkpoint_id})
        since = checkpoint["at"] if checkpoint else EPOCH
        started = datetime.now(UTC)
        cursor = collection.find({"outbox_added_at": {"$gte": since}}, {"outbox": 1, "outbox_added_at": 1})
        docs = await cursor.sort("outbox_added_at", 1).to_list(length=None)
        sent = await self._publish_documents(docs)
        oldest_pending = next((d["outbox_added_at"] for d in docs
                               if any(e not in self._published_recently for e in (d.get("outbox") or {}))), None)
        advance_to = min(oldest_pending or started, started - self.overlap)
        if advance_to > since:
            # Replicas may race here; the later write wins, and a checkpoint set too early only means a rescan.
            try:
                await self.log.update_one({"_id": checkpoint_id}, {"$set": {"at": advance_to}}, upsert=True)
            except DuplicateKeyError:
                await self.log.update_one({"_id": checkpoint_id}, {"$set": {"at": advance_to}})
        return sent

    async def _publish_documents(self, docs: list[dict[str, Any]]) -> int:
        """Publish the unpublished events of these documents, each document's in order.

        A fixed number of database round trips per pass, whatever the number of events (on FerretDB every
        query but one by a single _id scans the log): one read of the claims, one insert of new claims, one
        takeover of expired ones, then the sends, then one write marking them published.
        """
        pending = []
        for doc in docs:
            entries = sorted((doc.get("outbox") or {}).values(), key=lambda e: e["order"])
            todo = [e for e in entries if e["event_id"] not in self._published_recently]
            if todo:
                pending.append(todo)
        if not pending:
            return 0
        ids = [e["event_id"] for todo in pending for e in todo]
        claims = {c["_id"]: c async for c in self.log.find({"_id": {"$in": ids}})}
        now = datetime.now(UTC)
        new_claims, takeovers, wanted = [], [], []
        for todo in pending:
            mine = []
            for entry in todo:
                claim = claims.get(entry["event_id"])
                if claim and claim.get("published_at"):
                    self._remember(entry["event_id"])
                    continue
                if claim is None:
                    new_claims.append({"_id": entry["event_id"], "owner": self.owner, "until": now + self.lease,
                                       "published_at": None})
                elif claim["owner"] != self.owner and claim["until"] > now:
                    break  # another replica is publishing it; keep the order: stop at this event
                else:
                    # Our own unfinished claim, or an expired one (its relay died): take it over. Two replicas
                    # doing this at once may both publish; consumers are idempotent.
                    takeovers.append(entry["event_id"])
                mine.append(entry)
            wanted.append(mine)
        lost: set[str] = set()
        if new_claims:
            try:
                await self.log.insert_many(new_claims, ordered=False)
            except BulkWriteError as exc:
                lost = set(duplicate_ids(exc))  # another replica claimed these a moment ago
        if takeovers:
            await self.log.update_many({"_id": {"$in": takeovers}},
                                       {"$set": {"owner": self.owner, "until": now + self.lease}})
        # Publish each document's events up to the first one another replica won.
        batch = []
        for mine in wanted:
            for entry in mine:
                if entry["event_id"] in lost:
                    break
                batch.append(entry)
        if not batch:
            return 0
        batch_ids = [e["event_id"] for e in batch]
        try:
            futures = [await self.producer.send(e["topic"], value=e["value"].encode(), key=e["key"].encode())
                       for e in batch]
            await asyncio.gather(*futures)
        except BaseException as exc:
            await self.log.delete_many({"_id": {"$in": batch_ids}, "owner": self.owner,
                                        "published_at": None})  # let the next pass retry promptly
            if isinstance(exc, FATAL_PRODUCER_ERRORS):
                await self.producer.renew()
            raise
        await self.log.update_many({"_id": {"$in": batch_ids}}, {"$set": {"published_at": datetime.now(UTC)}})
        for event_id in batch_ids:
            self._remember(event_id)
        return len(batch)

    def _remember(self, event_id: str) -> None:
        self._published_recently[event_id] = None
        if len(self._published_recently) > 100_000:
            self._published_recently.pop(next(iter(self._published_recently)))
