"""One writer at a time per document, on databases whose conditional updates are not atomic.

FerretDB 1.x applies `update_one({"_id": x, "status": "new"}, ...)` as: find the document, change it in
memory, write it back whole. Two such updates at the same moment can both match and the later one overwrites
the earlier one. Inserts with a unique `_id` are atomic on FerretDB and MongoDB alike, so a change to a
document first takes its turn: it inserts `<document id>:<step>` where step is how many changes the document
has had (e.g. the length of its history). Only one writer can take a given step; the other is told the
document changed meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.db import insert_new, insert_new_returning_existing


def next_change_number(doc: dict[str, Any]) -> int:
    """The next change number of a document that counts its changes in `changes` (cases, listings)."""
    return int(doc.get("changes", 0)) + 1


def as_change_number(update: dict[str, Any], step: int) -> dict[str, Any]:
    """`update` that also records `step` as the document's number of changes (with next_change_number)."""
    return {**update, "$set": {**update.get("$set", {}), "changes": step}}


class ChangedMeanwhile(Exception):
    """Someone else changed the document between our read and our write: reload and try again (HTTP 409)."""

    def __init__(self, what: str = "it") -> None:
        super().__init__(f"{what} was changed by someone else a moment ago; reload it and try again")


class ChangeTurns:
    def __init__(self, collection: AsyncCollection, abandoned_after: timedelta = timedelta(seconds=30)):
        self.collection = collection
        self.abandoned_after = abandoned_after

    async def take(self, document_id: str, step: int, by: str) -> bool:
        """True if this writer may make change number `step` of the document."""
        turn_id = f"{document_id}:{step}"
        for _ in range(2):
            if await insert_new(self.collection, {"_id": turn_id, "by": by, "at": datetime.now(UTC)}):
                return True
            existing = await self.collection.find_one({"_id": turn_id})
            # A writer that took the turn and died before writing leaves it behind: reclaim it once it is old.
            # The caller re-reads the document, so a change that did land is never applied twice.
            if existing is None or existing["at"] > datetime.now(UTC) - self.abandoned_after:
                return False
            await self.collection.delete_one({"_id": turn_id, "at": existing["at"]})
        return False

    async def take_many(self, steps: dict[str, int], by: str) -> set[str]:
        """`take` for many documents (document id -> change number) in one insert; returns the ids of the documents
        whose turn this writer took. A refused one is asked again alone (an abandoned turn is reclaimed there)."""
        turn_ids = {f"{document_id}:{step}": document_id for document_id, step in steps.items()}
        now = datetime.now(UTC)
        refused = await insert_new_returning_existing(
            self.collection, [{"_id": turn_id, "by": by, "at": now} for turn_id in turn_ids])
        taken = {document_id for turn_id, document_id in turn_ids.items() if turn_id not in refused}
        for turn_id in refused:
            if await self.take(turn_ids[turn_id], steps[turn_ids[turn_id]], by):
                taken.add(turn_ids[turn_id])
        return taken
