"""The filters our stores run return exactly what MongoDB's rules say, on the session's database.

Locally and in CI that is FerretDB with our patch (deploy/ferretdb/pushdown.patch), which hands one condition of
a filter to SQLite and adds the documents holding an array in that field by a second SELECT; the handler applies
the whole filter again. The expected answers are computed here from the documents by MongoDB's rules (an equality
or a range also matches an array holding a matching element, each bound of a range may be met by a
different element; a range on dates matches dates only), written out
independently of the database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from tests.conftest import Infrastructure

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def documents() -> list[dict[str, Any]]:
    rnd = random.Random(16)
    docs = []
    for i in range(2000):
        doc: dict[str, Any] = {"_id": f"id{i}", "unit_id": f"u{rnd.randrange(40)}",
                               "status": rnd.choice(["new", "placed", "closed"]),
                               "at": BASE + timedelta(minutes=i), "consent": i % 3 == 0, "pad": "x" * 200}
        if i % 97 == 0:
            doc["unit_id"] = [doc["unit_id"], "u7"]          # an array holding the value looked for
        if i % 89 == 0:
            doc["unit_id"] = 7                               # another type
        if i % 83 == 0 or i % 194 == 0:                  # (with the array above: arrays in both fields)
            doc["at"] = [BASE - timedelta(days=1), BASE + timedelta(days=400)]
        if i % 79 == 0:
            doc["at"] = "2026-01-01"                          # a string, not a date
        if i % 101 == 0:
            doc["consent"] = 1                               # a number, not true
        if i % 103 == 0:
            doc["consent"] = [False, True]
        if i % 71 == 0:
            del doc["unit_id"], doc["status"]
        docs.append(doc)
    return docs


def equals(doc: dict[str, Any], field: str, value: object) -> bool:
    held = doc.get(field)
    return held == value or (isinstance(held, list) and value in held)


def is_true(doc: dict[str, Any], field: str) -> bool:
    """A boolean true (not the number 1, which Python's == would take for it), or an array holding one."""
    held = doc.get(field)
    return held is True or (isinstance(held, list) and any(v is True for v in held))


def date_in(doc: dict[str, Any], field: str, low: datetime | None, high: datetime | None) -> bool:
    """MongoDB's rule for a range on an array: each bound may be met by a different element."""
    held = doc.get(field)
    dates = [v for v in (held if isinstance(held, list) else [held]) if isinstance(v, datetime)]
    return (any(low is None or v >= low for v in dates)) and any(high is None or v < high for v in dates)


CLOSED = next(d["_id"] for d in documents() if d.get("status") == "closed")
OPEN = next(d["_id"] for d in documents() if d.get("status") == "new")

CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"unit_id": "u7"}, lambda d: equals(d, "unit_id", "u7")),
    ({"unit_id": {"$eq": "u9"}}, lambda d: equals(d, "unit_id", "u9")),
    ({"unit_id": "u7", "status": "new"}, lambda d: equals(d, "unit_id", "u7") and d.get("status") == "new"),
    ({"unit_id": "u7", "at": {"$gte": BASE + timedelta(minutes=1000)}},   # two indexed fields, arrays in both
     lambda d: equals(d, "unit_id", "u7") and date_in(d, "at", BASE + timedelta(minutes=1000), None)),
    ({"unit_id": {"$in": ["u7", "u8"]}}, lambda d: equals(d, "unit_id", "u7") or equals(d, "unit_id", "u8")),
    ({"status": "closed"}, lambda d: d.get("status") == "closed"),
    ({"consent": True}, lambda d: is_true(d, "consent")),
    ({"at": {"$gte": BASE + timedelta(minutes=1900)}},
     lambda d: date_in(d, "at", BASE + timedelta(minutes=1900), None)),
    ({"at": {"$lt": BASE + timedelta(minutes=50)}}, lambda d: date_in(d, "at", None, BASE + timedelta(minutes=50))),
    ({"status": "new", "at": {"$gte": BASE + timedelta(minutes=500), "$lt": BASE + timedelta(minutes=900)}},
     lambda d: d.get("status") == "new" and date_in(d, "at", BASE + timedelta(minutes=500),
                                                    BASE + timedelta(minutes=900))),
    ({"_id": {"$in": ["id5", "id6", "id-none"]}}, lambda d: d["_id"] in ("id5", "id6")),
    ({"_id": CLOSED, "status": "closed"}, lambda d: d["_id"] == CLOSED),
    ({"_id": OPEN, "status": "closed"}, lambda d: False),
    ({"_id": OPEN, "status": {"$ne": "closed"}}, lambda d: d["_id"] == OPEN),
]


