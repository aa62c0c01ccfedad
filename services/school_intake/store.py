"""The school intake's collections: intake tasks (with their pending events) and reception-class seats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.school_intake.domain import IntakeKind, TaskStatus
from shared.concurrency import ChangeTurns
from shared.db import find_by_ids, insert_new, insert_new_returning_existing, newest
from shared.outbox import CompactionTargets, compact_in_turns, compaction_counted_by, ensure_outbox_indexes

# What a waitlisted task's place in line follows from (domain.WaitingLines), without its history and events.
PLACE_FIELDS = {"case_id": 1, "kind": 1, "status": 1, "grade_band": 1, "arrival_date": 1, "created_at": 1,
                "waitlist_position": 1}


class IntakeTaskStore:
    def __init__(self, db: AsyncDatabase, watch: Callable[[AsyncCollection], Any] = lambda collection: collection):
        # Collections whose documents carry pending events are written through watch() (see shared.outbox).
        self.tasks = watch(db["intake_tasks"])
        # One document per taken reception-class seat: `_id` "<pool>#<seat number>", unique `task_id`.
        # Taking a seat is an insert, atomic on FerretDB and MongoDB alike, so two placements can never
        # overbook the last seat, and one task can never hold two seats.
        self.seats = db["reception_seats"]
        self.turns = ChangeTurns(db["intake_task_turns"])

    async def ensure_indexes(self) -> None:
        await self.tasks.create_index([("case_id", 1)])
        await self.tasks.create_index([("status", 1), ("due_date", 1)])
        await self.tasks.create_index([("unit_id", 1), ("status", 1), ("due_date", 1)])
        await self.tasks.create_index([("unit_id", 1), ("status", 1), ("updated_at", 1)])
        await self.tasks.create_index([("status", 1), ("kind", 1), ("grade", 1), ("arrival_date", 1)])
        await self.tasks.create_index([("kind", 1), ("status", 1), ("created_at", 1)])
        await self.tasks.create_index([("kind", 1), ("updated_at", 1)])
        await self.seats.create_index([("task_id", 1)], unique=True)
        await self.seats.create_index([("pool_id", 1)])
        await ensure_outbox_indexes(self.tasks)

    # ------------------------------------------------------------------------------------------ seats

    async def reserve_seat(self, pool_id: str, capacity: int, task_id: str) -> bool:
        """Take a free seat of the pool for the task; True if the task holds a seat of this pool afterwards."""
        taken = {doc["_id"] async for doc in self.seats.find({"pool_id": pool_id}, {"_id": 1})}
        for number in range(capacity):
            seat_id = f"{pool_id}#{number}"
            if seat_id in taken:
                continue
            if await insert_new(self.seats, {"_id": seat_id, "pool_id": pool_id, "task_id": task_id,
                                             "taken_at": datetime.now(UTC)}):
                return True
            held = await self.seat_of(task_id)
            if held is not None:  # the task already holds a seat (a redelivered event)
                return held["pool_id"] == pool_id
        return False

    async def release_seat(self, task_id: str) -> dict[str, Any] | None:
        """Give back the seat this task holds; returns it (None if the task held none)."""
        seat = await self.seat_of(task_id)
        if seat is None:
            return None
        result = await self.seats.delete_one({"_id": seat["_id"], "task_id": task_id})
        return seat if result.deleted_count == 1 else None

    async def seat_of(self, task_id: str) -> dict[str, Any] | None:
        return await self.seats.find_one({"task_id": task_id})

    async def all_seats(self) -> list[dict[str, Any]]:
        """Every taken seat (at most the municipality's reception-class capacity: a few hundred)."""
        return await self.seats.find({}, {"pool_id": 1, "task_id": 1}).to_list(length=None)

    async def seats_taken(self) -> dict[str, int]:
        pipeline = [{"$group": {"_id": "$pool_id", "count": {"$sum": 1}}}]
        return {row["_id"]: row["count"] async for row in await self.seats.aggregate(pipeline)}

    # ------------------------------------------------------------------------------------------ tasks

    async def existing_task_ids(self, task_ids: list[str]) -> set[str]:
        return {doc["_id"] for doc in await find_by_ids(self.tasks, task_ids, {"_id": 1})}

    async def insert_task(self, task: dict[str, Any]) -> bool:
        return await insert_new(self.tasks, task)

    async def insert_tasks(self, tasks: list[dict[str, Any]]) -> set[str]:
        """Store the tasks that do not exist yet (one unordered insert); returns the ids of those that existed."""
        return await insert_new_returning_existing(self.tasks, tasks)

    async def get_task(self, task_id: str) -> dict[str, Any] | None:
        return await self.tasks.find_one({"_id": task_id}, {"outbox": 0})

    async def change_task(self, task: dict[str, Any], by: str, update: dict[str, Any]) -> bool:
        """Apply `update` as the next change of the task as it was read; False if it changed meanwhile."""
        # Compactions count as changes too (they add no history entry).
        if not await self.turns.take(task["_id"], _task_step(task), by):
            return False
        # By _id alone, as every store here: the turn already makes this the only change number N of the task. A
        # further condition (the status read) made FerretDB read the collection row by row to find the task:
        # measured on 3,000 tasks, 36 ms per update (116 ms when the status itself changes) instead of 3 ms, and
        # growing with the number of tasks.
        result = await self.tasks.update_one({"_id": task["_id"]}, update)
        return result.modified_count == 1

    def outbox_compaction(self) -> CompactionTargets:
        return CompactionTargets([(self.tasks, self.compact_outbox)], [self.turns.collection])

    async def compact_outbox(self, pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
        """Remove published entries (OutboxCompactor), each task taking its turn like every other change (see
        change_task: compactions count as changes)."""
        return await compact_in_turns(self.tasks, self.turns, pending, compaction_counted_by(_task_step))

    async def delete_task(self, task_id: str) -> None:
        await self.tasks.delete_one({"_id": task_id})

    async def delete_tasks_of_case(self, case_id: str) -> int:
        return (await self.tasks.delete_many({"case_id": case_id})).deleted_count

    async def oldest_waitlisted(self, grades: tuple[int, int], skip: set[str]) -> dict[str, Any] | None:
        cursor = self.tasks.find(
            {"status": TaskStatus.WAITLISTED.value, "kind": "reception_class",
             "grade": {"$gte": grades[0], "$lte": grades[1]}, "_id": {"$nin": sorted(skip)}},
            {"outbox": 0},
        ).sort([("arrival_date", 1), ("created_at", 1), ("_id", 1)]).limit(1)
        found = await cursor.to_list(length=1)
        return found[0] if found else None

    async def waitlist_places(self) -> list[dict[str, Any]]:
        """Every waitlisted reception-class task: the fields of its place in line (domain.WaitingLines)."""
        query = {"status": TaskStatus.WAITLISTED.value, "kind": IntakeKind.RECEPTION_CLASS.value}
        return await self.tasks.find(query, PLACE_FIELDS).to_list(length=None)

    async def waitlist_changes_since(self, since: datetime) -> list[dict[str, Any]]:
        """The reception-class tasks created waitlisted since `since`, then those whose status changed since (the
        (kind, status, created_at) and (kind, updated_at) indexes: not the whole line)."""
        joined = {"kind": IntakeKind.RECEPTION_CLASS.value, "status": TaskStatus.WAITLISTED.value,
                  "created_at": {"$gte": since}}
        moved_on = {"kind": IntakeKind.RECEPTION_CLASS.value, "updated_at": {"$gte": since}}
        return [*await self.tasks.find(joined, PLACE_FIELDS).to_list(length=None),
                *await self.tasks.find(moved_on, PLACE_FIELDS).to_list(length=None)]

    async def offered_tasks(self) -> list[dict[str, Any]]:
        return await self.tasks.find({"status": TaskStatus.OFFERED.value}, {"outbox": 0}).to_list(length=None)

    async def waitlist_counts(self) -> dict[int, int]:
        """Waitlisted reception-class tasks per grade."""
        pipeline = [
            {"$match": {"status": TaskStatus.WAITLISTED.value, "kind": "reception_class"}},
            {"$group": {"_id": "$grade", "count": {"$sum": 1}}},
        ]
        return {row["_id"]: row["count"] async for row in await self.tasks.aggregate(pipeline)}

    async def tasks_of_case(self, case_id: str) -> list[dict[str, Any]]:
        return await self.tasks.find({"case_id": case_id}, {"outbox": 0}).sort("child_index", 1).to_list(length=100)

    async def new_or_offered_tasks(self) -> list[dict[str, Any]]:
        """What the reminder job looks at: tasks waiting for their unit, and places offered to families."""
        query = {"status": {"$in": [TaskStatus.NEW.value, TaskStatus.OFFERED.value]}}
        return await self.tasks.find(query, {"outbox": 0}).to_list(length=None)

    async def queue(self, unit_id: str, statuses: Iterable[str], limit: int = 500) -> list[dict[str, Any]]:
        """The unit's tasks in these statuses, oldest due first. Asked for the open ones, what it reads does not
        grow with the unit's finished tasks (the (unit_id, status, due_date) index)."""
        query = {"unit_id": unit_id, "status": {"$in": [str(s) for s in statuses]}}
        cursor = self.tasks.find(query, {"outbox": 0}).sort([("due_date", 1), ("created_at", 1)])
        return await cursor.to_list(length=limit)

    async def finished_since(self, unit_id: str, statuses: Iterable[str], since: datetime,
                             limit: int = 100) -> list[dict[str, Any]]:
        """The unit's tasks finished (in one of these statuses) since `since`, the latest `limit` (the
        (unit_id, status, updated_at) index): not every task the unit ever had."""
        query = {"unit_id": unit_id, "status": {"$in": [str(s) for s in statuses]}}
        return await newest(self.tasks, query, "updated_at", limit, datetime.now(UTC), since=since,
                            projection={"outbox": 0})


def _task_step(task: dict[str, Any]) -> int:
    """A task's next change number: its history entries and compactions so far."""
    return len(task["history"]) + task.get("compactions", 0)
