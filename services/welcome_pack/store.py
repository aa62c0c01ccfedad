"""The welcome pack's collections: letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import find_by_ids, insert_new_many
from shared.outbox import ensure_outbox_indexes


class LetterStore:
    def __init__(self, db: AsyncDatabase, watch: Callable[[AsyncCollection], Any] = lambda collection: collection):
        # Collections whose documents carry pending events are written through watch() (see shared.outbox).
        self.letters = watch(db["letters"])
        self.contacts = db["family_contacts"]

    async def ensure_indexes(self) -> None:
        await self.letters.create_index([("case_id", 1), ("language", 1)])
        await ensure_outbox_indexes(self.letters)

    async def insert_letters(self, letters: list[dict[str, Any]]) -> int:
        """Store the letters that do not exist yet (one unordered insert); returns how many were new."""
        return await insert_new_many(self.letters, letters)

    async def letters_of_case(self, case_id: str) -> list[dict[str, Any]]:
        cursor = self.letters.find({"case_id": case_id}, {"html": 0, "arrival": 0, "outbox": 0}).sort("created_at", 1)
        return await cursor.to_list(length=100)

    async def get_letter(self, letter_id: str) -> dict[str, Any] | None:
        return await self.letters.find_one({"_id": letter_id}, {"outbox": 0})

    async def erase_case(self, case_id: str) -> int:
        """Delete the case's letters (they hold names, the address and the household) and its contact."""
        deleted = (await self.letters.delete_many({"case_id": case_id})).deleted_count
        return deleted + (await self.contacts.delete_one({"_id": case_id})).deleted_count

    # ------------------------------------------------------------------------------------------ family contact
    # One document per case: the family's address and consent. Written by the arrival (an insert), changed only by
    # the family's unsubscribing: no two writers can undo each other.

    async def remember_contacts(self, contacts: list[dict[str, Any]]) -> None:
        await insert_new_many(self.contacts, contacts)

    async def consenting(self, case_ids: list[str]) -> set[str]:
        found = await find_by_ids(self.contacts, case_ids, {"consent": 1})
        return {c["_id"] for c in found if c.get("consent")}

    async def contact(self, case_id: str) -> dict[str, Any] | None:
        return await self.contacts.find_one({"_id": case_id})

    async def withdraw_consent(self, case_id: str, at: datetime) -> None:
        await self.contacts.update_one({"_id": case_id}, {"$set": {"consent": False, "withdrawn_at": at}})
