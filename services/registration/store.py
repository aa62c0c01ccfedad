"""The registration service's collections: cases (each with its pending events, see shared.outbox)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.db import insert_new
from shared.outbox import LOG_COLLECTION, ensure_outbox_indexes, published_event_ids


class CaseStore:
    def __init__(self, db: AsyncDatabase):
        self.cases = db["cases"]
        self.outbox_log = db[LOG_COLLECTION]

    async def ensure_indexes(self) -> None:
        await ensure_outbox_indexes(self.cases)
        await self.cases.create_index([("registered_at", -1)])

    async def insert_case(self, case: dict[str, Any]) -> bool:
        """Insert a new case with its pending events in one write; False if a case with that id exists."""
        return await insert_new(self.cases, case)

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id}, {"outbox": 0})

    async def is_published(self, event_id: str) -> bool:
        return event_id in await published_event_ids(self.outbox_log, [event_id])
