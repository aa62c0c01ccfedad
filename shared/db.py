"""The database client. Each service owns one database (settings.mongodb_database) and reads no other."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pymongo import AsyncMongoClient, ReplaceOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from shared.settings import ServiceSettings

T = TypeVar("T")

# Errors that mean "the database is not reachable right now": retry, never give up on the work.
TRANSIENT_DB_ERRORS = (AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError)


def connect(settings: ServiceSettings, listeners: Sequence[monitoring.CommandListener] = ()) -> AsyncMongoClient:
    # tz_aware: datetimes come back as UTC-aware, like the ones we write.
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        appname=settings.service_name,
        event_listeners=list(listeners),
    )


def database(client: AsyncMongoClient, settings: ServiceSettings) -> AsyncDatabase:
    return client[settings.mongodb_database]


def as_stored(moment: datetime) -> datetime:
    """The time as the database keeps it: BSON dates hold milliseconds. Where an order is worked out from a time
    in hand and later from the stored one, both must be this one."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def ping(db: AsyncDatabase) -> None:
    await db.command("ping")


DUPLICATE_KEY = 11000


async def insert_new(collection: AsyncCollection, document: dict[str, Any]) -> bool:
    """Insert a document whose _id is deterministic; False if it exists (a redelivered event, a retried request).

    A unique-key insert is atomic on FerretDB and MongoDB alike, unlike a conditional update on FerretDB.
    """
    try:
        await collection.insert_one(document)
        return True
    except DuplicateKeyError:
        return False


def duplicate_ids(error: BulkWriteError) -> list[Any]:
    """The _ids an unordered insert_many refused as existing; re-raises when anything else went wrong."""
    errors = error.details.get("writeErrors", [])
    if any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise error
    return [e["op"]["_id"] for e in errors]


