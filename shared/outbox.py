"""Transactional outbox without multi-document transactions, correct on FerretDB as well as MongoDB.

An entity and the events it owes are written in ONE document write: the events go into the entity's `outbox`
map (event_id -> entry) and `outbox_added_at` is set. Nothing else is needed from the writer.

The relay never writes entity documents. FerretDB 1.x applies an update by reading the document and writing it
back whole, so a relay that cleared a flag could undo a change written at the same moment. The relay keeps its
own collection (`outbox_log`) instead:
- a claim per event, created by an insert with the event id as `_id`: exactly one relay replica wins it, even
  on FerretDB. The winner publishes, waits for the broker's acknowledgement, then inserts a `published:<id>`
  marker. A replica that dies holding a claim loses it when its lease ends, and another replica publishes the
  event: at-least-once, and every consumer is idempotent.
- a checkpoint per watched collection: the time up to which every event is published, so a full scan reads only
  documents changed since then (minus a small overlap for writes that became visible late).
Events stay in their entity document after publishing (entities owe few events; erasure removes them).

Finding pending events cheaply. FerretDB as published answers only an exact `{_id: value}` query from an index;
everything else reads the whole collection (our build, deploy/ferretdb/pushdown.patch, also serves conditions on
indexed fields). So the relay is told what was written: stores write through a `watch()`-ed collection
(OutboxWrites). A successful insert hands over the inserted documents' events themselves (nothing to read back); an
update notes the document's id and the relay reads that document by id. A full scan from the checkpoint runs at
start and then every OUTBOX_SCAN_SECONDS, for writes made by a process that died before its relay saw them. Every
read and write of the log is by `_id` too, for the same reason. On FerretDB as published a scan reads the whole
collection whatever the filter (measured: seconds, once the collection holds tens of thousands of documents), so the
periodic scan runs in its own task beside the hinted passes and never holds them up, and it leaves documents written
in the last `overlap_seconds` to the relay of the process that wrote them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from aiokafka.errors import KafkaError
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.bus import FATAL_PRODUCER_ERRORS, Producer
from shared.concurrency import ChangeTurns, as_change_number, next_change_number
from shared.db import TRANSIENT_DB_ERRORS, duplicate_ids, find_by_ids, insert_new_returning_existing
from shared.events import EventEnvelope, to_json
from shared.metrics import ServiceMetrics
from shared.tracing import current_trace_headers, publishing

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOG_COLLECTION = "outbox_log"  # the relay's own collection, in the service's database
# How long published markers wait for the next pass's claims to go in with them (OutboxRelay._mark_soon). Longer
# than the gap between passes at a steady load (tens of ms), far shorter than any claim's lease.
MARKER_LINGER_SECONDS = 0.25


def outbox_entry(topic: str, key: str, envelope: EventEnvelope) -> dict[str, Any]:
    # The envelope is kept as a JSON string: stored exactly as it will be sent, and free of the document
    # shapes FerretDB does not support (nested arrays, keys with dots).
    return {
        "event_id": str(envelope.event_id),
        "topic": topic,
        "key": key,
        "value": to_json(envelope).decode(),
        "order": time.time_ns(),
        # The trace this event was written in: the relay publishes it as a continuation (shared/tracing.py).
        "trace": current_trace_headers(),
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


def _marker(event_id: str) -> str:
    return f"published:{event_id}"


def _marker_documents(event_ids: list[str]) -> list[dict[str, Any]]:
    at = datetime.now(UTC)
    return [{"_id": _marker(i), "at": at} for i in event_ids]


_REMOVED = "removed:"  # a record of the markers whose entries compaction removed from their documents (when)


async def published_event_ids(log_collection: AsyncCollection, event_ids: Iterable[str]) -> set[str]:
    markers = await find_by_ids(log_collection, [_marker(i) for i in event_ids], {"_id": 1})
    return {m["_id"].removeprefix("published:") for m in markers}


class OutboxWrites:
    """What outbox-carrying documents this process wrote since the relay last looked.

    `watch(collection)` returns the collection to write through. Per collection, `written` maps a document id to
    the part of the document the relay needs (`outbox`, `outbox_added_at`) when the write was an insert that
    succeeded, or to None when the relay must read the document (an update, or a write that failed and may or
    may not have happened). An update by anything but `_id` asks for a scan of that collection.
    """

    def __init__(self) -> None:
        self.written: dict[str, dict[str, dict[str, Any] | None]] = {}
        self.scan: set[str] = set()
        self.wake = asyncio.Event()

    def watch(self, collection: AsyncCollection) -> WatchedCollection:
        return WatchedCollection(collection, self)

    def note(self, collection_name: str, ids: Iterable[Any] | None) -> None:
        """These documents were (perhaps) changed: the relay reads them."""
        if ids is None:
            self.scan.add(collection_name)
        else:
            self.written.setdefault(collection_name, {}).update((str(i), None) for i in ids)
        self.wake.set()

    def note_inserted(self, collection_name: str, documents: Iterable[dict[str, Any]]) -> None:
        """These documents were inserted as they are: the relay publishes their events without reading them."""
        written = self.written.setdefault(collection_name, {})
        for doc in documents:
            key = str(doc["_id"])
            if key not in written:  # an id noted for reading stays so: it may have changed since
                written[key] = {"_id": doc["_id"], "outbox": doc.get("outbox"),
                                "outbox_added_at": doc.get("outbox_added_at")}
        self.wake.set()

    def take(self) -> tuple[dict[str, dict[str, dict[str, Any] | None]], set[str]]:
        written, scan = self.written, self.scan
        self.written, self.scan = {}, set()
        return written, scan

    def give_back(self, written: dict[str, dict[str, dict[str, Any] | None]], scan: set[str]) -> None:
        """A pass that did not finish: look at these again next time (a newer note of an id wins)."""
        for name, docs in written.items():
            current = self.written.setdefault(name, {})
            for key, doc in docs.items():
                current.setdefault(key, doc)
        self.scan |= scan


def _ids_of(selector: dict[str, Any]) -> list[Any] | None:
    value = selector.get("_id")
    if isinstance(value, dict):
        return list(value["$in"]) if set(value) == {"$in"} else None
    return None if value is None else [value]


class WatchedCollection:
    """An AsyncCollection whose writes are noted for the outbox relay; everything else passes through."""

    def __init__(self, collection: AsyncCollection, writes: OutboxWrites):
        self._collection = collection
        self._writes = writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    @property
    def unwatched(self) -> AsyncCollection:
        return self._collection

    async def insert_one(self, document: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = await self._collection.insert_one(document, *args, **kwargs)
        except BaseException:
            self._writes.note(self._collection.name, [document["_id"]])  # it may exist (as written before)
            raise
        self._writes.note_inserted(self._collection.name, [document])
        return result

    async def insert_many(self, documents: Sequence[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        name = self._collection.name
        try:
            result = await self._collection.insert_many(documents, *args, **kwargs)
        except BulkWriteError as exc:
            if kwargs.get("ordered", True):  # stopped at the first error: which went in is not known
                self._writes.note(name, [d["_id"] for d in documents])
            else:  # the refused ones exist as written before (or not at all): read them; the rest went in
                refused = {e["index"] for e in exc.details.get("writeErrors", [])}
                self._writes.note(name, [documents[i]["_id"] for i in sorted(refused)])
                self._writes.note_inserted(name, [d for i, d in enumerate(documents) if i not in refused])
            raise
        except BaseException:
            self._writes.note(name, [d["_id"] for d in documents])
            raise
        self._writes.note_inserted(name, documents)
        return result

    async def update_one(self, selector: dict[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._collection.update_one(selector, update, *args, **kwargs)
        finally:
            self._writes.note(self._collection.name, _ids_of(selector))

    async def update_many(self, selector: dict[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._collection.update_many(selector, update, *args, **kwargs)
        finally:
            self._writes.note(self._collection.name, _ids_of(selector))

    async def replace_one(self, selector: dict[str, Any], replacement: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._collection.replace_one(selector, replacement, *args, **kwargs)
        finally:
            self._writes.note(self._collection.name, _ids_of(selector))

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        # Which documents a bulk write touched is not something it tells: the relay would not hear of them.
        raise TypeError(f"{self._collection.name} carries events: write it with insert_*, update_* or replace_one, "
                        "which the outbox relay hears of")


class _Verdict(Enum):
    OURS = "ours"            # claimed by this pass's insert
    PUBLISHED = "published"  # a marker (or an old-style claim) says it is out
    HELD = "held"            # a live claim of another relay (or of this relay's other task)
    EXPIRED = "expired"      # a claim whose lease ended: take it over


def _verdict(claimed_before: bool, claim: dict[str, Any] | None, published: bool, now: datetime) -> _Verdict:
    if not claimed_before:
        return _Verdict.OURS
    if published or (claim and claim.get("published_at")):
        return _Verdict.PUBLISHED
    if claim and claim["until"] > now:
        return _Verdict.HELD
    return _Verdict.EXPIRED


@dataclass
class _Claims:
    batch: list[dict[str, Any]] = field(default_factory=list)
    release: list[str] = field(default_factory=list)
    takeovers: list[str] = field(default_factory=list)


class OutboxRelay:
    """Publishes pending events of the given collections; writes through watched collections wake it."""

    def __init__(
        self,
        collections: Iterable[AsyncCollection | WatchedCollection],
        producer: Producer,
        log_collection: AsyncCollection,
        *,
        poll_seconds: float,
        lease_seconds: float,
        linger_seconds: float = 0.0,
        scan_seconds: float = 60.0,
        overlap_seconds: float = 5.0,
        owner: str | None = None,
        writes: OutboxWrites | None = None,
        service: str = "outbox",
        metrics: ServiceMetrics | None = None,
    ):
        self.service = service
        self.metrics = metrics
        # The relay reads through the plain collections; the writers' hints arrive through `writes`.
        self.collections = [c.unwatched if isinstance(c, WatchedCollection) else c for c in collections]
        self.writes = writes or OutboxWrites()
        self.scan_seconds = scan_seconds
        self.producer = producer
        self.log = log_collection
        self.poll_seconds = poll_seconds
        self.linger_seconds = linger_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.overlap = timedelta(seconds=overlap_seconds)
        self.owner = owner or f"relay-{uuid.uuid4()}"
        self.published = 0
        self._published_recently: dict[str, None] = {}  # insertion-ordered; saves a log read per pass
        self._marking: set[asyncio.Task] = set()
        self._unmarked: list[str] = []  # published, marker not written yet: goes with the next pass's claims
        self._marker_timer: asyncio.Task | None = None
        self._mark_now = asyncio.Event()
        # When the periodic scan must look again sooner than scan_seconds (with recent documents too): when the
        # latest live claim of another relay seen ends, or now after a failed scan.
        self._scan_again_at: datetime | None = None
        self._wake = self.writes.wake
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        scans: asyncio.Task | None = None
        try:
            while True:
                self._wake.clear()
                # After stop() one more pass: a graceful stop publishes what the last handled events wrote
                # rather than leaving it to the next start-up scan.
                last = self._stopping
                sent = 0
                try:
                    if scans is None:
                        # The start-up scan: every pending event (a process that died may have left some). The
                        # hinted passes and the periodic scans start after it: running beside it, they would
                        # race it for the same events (each lost race costs a look-up of the claim).
                        await self.publish_pending(full=True, settle=False)
                        scans = asyncio.create_task(self._scan_periodically(), name="outbox-scan")
                    else:
                        sent = await self.publish_pending(full=False, settle=False)
                except (*TRANSIENT_DB_ERRORS, KafkaError) as exc:
                    log.warning("outbox relay: %r; will retry", exc)
                except Exception:  # the relay must keep running; the event stays pending
                    log.exception("outbox relay failed; will retry")
                if last:
                    break
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
                if sent and self.linger_seconds and not self._stopping:
                    # Events keep coming: the writes of the next moment go out in the same pass.
                    await asyncio.sleep(self.linger_seconds)
        finally:
            if scans is not None:
                scans.cancel()
                await asyncio.gather(scans, return_exceptions=True)
            await self.settle()

    async def _scan_periodically(self) -> None:
        """The safety net after the start-up scan: every scan_seconds the events older than the overlap (younger
        ones are their writer's relay's), sooner when another relay's claim held some back."""
        recent_too = False
        while not self._stopping:
            wait = self.scan_seconds
            if self._scan_again_at is not None:
                # Another relay's live claim held an event back: that relay may have died (before sending or
                # after), and its events must not wait a whole scan interval once its lease is over. Or the
                # last scan failed.
                wait = min(wait, max((self._scan_again_at - datetime.now(UTC)).total_seconds(), 0.0) + 1.0)
                self._scan_again_at, recent_too = None, True
            await asyncio.sleep(wait)
            try:
                for collection in self.collections:
                    self.published += await self._pass(collection, recent_too=recent_too)
                recent_too = False
            except (*TRANSIENT_DB_ERRORS, KafkaError) as exc:
                log.warning("outbox scan: %r; will retry", exc)
                self._scan_again_at = datetime.now(UTC)
            except Exception:  # the scan must keep running; the events stay pending
                log.exception("outbox scan failed; will retry")
                self._scan_again_at = datetime.now(UTC)

    async def publish_pending(self, full: bool = True, settle: bool = True) -> int:
        """Publish what is pending: in the documents written since the last pass, or (full) in every document
        changed since the checkpoint. Returns how many events this relay published. With `settle`, returns once
        their published markers are written too."""
        written, scan = self.writes.take()
        sent = 0
        try:
            for collection in self.collections:
                if full or collection.name in scan:
                    sent += await self._pass(collection)
                elif written.get(collection.name):
                    noted = written[collection.name]
                    docs = [doc for doc in noted.values() if doc is not None]
                    docs += await find_by_ids(collection, sorted(k for k, doc in noted.items() if doc is None),
                                          {"outbox": 1, "outbox_added_at": 1})
                    sent += await self._publish_documents(sorted(docs, key=lambda d: d.get("outbox_added_at") or EPOCH))
        except BaseException:
            self.writes.give_back(written, scan)  # not done: look at those documents again on the next pass
            raise
        self.published += sent
        if settle:
            await self.settle()
        return sent

    async def _pass(self, collection: AsyncCollection, recent_too: bool = True) -> int:
        checkpoint_id = f"checkpoint:{collection.name}"
        checkpoint = await self.log.find_one({"_id": checkpoint_id})
        since = checkpoint["at"] if checkpoint else EPOCH
        started = datetime.now(UTC)
        window: dict[str, Any] = {"$gte": since} if recent_too else {"$gte": since, "$lt": started - self.overlap}
        cursor = collection.find({"outbox_added_at": window}, {"outbox": 1, "outbox_added_at": 1})
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

        One insert claims them all (with the markers of the events published before, see _mark_soon); only events
        claimed before are read back (by _id); then the sends.
        """
        pending = self._unpublished(docs)
        if not pending:
            return 0
        now = datetime.now(UTC)
        lost = await self._claim([e["event_id"] for todo in pending for e in todo], now)
        claims = await self._sort_out(pending, lost, now)
        await self._release(claims.release)
        await self._take_over(claims.takeovers, now)
        if not claims.batch:
            return 0
        await self._send(claims.batch)
        batch_ids = [e["event_id"] for e in claims.batch]
        for event_id in batch_ids:
            self._remember(event_id)
        self._mark_soon(batch_ids)
        if self.metrics is not None:
            for e in claims.batch:
                self.metrics.events_produced.labels(e["topic"]).inc()
            self.metrics.outbox_pending.set(sum(len(t) for t in pending) - len(claims.batch))  # held by live claims
        return len(claims.batch)

    def _unpublished(self, docs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Per document, in order, the entries this relay has not published (and the backlog gauges)."""
        pending, oldest = [], None
        for doc in docs:
            entries = sorted((doc.get("outbox") or {}).values(), key=lambda e: e["order"])
            todo = [e for e in entries if e["event_id"] not in self._published_recently]
            if todo:
                pending.append(todo)
                added = doc.get("outbox_added_at")
                oldest = added if oldest is None or (added is not None and added < oldest) else oldest
        if self.metrics is not None:
            self.metrics.outbox_pending.set(sum(len(t) for t in pending))
            self.metrics.outbox_oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        return pending

    async def _claim(self, event_ids: list[str], now: datetime) -> set[str]:
        """Claim optimistically: an insert per event, in one command with the published markers still owed.
        Returns the ids claimed before (by us or another replica, or already published): only those are then
        read, each by _id."""
        markers, self._unmarked = self._unmarked, []
        claims = [{"_id": i, "owner": self.owner, "until": now + self.lease} for i in event_ids]
        try:
            existed = await insert_new_returning_existing(self.log, claims + _marker_documents(markers))
        except BaseException:
            self._mark_soon(markers)  # written with the next claims, or alone
            raise
        return existed & set(event_ids)  # a marker written before (by another replica) is fine

    async def _sort_out(self, pending: list[list[dict[str, Any]]], lost: set[str], now: datetime) -> _Claims:
        """Which claimed entries to send, which claims to give back, which expired claims to take over."""
        known = {d["_id"]: d for d in await find_by_ids(self.log, sorted(lost))} if lost else {}
        published = await published_event_ids(self.log, sorted(lost)) if lost else set()
        claims = _Claims()
        for todo in pending:
            for n, entry in enumerate(todo):
                event_id = entry["event_id"]
                verdict = _verdict(event_id in lost, known.get(event_id), event_id in published, now)
                if verdict is _Verdict.PUBLISHED:
                    self._remember(event_id)
                    continue
                if verdict is _Verdict.HELD:
                    # Another replica is publishing it, or this relay's other task (the scan and the hinted
                    # passes run side by side; a relay that died had another owner id). Keep the document's
                    # order: stop at this event and give back the claims just taken on the ones after it.
                    claims.release += [e["event_id"] for e in todo[n + 1:] if e["event_id"] not in lost]
                    self._look_again_when_released(known[event_id])
                    break
                if verdict is _Verdict.EXPIRED:
                    claims.takeovers.append(event_id)
                claims.batch.append(entry)
        return claims

    def _look_again_when_released(self, claim: dict[str, Any]) -> None:
        if claim.get("owner") != self.owner:
            ends = self._scan_again_at
            self._scan_again_at = claim["until"] if ends is None else max(ends, claim["until"])

    async def _release(self, event_ids: list[str]) -> None:
        if event_ids:
            await asyncio.gather(*(self.log.delete_one({"_id": i}) for i in event_ids))

    async def _take_over(self, event_ids: list[str], now: datetime) -> None:
        """Expired claims (their relay died, or its release failed). Two replicas doing this at once may both
        publish; consumers are idempotent."""
        if not event_ids:
            return
        log.info("outbox relay: taking over %d events whose claims expired (their relay died or failed to "
                 "mark them); a consumer may see them twice", len(event_ids))
        await asyncio.gather(*(self.log.update_one({"_id": i}, {"$set": {"owner": self.owner,
                                                                      "until": now + self.lease}})
                               for i in event_ids))

    async def _send(self, batch: list[dict[str, Any]]) -> None:
        """Send and wait for the broker's acknowledgements; on failure give the claims back at once, so the next
        pass retries promptly instead of waiting for the lease to end."""
        try:
            futures = []
            for e in batch:
                with publishing(self.service, e["topic"], e.get("trace")) as headers:
                    futures.append(await self.producer.send(e["topic"], value=e["value"].encode(),
                                                            key=e["key"].encode(), headers=headers))
            await asyncio.gather(*futures)
        except BaseException as exc:
            await asyncio.gather(*(self.log.delete_one({"_id": e["event_id"]}) for e in batch),
                                 return_exceptions=True)
            if isinstance(exc, FATAL_PRODUCER_ERRORS):
                await self.producer.renew()
            raise

    def _mark_soon(self, event_ids: list[str]) -> None:
        """The published markers go in the next pass's insert of its claims, or alone after MARKER_LINGER_SECONDS
        (or at settle()) when no pass comes. While events keep coming that is one insert command per pass instead
        of two (FerretDB's CPU is mostly per command: bench.flow). No pass waits for them (a wait showed in the
        relay's share of end-to-end latency). This relay knows the events are out (_published_recently); others
        (and this service's next process) learn it from the markers; without them, they publish again once the
        claims' lease ends (a crash in that moment: at-least-once, as before)."""
        if not event_ids:
            return
        self._unmarked += event_ids
        if self._marker_timer is None:
            self._marker_timer = asyncio.create_task(self._mark_when_due())
            self._marking.add(self._marker_timer)
            self._marker_timer.add_done_callback(self._marking.discard)

    async def _mark_when_due(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._mark_now.wait(), MARKER_LINGER_SECONDS)
        finally:
            self._marker_timer = None
        event_ids, self._unmarked = self._unmarked, []  # none when a pass's claims took them meanwhile
        if event_ids:
            await self._mark_published(event_ids)

    async def _mark_published(self, event_ids: list[str]) -> None:
        # Retried until written (e.g. through a database restart): an event without its marker is published again
        # by whichever relay scans it after the claim's lease, a new process of this service included.
        delay = 0.25
        while True:
            try:
                await self.log.insert_many(_marker_documents(event_ids), ordered=False)
                return
            except BulkWriteError as exc:
                duplicate_ids(exc)  # another replica, or an attempt that failed late, marked some of them: fine
                return
            except Exception as exc:  # noqa: BLE001 - at worst a duplicate after the lease, never a lost event
                if self._stopping:
                    log.warning("outbox relay: could not mark %d published events (%r); stopping, so they may be "
                                "published again", len(event_ids), exc)
                    return
                log.warning("outbox relay: could not mark %d published events (%r); retrying in %.1fs",
                            len(event_ids), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)

    async def settle(self) -> None:
        """Write the published markers still owed now, and wait for them being written."""
        self._mark_now.set()
        try:
            while self._marking:
                await asyncio.gather(*self._marking, return_exceptions=True)
        finally:
            self._mark_now.clear()

    def _remember(self, event_id: str) -> None:
        self._published_recently[event_id] = None
        if len(self._published_recently) > 100_000:
            self._published_recently.pop(next(iter(self._published_recently)))


