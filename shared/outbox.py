"""Transactional outbox without multi-document transactions.

An entity and the events it owes are written in ONE document write: pending events live inside the owning
document (`outbox`, a map event_id -> entry) with `outbox_pending: true`. The relay claims a document with a
lease (so two replicas do not publish the same events at once), publishes its events in order, and clears
them. A crash after publishing but before clearing republishes them: at-least-once, and consumers are
idempotent. `outbox_version` guards the clear against events added while the relay was publishing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.db import TRANSIENT_DB_ERRORS
from shared.events import EventEnvelope, to_json

log = logging.getLogger(__name__)

NO_LEASE = datetime(1970, 1, 1, tzinfo=UTC)


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


def outbox_fields(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fields of a NEW document that owes these events."""
    return {
        "outbox": {_entry_id(e): {**e, "order": e["order"] + i} for i, e in enumerate(entries)},
        "outbox_pending": bool(entries),
        "outbox_version": len(entries),
        "outbox_lease_until": NO_LEASE,
    }


def outbox_update(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Update operators that add these events to an EXISTING document (merge with the entity's own $set)."""
    return {
        "$set": {
            **{f"outbox.{_entry_id(e)}": {**e, "order": e["order"] + i} for i, e in enumerate(entries)},
            "outbox_pending": True,
        },
        "$inc": {"outbox_version": len(entries)},
    }


def _entry_id(entry: dict[str, Any]) -> str:
    return entry["event_id"]


async def ensure_outbox_indexes(collection: AsyncCollection) -> None:
    await collection.create_index([("outbox_pending", 1), ("outbox_lease_until", 1)])


class OutboxRelay:
    """Publishes pending events of the given collections; wake it with notify() after a write."""

    def __init__(
        self,
        collections: Iterable[AsyncCollection],
        producer: AIOKafkaProducer,
        *,
        poll_seconds: float,
        lease_seconds: float,
        owner: str | None = None,
    ):
        self.collections = list(collections)
        self.producer = producer
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = owner or f"relay-{uuid.uuid4()}"
        self.published = 0
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
        """Publish every pending event now; returns how many were sent."""
        sent = 0
        for collection in self.collections:
            while (doc := await self._claim(collection)) is not None:
                sent += await self._publish_document(collection, doc)
        self.published += sent
        return sent

    async def _claim(self, collection: AsyncCollection) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        return await collection.find_one_and_update(
            {"outbox_pending": True, "$or": [{"outbox_lease_until": {"$lt": now}}, {"outbox_lease_until": None}]},
            {"$set": {"outbox_lease_until": now + self.lease, "outbox_lease_owner": self.owner}},
            return_document=ReturnDocument.AFTER,
        )

    async def _publish_document(self, collection: AsyncCollection, doc: dict[str, Any]) -> int:
        entries = sorted((doc.get("outbox") or {}).items(), key=lambda item: item[1]["order"])
        try:
            # Sent in order on the same key, so they land in order on one partition; awaited together.
            futures = [
                await self.producer.send(e["topic"], value=e["value"].encode(), key=e["key"].encode())
                for _, e in entries
            ]
            await asyncio.gather(*futures)
        except BaseException:
            # Give the lease back so that the next round (or another replica) retries promptly.
            await collection.update_one(
                {"_id": doc["_id"], "outbox_lease_owner": self.owner}, {"$set": {"outbox_lease_until": NO_LEASE}}
            )
            raise
        cleared = await collection.update_one(
            {"_id": doc["_id"], "outbox_version": doc["outbox_version"]},
            {"$set": {"outbox": {}, "outbox_pending": False, "outbox_lease_until": NO_LEASE}},
        )
        if cleared.modified_count == 0 and entries:
            # Events were added while we published: remove only the ones we sent; the rest stay pending.
            await collection.update_one(
                {"_id": doc["_id"]},
                {"$unset": {f"outbox.{event_id}": "" for event_id, _ in entries},
                 "$set": {"outbox_lease_until": NO_LEASE}},
            )
        return len(entries)
