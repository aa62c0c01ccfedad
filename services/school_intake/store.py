"""The school intake's collections: intake tasks."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

_DUPLICATE_KEY = 11000


class IntakeTaskStore:
    def __init__(self, db: AsyncDatabase):
        self.tasks = db["intake_tasks"]

    async def ensure_indexes(self) -> None:
        await self.tasks.create_index([("case_id", 1)])
        await self.tasks.create_index([("unit_id", 1), ("status", 1), ("due_date", 1)])

    async def insert_tasks(self, tasks: list[dict[str, Any]]) -> int:
        """Insert the tasks that do not exist yet (ids are deterministic); returns how many were new."""
        if not tasks:
            return 0
        try:
            result = await self.tasks.insert_many(tasks, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            return exc.details.get("nInserted", 0)

    async def tasks_of_case(self, case_id: str) -> list[dict[str, Any]]:
        return await self.tasks.find({"case_id": case_id}).sort("child_index", 1).to_list(length=100)

    async def queue(self, unit_id: str, status: str | None, limit: int = 200) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"unit_id": unit_id}
        if status:
            query["status"] = status
        return await self.tasks.find(query).sort([("due_date", 1), ("created_at", 1)]).to_list(length=limit)