# ---------------------------------------------------------------------------------------------- compaction
# FerretDB has no TTL indexes, and the outbox would keep every event ever published: the entries inside the
# entity documents, a claim and a "published" marker per event in the log, a turn per change. The compactor,
# run periodically by every service (shared/runtime.py), removes what no relay can need any more, in an order
# that is safe while relays run:
#  1. in entity documents older than `keep`, the entries whose events are marked published are removed, by the
#     owning store's own kind of write (`compact`: a turn where its writers take turns), 200 documents at a time,
#     and one record in the log names their markers, with `entry_removed_at`;
#  2. markers so named longer ago than `grace` are deleted with their claims. Before that, a relay that read the
#     document before step 1 still finds the marker; after it, no relay can hold such a read, and no document
#     holds the entry, so nothing is published again;
#  3. claims that expired longer ago than `keep` without a marker (an event whose relay died: it is taken over
#     with a fresh claim anyway, or its document is gone) and turns older than `keep` are deleted. A turn only
#     matters while its writer is between its read and its write (ChangeTurns reclaims one after 30 s).
# Every step is by _id and idempotent: replicas may run it at the same time.

# A store's compaction write: removes the given published entries from these documents (each read as it was, with
# the ids of its published events) and returns the ids of the documents it compacted. Many documents at once: the
# compactor visits every document that owed events (several per registration), and FerretDB's cost is per
# command far more than per document (measured: ~0.5 ms of its CPU for a command of one document, 0.04-0.6 ms per
# document inside a command of 25).
Compact = Callable[[list[tuple[dict[str, Any], list[str]]]], Awaitable[set[Any]]]

