"""shared.db's reads on the session's database: `newest` (window by window) and `find_by_ids` (one $in per chunk)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shared.db import GroupCommit, find_by_ids, insert_new_each, keep_newest, keep_newest_many, newest, next_reach
from tests.conftest import Infrastructure

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# Hours back of each document: 3 in the last day, 8 more in the last week, 20 more in the last month, 40 older.
HOURS_BACK = [2, 5, 20] + [30 + 15 * i for i in range(8)] + [200 + 25 * i for i in range(20)] + \
             [800 + 200 * i for i in range(40)]


@pytest.fixture
async def collection(infrastructure: Infrastructure, mongo_client: AsyncMongoClient) -> Any:
    collection = mongo_client[f"test_{infrastructure.run_id}_db_helpers"]["docs"]
    await collection.drop()
    await collection.create_index([("kind", 1), ("at", 1)])
    await collection.insert_many([{"_id": f"d{i}", "kind": "a" if i % 4 else "b", "at": NOW - timedelta(hours=h)}
                                  for i, h in enumerate(HOURS_BACK)])
    return collection


def expected(kind: str, limit: int, since: datetime | None = None) -> list[str]:
    docs = [(NOW - timedelta(hours=h), f"d{i}") for i, h in enumerate(HOURS_BACK)
            if ("a" if i % 4 else "b") == kind and (since is None or NOW - timedelta(hours=h) >= since)]
    return [doc_id for _, doc_id in sorted(docs, reverse=True)[:limit]]


@pytest.mark.parametrize("limit", [1, 2, 5, 20, 50, 500])
async def test_newest_gives_the_newest_matching_documents_newest_first(collection: Any, limit: int) -> None:
    found = await newest(collection, {"kind": "a"}, "at", limit, NOW)
    assert [d["_id"] for d in found] == expected("a", limit)


@pytest.mark.parametrize("limit", [3, 40])
async def test_newest_since_leaves_out_older_documents(collection: Any, limit: int) -> None:
    since = NOW - timedelta(days=10)
    found = await newest(collection, {"kind": "b"}, "at", limit, NOW, since=since, projection={"at": 1})
    assert [d["_id"] for d in found] == expected("b", limit, since)
    assert all(d["at"] >= since for d in found)


async def test_newest_ends_with_the_documents_without_the_field_as_a_plain_find(collection: Any) -> None:
    await collection.insert_one({"_id": "undated", "kind": "a"})
    found = await newest(collection, {"kind": "a"}, "at", 500, NOW)
    assert [d["_id"] for d in found] == [*expected("a", 500), "undated"]


class Reads:
    """A collection whose finds are noted, to count what each one returns."""

    def __init__(self, collection: Any):
        self.collection = collection
        self.filters: list[dict[str, Any]] = []

    def find(self, query: dict[str, Any], projection: dict | None = None) -> Any:
        self.filters.append(query)
        return self.collection.find(query, projection)


@pytest.mark.parametrize("limit", [5, 20, 500])
async def test_newest_reads_no_document_twice(collection: Any, limit: int) -> None:
    """Each window asks only for the time before the last one: what the filters match, summed, is no more than
    the distinct documents they match (overlapping windows would read the newest ones again and again)."""
    reads = Reads(collection)
    await newest(reads, {"kind": "a"}, "at", limit, NOW)
    assert len(reads.filters) > 1
    matched = [{d["_id"] async for d in collection.find(f, {"_id": 1})} for f in reads.filters]
    assert sum(len(m) for m in matched) == len(set().union(*matched))


async def test_newest_reaches_back_as_far_as_the_density_says(collection: Any) -> None:
    """A busy collection (55 documents a day, as a school's finished tasks in the seeded benchmark): the newest
    100 are the last day and most of the next; a fixed week as the second window read 385 documents to keep
    100. What the filters match, summed, stays within half again the limit."""
    await collection.insert_many([{"_id": f"busy{i}", "kind": "busy", "at": NOW - timedelta(minutes=i * 1440 / 55)}
                                  for i in range(55 * 30)])
    reads = Reads(collection)
    found = await newest(reads, {"kind": "busy"}, "at", 100, NOW)
    assert [d["_id"] for d in found] == [f"busy{i}" for i in range(100)]
    matched = sum([await collection.count_documents(f) for f in reads.filters])
    assert matched <= 150, (matched, reads.filters)


@pytest.mark.parametrize(("found", "factor"), [(0, 16.0), (1, 16.0), (50, 2.4), (90, 1.5), (100, 1.5)])
def test_next_reach_grows_with_what_is_missing_within_bounds(found: int, factor: float) -> None:
    assert next_reach(timedelta(hours=10), found, 100) == timedelta(hours=10 * factor)


class Commands:
    """A collection whose finds and bulk writes are counted."""

    def __init__(self, collection: Any):
        self.collection, self.finds, self.writes = collection, 0, 0

    def find(self, *args: Any) -> Any:
        self.finds += 1
        return self.collection.find(*args)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return await self.collection.bulk_write(*args, **kwargs)


async def test_keep_newest_many_keeps_each_newest_in_two_commands(collection: Any) -> None:
    """Stored d0 and d1 (NOW - 2 h, NOW - 5 h): d0 older (left), d1 newer (replaced), x new (inserted, the newest of
    its three, the first of two equal), d3 (NOW - 30 h) equal (left as stored)."""
    hour = timedelta(hours=1)
    docs = [{"_id": "d0", "at": NOW - 3 * hour, "v": "late"}, {"_id": "d1", "at": NOW, "v": "newer"},
            {"_id": "x", "at": NOW - hour, "v": "first"}, {"_id": "x", "at": NOW - hour, "v": "equal"},
            {"_id": "x", "at": NOW - 2 * hour, "v": "older"}, {"_id": "d3", "at": NOW - 30 * hour, "v": "same"}]
    counted = Commands(collection)
    kept = await keep_newest_many(counted, docs, "at")
    assert (counted.finds, counted.writes) == (1, 1)
    stored = {d["_id"]: d async for d in collection.find({"_id": {"$in": ["d0", "d1", "x", "d3"]}})}
    assert "v" not in stored["d0"] and stored["d1"]["v"] == "newer" and stored["x"]["v"] == "first"
    assert "v" not in stored["d3"]
    assert kept == {i: d["at"] for i, d in stored.items()}
    assert await keep_newest(collection, {"_id": "d0", "at": NOW - 9 * hour}, "at") is False
    assert await keep_newest(collection, {"_id": "d1", "at": NOW}, "at") is True  # equal: left as stored


async def test_keep_newest_many_of_a_whole_poll_completes(collection: Any) -> None:
    """250 replaces of stored documents in one update command. FerretDB 1.24 kept each statement's query (and its
    SQLite connection) open until the command ended: past 100 the database's pool was gone and the command, and
    every other one, waited for good (deploy/ferretdb/update-statements.patch)."""
    await collection.insert_many([{"_id": f"many{i}", "at": NOW - timedelta(hours=1)} for i in range(250)])
    docs = [{"_id": f"many{i}", "at": NOW, "v": i} for i in range(250)]  # each newer than the stored one
    kept = await asyncio.wait_for(keep_newest_many(collection, docs, "at"), 60)
    assert kept == {d["_id"]: NOW for d in docs}
    assert await collection.count_documents({"_id": {"$in": [d["_id"] for d in docs]}, "v": {"$gte": 0}}) == 250


async def test_find_by_ids_keeps_the_order_asked_and_skips_missing_ones(collection: Any) -> None:
    ids = [f"d{i}" for i in reversed(range(len(HOURS_BACK)))] + ["missing", "d3"]
    found = await find_by_ids(collection, ids, {"_id": 1}, chunk=7)
    assert [d["_id"] for d in found] == [f"d{i}" for i in reversed(range(len(HOURS_BACK)))]


async def test_insert_new_each_says_which_went_in_also_for_one_id_twice_in_the_batch(collection: Any) -> None:
    docs = [{"_id": "new1"}, {"_id": "d3"}, {"_id": "new2"}, {"_id": "new1", "second": True}, {"_id": "new3"}]
    assert await insert_new_each(collection, docs) == [True, False, True, False, True]
    assert await collection.find_one({"_id": "new1"}) == {"_id": "new1"}  # the first of the two
    assert await insert_new_each(collection, []) == []


async def test_a_group_commit_shares_an_insert_and_answers_each_document_with_its_own_result(collection: Any) -> None:
    inserts: list[int] = []

    async def insert(docs: list[dict[str, Any]]) -> list[bool]:
        inserts.append(len(docs))
        return await insert_new_each(collection, docs)

    group: GroupCommit[bool] = GroupCommit(insert)
    results = await asyncio.gather(*(group.add({"_id": i}) for i in ["g1", "d0", "g2", "g1", "g3", "d5"]))
    assert results == [True, False, True, False, True, False]
    assert inserts == [6]  # all handed over before the writer ran: one insert

    async def failing(docs: list[dict[str, Any]]) -> list[bool]:
        raise RuntimeError("database down")

    broken: GroupCommit[bool] = GroupCommit(failing)
    outcomes = await asyncio.gather(broken.add({"_id": "x"}), broken.add({"_id": "y"}), return_exceptions=True)
    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