@pytest.fixture
async def collection(infrastructure: Infrastructure, mongo_client: AsyncMongoClient) -> Any:
    collection = mongo_client[f"test_{infrastructure.run_id}_queries"]["docs"]
    await collection.drop()
    await collection.create_index([("unit_id", 1), ("at", 1)])
    await collection.create_index([("at", 1)])
    await collection.create_index([("consent", 1)])
    await collection.insert_many(documents())
    return collection


@pytest.mark.parametrize(("query", "rule"), CASES, ids=[str(q) for q, _ in CASES])
async def test_a_find_returns_exactly_the_matching_documents_once(collection: Any, query: dict[str, Any],
                                                                   rule: Callable[[dict[str, Any]], bool]) -> None:
    found = [doc["_id"] async for doc in collection.find(query, {"_id": 1})]
    expected = sorted(d["_id"] for d in documents() if rule(d))
    assert sorted(found) == expected
    assert len(found) == len(set(found))  # none twice (the array SELECT and the value SELECT are disjoint)


async def test_updates_and_deletes_reach_every_matching_document(collection: Any) -> None:
    expected = sorted(d["_id"] for d in documents() if equals(d, "unit_id", "u3"))
    updated = await collection.update_many({"unit_id": "u3"}, {"$inc": {"seen": 1}})
    assert updated.modified_count == len(expected)
    assert sorted([d["_id"] async for d in collection.find({"seen": 1}, {"_id": 1})]) == expected

    doomed = sorted(d["_id"] for d in documents() if date_in(d, "at", None, BASE + timedelta(minutes=300)))
    deleted = await collection.delete_many({"at": {"$lt": BASE + timedelta(minutes=300)}})
    assert deleted.deleted_count == len(doomed)
    assert await collection.find_one({"_id": {"$in": doomed}}) is None


async def test_the_same_commands_answer_rightly_across_changes_of_the_collection(
        infrastructure: Infrastructure, mongo_client: AsyncMongoClient) -> None:
    """Our FerretDB keeps each SQL statement it runs prepared (deploy/ferretdb/statement-cache.patch): the same
    insert and finds, run again after an index is added, and after the collection is dropped and made again, must
    see the collection as it is then."""
    collection = mongo_client[f"test_{infrastructure.run_id}_statements"]["docs"]

    async def the_same_commands(n: int) -> tuple[list[str], list[str]]:
        await collection.insert_one({"_id": f"d{n}", "unit_id": "u1", "n": n})
        by_id = [d["_id"] async for d in collection.find({"_id": {"$in": [f"d{n}", "d-none"]}})]
        by_unit = sorted([d["_id"] async for d in collection.find({"unit_id": "u1"})])
        return by_id, by_unit

    await collection.drop()
    assert await the_same_commands(1) == (["d1"], ["d1"])
    assert await the_same_commands(2) == (["d2"], ["d1", "d2"])
    await collection.create_index([("unit_id", 1)])
    assert await the_same_commands(3) == (["d3"], ["d1", "d2", "d3"])
    await collection.drop()
    assert await the_same_commands(4) == (["d4"], ["d4"])
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "d4", "unit_id": "u1", "n": 4})  # a unique violation still says so
    await collection.drop()