COMPACTION_CHUNK = 200  # documents per compaction command (and _ids per `$in`, within the pushdown's 500)


@dataclass(frozen=True)
class CompactionTargets:
    """What a service's outbox compactor works on: each collection that carries events with its store's compaction
    write, and the turn collections to prune (the erasure tombstones are added by the runtime)."""

    collections: list[tuple[AsyncCollection | WatchedCollection, Compact]]
    turns: list[AsyncCollection] = field(default_factory=list)


@dataclass(frozen=True)
class Compacted:
    entries: int = 0
    markers: int = 0
    claims: int = 0
    turns: int = 0


def _plain(collection: AsyncCollection | WatchedCollection) -> AsyncCollection:
    # Compaction is not for the relay: it only removes entries already published.
    return collection.unwatched if isinstance(collection, WatchedCollection) else collection


async def compact_plainly(collection: AsyncCollection | WatchedCollection,
                          pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
    """`Compact` for documents nothing but their insert and their deletion writes (letters, tombstones): the
    update cannot undo another change. One command for them all; a document deleted meanwhile holds no entry
    either, so every one counts as compacted."""
    if pending:
        await _plain(collection).bulk_write(
            [UpdateOne({"_id": doc["_id"]}, compaction_update(doc, event_ids)) for doc, event_ids in pending],
            ordered=False)
    return {doc["_id"] for doc, _ in pending}


# (document as read, its published event ids) -> (the document's next change number, the update that compacts it)
CompactionChange = Callable[[dict[str, Any], list[str]], tuple[int, dict[str, Any]]]


async def compact_in_turns(collection: AsyncCollection | WatchedCollection, turns: ChangeTurns,
                           pending: list[tuple[dict[str, Any], list[str]]], change: CompactionChange) -> set[Any]:
    """`Compact` for documents whose writers take turns (shared.concurrency): one insert takes the turns, one
    command updates the documents whose turn it won. A document changed meanwhile is left to the next run."""
    planned = {doc["_id"]: change(doc, event_ids) for doc, event_ids in pending}
    won = await turns.take_many({doc_id: step for doc_id, (step, _) in planned.items()}, "outbox-compaction")
    if won:
        await _plain(collection).bulk_write([UpdateOne({"_id": doc_id}, planned[doc_id][1]) for doc_id in won],
                                            ordered=False)
    return won


def compaction_as_next_change(doc: dict[str, Any], event_ids: list[str]) -> tuple[int, dict[str, Any]]:
    """The `CompactionChange` of a document that counts its changes in `changes` (cases, listings)."""
    step = next_change_number(doc)
    return step, as_change_number(compaction_update(doc, event_ids), step)


def compaction_counted_by(step: Callable[[dict[str, Any]], int]) -> CompactionChange:
    """The `CompactionChange` of documents whose next change number `step` derives from what they hold (history
    entries, notes) and their `compactions` so far: each compaction adds one to those."""
    def change(doc: dict[str, Any], event_ids: list[str]) -> tuple[int, dict[str, Any]]:
        return step(doc), {**compaction_update(doc, event_ids), "$inc": {"compactions": 1}}
    return change


def compaction_update(doc: dict[str, Any], event_ids: list[str]) -> dict[str, Any]:
    """Remove these (published) entries; when none is left, the document no longer counts as owing events."""
    left = set(doc.get("outbox") or {}) - set(event_ids)
    unset = {f"outbox.{i}": "" for i in event_ids}
    if not left:
        unset = {"outbox": "", "outbox_added_at": ""}
    return {"$unset": unset, "$set": {"outbox_compacted_at": datetime.now(UTC)}}


class OutboxCompactor:
    def __init__(self, targets: CompactionTargets, log_collection: AsyncCollection, *, keep: timedelta,
                 grace: timedelta):
        # Entity documents are read through the plain collections; `compact` writes as their store does.
        self.collections = [(_plain(c), compact) for c, compact in targets.collections]
        self.log = log_collection
        self.turns = list(targets.turns)
        self.keep = keep
        self.grace = grace
        self._indexed = False

    async def ensure_indexes(self) -> None:
        """What each run looks for by time: published markers whose entry is gone, expired claims, old turns (on
        MongoDB; FerretDB reads the collections whole either way)."""
        await self.log.create_index([("entry_removed_at", 1)])
        await self.log.create_index([("until", 1)])
        for turns in self.turns:
            await turns.create_index([("at", 1)])
        self._indexed = True

    async def run_once(self, now: datetime | None = None) -> Compacted:
        now = now or datetime.now(UTC)
        if not self._indexed:
            await self.ensure_indexes()
        entries = 0
        for collection, compact in self.collections:
            entries += await self._compact_documents(collection, compact, now)
        markers, claims = await self._delete_markers(now)
        claims += await self._delete_expired_claims(now)
        turns = sum([await self._delete_old(turns, {"at": {"$lt": now - self.keep}}) for turns in self.turns])
        done = Compacted(entries=entries, markers=markers, claims=claims, turns=turns)
        if done != Compacted():
            log.info("outbox compaction: %s", done)
        return done

    async def _compact_documents(self, collection: AsyncCollection, compact: Compact, now: datetime) -> int:
        removed = 0
        chunk: list[dict[str, Any]] = []
        async for doc in collection.find({"outbox_added_at": {"$lt": now - self.keep}}):
            chunk.append(doc)
            if len(chunk) == COMPACTION_CHUNK:
                removed += await self._compact_chunk(chunk, compact, now)
                chunk = []
        return removed + (await self._compact_chunk(chunk, compact, now) if chunk else 0)

    async def _compact_chunk(self, docs: list[dict[str, Any]], compact: Compact, now: datetime) -> int:
        """One read of the markers, one compaction write, one record of the markers whose entries it removed,
        whatever the chunk's size."""
        published = await published_event_ids(self.log, [i for doc in docs for i in doc.get("outbox") or {}])
        pending = [(doc, ids) for doc in docs if (ids := sorted(set(doc.get("outbox") or {}) & published))]
        if not pending:
            return 0  # nothing published yet: the next run looks again
        compacted = await compact(pending)  # a document changed meanwhile is left to the next run
        removed = [_marker(i) for doc, ids in pending if doc["_id"] in compacted for i in ids]
        if removed:
            # One insert naming them, not an update of each marker (FerretDB rewrites every document it updates).
            await self.log.insert_one({"_id": f"{_REMOVED}{uuid.uuid4()}", "entry_removed_at": now,
                                       "markers": removed})
        return len(removed)

    async def _delete_markers(self, now: datetime) -> tuple[int, int]:
        markers, records = [], []
        async for found in self.log.find({"entry_removed_at": {"$lt": now - self.grace}}, {"_id": 1, "markers": 1}):
            if found["_id"].startswith(_REMOVED):
                records.append(found["_id"])
                markers += found["markers"]
            else:
                markers.append(found["_id"])  # a marker flagged on its own (by an installation before #16)
        claims = [m.removeprefix("published:") for m in markers]
        # The claims first: a marker without its claim still says "published"; a claim without its marker would
        # be taken over and its event published again, if its document still held the entry (it does not).
        claims_deleted = await self._delete_ids(self.log, claims)
        markers_deleted = await self._delete_ids(self.log, markers)
        await self._delete_ids(self.log, records)  # last: a run that stops before this deletes them again
        return markers_deleted, claims_deleted

    async def _delete_expired_claims(self, now: datetime) -> int:
        # (A claim with `published_at` is an old-style marker: it stays until its entry is compacted.)
        expired = [c["_id"] async for c in self.log.find({"until": {"$lt": now - self.keep}},
                                                         {"_id": 1, "published_at": 1})
                   if not c.get("published_at")]
        marked = await published_event_ids(self.log, expired) if expired else set()
        return await self._delete_ids(self.log, [c for c in expired if c not in marked])

    async def _delete_old(self, collection: AsyncCollection, selector: dict[str, Any]) -> int:
        return await self._delete_ids(collection, [doc["_id"] async for doc in collection.find(selector, {"_id": 1})])

    @staticmethod
    async def _delete_ids(collection: AsyncCollection, ids: list[Any]) -> int:
        deleted = 0
        for start in range(0, len(ids), COMPACTION_CHUNK):
            result = await collection.delete_many({"_id": {"$in": ids[start:start + COMPACTION_CHUNK]}})
            deleted += result.deleted_count
        return deleted
