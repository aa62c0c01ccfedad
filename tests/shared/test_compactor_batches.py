"""The outbox compactor works in chunks (shared.outbox: OutboxCompactor): a run over hundreds of documents sends a
few commands per chunk, not several per document, and still leaves alone a document whose writer holds its turn
(until that turn is abandoned)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from shared.concurrency import ChangeTurns
from shared.outbox import (
    COMPACTION_CHUNK,
    LOG_COLLECTION,
    CompactionTargets,
    OutboxCompactor,
    compact_in_turns,
    compaction_update,
)
from tests.conftest import Infrastructure

DOCUMENTS = 2 * COMPACTION_CHUNK + 50  # three chunks, the last one short


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def entries(n: int) -> dict[str, dict[str, Any]]:
    return {f"e{n}-{k}": {"topic": "t", "key": f"d{n}", "value": "{}"} for k in range(2)}


async def test_a_run_compacts_in_a_few_commands_per_chunk_and_leaves_a_document_whose_turn_is_held(
        infrastructure: Infrastructure) -> None:
    commands = Commands()
    client: AsyncMongoClient = AsyncMongoClient(infrastructure.mongodb_uri, tz_aware=True,
                                                event_listeners=[commands])
    db = client[f"test_{infrastructure.run_id}_compactor_{uuid.uuid4().hex[:6]}"]
    try:
        things, log, turns = db["things"], db[LOG_COLLECTION], ChangeTurns(db["thing_turns"])
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        await things.insert_many([{"_id": f"d{n}", "history": [1, 2], "outbox": entries(n), "outbox_added_at": long_ago}
                                  for n in range(DOCUMENTS)])
        published = [f"e{n}-{k}" for n in range(DOCUMENTS) for k in range(2) if (n, k) != (0, 1)]  # d0's 2nd: not yet
        await log.insert_many([{"_id": i, "owner": "r", "until": long_ago} for i in published] +
                              [{"_id": f"published:{i}", "at": long_ago} for i in published])
        await turns.collection.insert_one({"_id": "d1:2", "by": "a clerk", "at": datetime.now(UTC)})  # d1's writer
        # A marker flagged on its own by an installation from before the records of removed entries.
        await log.insert_many([{"_id": "old", "owner": "r", "until": long_ago},
                               {"_id": "published:old", "at": long_ago, "entry_removed_at": long_ago}])

        def change(doc: dict[str, Any], event_ids: list[str]) -> tuple[int, dict[str, Any]]:
            return len(doc["history"]), {**compaction_update(doc, event_ids), "$push": {"history": "compacted"}}

        async def compact(pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
            return await compact_in_turns(things, turns, pending, change)

        compactor = OutboxCompactor(CompactionTargets([(things, compact)]), log, keep=timedelta(0),
                                    grace=timedelta(0))
        await compactor.ensure_indexes()
        commands.names.clear()
        first = await compactor.run_once()
        first_commands = len(commands.names)
        second = await compactor.run_once()  # the flagged markers go, with their claims

        assert first.entries == len(published) - 2 and second.markers == second.claims == len(published) - 2
        assert first.markers == first.claims == 1  # the old one
        # Per chunk of 200 documents: the marker reads (one $in per 200 ids), one turn insert, one update, one
        # record of the removed entries; one by one it was a turn, an update and a marker flag per document.
        print(f"\n[compactor] {DOCUMENTS} documents, {len(published)} published events: first run "
              f"{first_commands} commands ({sorted(set(commands.names))})")
        assert first_commands < DOCUMENTS / 10, commands.names
        left = {doc["_id"]: doc async for doc in things.find({"outbox": {"$exists": True}})}
        assert set(left) == {"d0", "d1"}
        assert set(left["d0"]["outbox"]) == {"e0-1"} and left["d0"]["history"] == [1, 2, "compacted"]
        assert set(left["d1"]["outbox"]) == {"e1-0", "e1-1"} and left["d1"]["history"] == [1, 2]
        assert {doc["_id"] async for doc in log.find({})} == {
            "e1-0", "e1-1", "published:e1-0", "published:e1-1"}  # d1's stay: its entries are still there

        # The clerk's turn abandoned (older than ChangeTurns' 30 s): the next run reclaims it and compacts d1.
        await turns.collection.update_one({"_id": "d1:2"}, {"$set": {"at": datetime.now(UTC) - timedelta(minutes=5)}})
        await compactor.run_once()
        await compactor.run_once()
        assert not await things.find_one({"_id": "d1", "outbox": {"$exists": True}})
        assert await log.count_documents({}) == 0
    finally:
        await client.drop_database(db.name)
        await client.close()