async def insert_new_each(collection: AsyncCollection, documents: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert those documents that do not exist yet (one unordered insert); for each, whether it went in (not:
    one with its _id existed, or came before it in `documents`)."""
    if not documents:
        return []
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        duplicate_ids(exc)  # re-raises anything but duplicates
        refused = {e["index"] for e in exc.details.get("writeErrors", [])}
        return [n not in refused for n in range(len(documents))]
    return [True] * len(documents)


async def insert_new_returning_existing(collection: AsyncCollection, documents: Sequence[dict[str, Any]]) -> set[Any]:
    """Insert those documents that do not exist yet (one unordered insert); returns the _ids that existed (a
    unique insert each: a claim or marker is won by exactly one writer, on FerretDB as on MongoDB)."""
    inserted = await insert_new_each(collection, documents)
    return {document["_id"] for document, new in zip(documents, inserted, strict=True) if not new}


async def insert_new_many(collection: AsyncCollection, documents: Sequence[dict[str, Any]]) -> int:
    """Insert those documents that do not exist yet (one unordered insert); returns how many were new."""
    return sum(await insert_new_each(collection, documents))


class GroupCommit(Generic[T]):
    """Inserts with group commit: what is handed over while an insert runs goes in the next one, together. No
    timer: one at a time, each goes in at once. The insert returns one result per document, in order (e.g.
    insert_new_each: whether it went in); `add` returns the future of the document's result, or of the error of
    the insert that held it."""

    def __init__(self, insert: Callable[[list[dict[str, Any]]], Awaitable[Sequence[T]]]):
        self._insert = insert
        self._queue: list[tuple[dict[str, Any], asyncio.Future[T]]] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, document: dict[str, Any]) -> asyncio.Future[T]:
        stored: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((document, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return stored

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._insert([document for document, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting caller gets the error
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
                continue
            for (_, stored), result in zip(batch, results, strict=True):
                if not stored.done():
                    stored.set_result(result)


async def keep_newest(collection: AsyncCollection, document: dict[str, Any], by: str) -> bool:
    """Store the document (by its _id) unless the stored one is at least as new by the field `by`. False when the
    stored one is newer (this one came late); an equal one is left as stored."""
    kept = await keep_newest_many(collection, [document], by)
    return bool(kept[document["_id"]] == document[by])


async def keep_newest_many(collection: AsyncCollection, documents: Sequence[dict[str, Any]], by: str) -> dict[Any, Any]:
    """`keep_newest` for many documents in two commands: one read of the stored `by`s, one write of a replace for
    each that is newer (of several with one _id, the newest, the first of equal ones). Returns each _id's `by` as
    stored now. Only for documents one writer at a time changes (a case's events in order): the read and the
    replace are two steps on FerretDB."""
    chosen: dict[Any, dict[str, Any]] = {}
    for doc in documents:
        if doc["_id"] not in chosen or doc[by] > chosen[doc["_id"]][by]:
            chosen[doc["_id"]] = doc
    if not chosen:
        return {}
    kept = {d["_id"]: d[by] for d in await find_by_ids(collection, list(chosen), {by: 1})}
    newer = [d for i, d in chosen.items() if i not in kept or kept[i] < d[by]]
    if newer:
        await collection.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in newer], ordered=False)
    return {**kept, **{d["_id"]: d[by] for d in newer}}


async def find_by_ids(collection: AsyncCollection, ids: Sequence[Any], projection: dict | None = None,
                      chunk: int = 200) -> list[dict[str, Any]]:
    """Documents by _id, in the order of `ids` (those that exist): one `$in` query per chunk, which MongoDB and
    our FerretDB (deploy/ferretdb/pushdown.patch, up to 500 values) answer from the `_id` index."""
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(ids), chunk):
        async for doc in collection.find({"_id": {"$in": list(ids[start:start + chunk])}}, projection):
            found[doc["_id"]] = doc
    return [found[i] for i in dict.fromkeys(ids) if i in found]


# `newest` looks back window by window: the first reaches a day back; each next one as far as the density found
# so far says `limit` documents lie (a fifth more, for unevenness), between 1.5 and 16 times the reach before;
# past a year, back to the beginning (or `since`).
NEWEST_FIRST_REACH = timedelta(days=1)
NEWEST_LAST_REACH = timedelta(days=366)
NEWEST_GROWTH = (1.5, 16.0)


def next_reach(reach: timedelta, found: int, limit: int) -> timedelta:
    """How far back `newest`'s next window reaches, from how many of `limit` it found within `reach`."""
    low, high = NEWEST_GROWTH
    factor = high if found == 0 else min(max(limit / found * 1.2, low), high)
    return reach * factor


async def newest(collection: AsyncCollection, query: dict[str, Any], by: str, limit: int, now: datetime, *,
                 since: datetime | None = None, projection: dict | None = None) -> list[dict[str, Any]]:
    """The `limit` documents matching `query` with the newest `by` (not before `since`, when given). FerretDB
    sorts in memory all that the filter returns, so the range on `by` (an index serves it) reaches back window
    by window until it holds `limit`: a read of the newest that does not grow with the years of data behind
    them. Each window asks only for the time before the last one (and for what is still missing), so no
    document is read twice, and reaches as far as the documents found so far say is needed, so the last window
    reads little more than it keeps (a fixed week after a busy day read six days to keep a few)."""
    docs: list[dict[str, Any]] = []
    reach = NEWEST_FIRST_REACH
    later: datetime | None = None  # the start of the window before: this one ends there
    while True:
        bound: datetime | None = now - reach if reach < NEWEST_LAST_REACH else None
        last = bound is None or (since is not None and bound <= since)
        if since is not None and last:
            bound = since
        window: dict[str, Any] | None
        if bound is not None:
            window = {"$gte": bound, "$lt": later} if later is not None else {"$gte": bound}
        else:  # back to the beginning: with documents that have no `by` (sorted last), as a plain find would
            window = {"$not": {"$gte": later}} if later is not None else None
        wanted = limit - len(docs)
        asked = {**query, by: window} if window is not None else query
        docs += await collection.find(asked, projection).sort([(by, -1)]).limit(wanted).to_list(length=wanted)
        if len(docs) >= limit or last:
            return docs
        later = bound
        reach = next_reach(reach, len(docs), limit)
