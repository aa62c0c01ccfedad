"""The registration service's collections: cases (each with its pending events, see shared.outbox) and the
timeline of what other services reported about each case."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import TypeAdapter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.registration.domain import TimelineEntry
from shared.concurrency import ChangeTurns, as_change_number, next_change_number
from shared.db import GroupCommit, insert_new_each, insert_new_many, keep_newest_many, newest
from shared.outbox import (
    LOG_COLLECTION,
    CompactionTargets,
    compact_in_turns,
    compaction_as_next_change,
    ensure_outbox_indexes,
    published_event_ids,
)


class CaseStore:
    def __init__(self, db: AsyncDatabase, watch: Callable[[AsyncCollection], Any] = lambda collection: collection):
        # Collections whose documents carry pending events are written through watch() (see shared.outbox).
        self.cases = watch(db["cases"])
        self._case_inserts: GroupCommit[bool] = GroupCommit(partial(insert_new_each, self.cases))
        self.outbox_log = db[LOG_COLLECTION]
        self.timeline = db["timeline"]
        self.confirmations = db["erasure_confirmations"]
        # The family's plan as welcome_pack last reported it (one per case; counts and due dates, nothing personal).
        self.plan_progress = db["plan_progress"]
        # Every change of a case takes a turn first (shared/concurrency.py): FerretDB's updates are not atomic, so
        # a close and an erasure at the same moment could otherwise write the erased data back.
        self.turns = ChangeTurns(db["case_turns"])

    async def ensure_indexes(self) -> None:
        await ensure_outbox_indexes(self.cases)
        await self.cases.create_index([("registered_at", -1)])
        await self.cases.create_index([("closed_at", 1)])  # the retention job's closed cases
        await self.confirmations.create_index([("case_id", 1)])
        await self.timeline.create_index([("case_id", 1), ("at", 1)])

    async def insert_case(self, case: dict[str, Any]) -> bool:
        """Insert a new case with its pending events in one write; False if a case with that id exists. Requests
        that register at the same moment share one insert (group commit: a database command per registration was
        the POST's largest cost after the audit entry, which is written so already)."""
        return await self._case_inserts.add(case)

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id}, {"outbox": 0})

    async def arrival_published(self, case: dict[str, Any]) -> bool:
        # A case whose entries were compacted had its first event, the arrival, published: the relay publishes a
        # document's events in order, and only published entries are compacted.
        if case.get("outbox_compacted_at") is not None:
            return True
        return case["arrival_event_id"] in await published_event_ids(self.outbox_log, [case["arrival_event_id"]])

    def outbox_compaction(self) -> CompactionTargets:
        return CompactionTargets([(self.cases, self.compact_outbox)], [self.turns.collection])

    async def compact_outbox(self, pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
        """Remove published entries (OutboxCompactor), each case taking its turn like every other change."""
        return await compact_in_turns(self.cases, self.turns, pending, compaction_as_next_change)

    async def recent_cases(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest cases (not erased), read window by window back from now (shared.db.newest)."""
        return await newest(self.cases, _NOT_ERASED, "registered_at", limit, datetime.now(UTC),
                            projection=_CASE_SUMMARY)

    async def search_cases(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """By CPR number (exact), case id, or part of the newcomer's name (any case)."""
        text = text.strip()
        conditions: list[dict[str, Any]] = [{"newcomer.full_name": {"$regex": re.escape(text), "$options": "i"}}]
        if re.fullmatch(r"\d{6}-?\d{4}", text):
            conditions.append({"cpr_number": f"{text[:6]}-{text[-4:]}"})
        if re.fullmatch(r"[0-9a-fA-F-]{36}", text):
            conditions.append({"_id": text.lower()})
        cursor = self.cases.find({"$or": conditions, **_NOT_ERASED}, _CASE_SUMMARY)
        cursor = cursor.sort([("registered_at", -1)]).limit(limit)
        return await cursor.to_list(length=limit)

    async def change_case(self, case: dict[str, Any], by: str, update: dict[str, Any]) -> bool:
        """Apply `update` as the next change of the case as it was read; False if it changed meanwhile (read it
        again). One writer per change number: the turn is a unique insert, atomic on FerretDB and MongoDB."""
        step = next_change_number(case)
        if not await self.turns.take(case["_id"], step, by):
            return False
        result = await self.cases.update_one({"_id": case["_id"]}, as_change_number(update, step))
        return result.matched_count == 1

    async def closed_before(self, cutoff: datetime) -> list[str]:
        cursor = self.cases.find({"closed_at": {"$lte": cutoff}, **_NOT_ERASED}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def add_confirmations(self, confirmations: list[dict[str, Any]]) -> int:
        """One per case and service (the id says so): a redelivered confirmation adds nothing."""
        docs = [{"_id": f"{c['case_id']}:{c['service']}", **c} for c in confirmations]
        return await insert_new_many(self.confirmations, docs)

    async def confirmations_of(self, case_id: str) -> dict[str, datetime]:
        return {doc["service"]: doc["erased_at"] async for doc in self.confirmations.find({"case_id": case_id})}

    async def add_to_timeline(self, events: list[tuple[uuid.UUID, list[TimelineEntry]]]) -> int:
        """Each event's lines (event id, lines) in one document keyed by the event id: a redelivered event adds
        nothing. The ten leads of a JobLeadsFound are one document, not ten: FerretDB's cost is per document
        written, and within one per field (see _timeline_document)."""
        docs = [_timeline_document(event_id, lines) for event_id, lines in events if lines]
        return await insert_new_many(self.timeline, docs)

    async def record_plan_progress(self, reports: list[dict[str, Any]]) -> None:
        """Keep each case's newest report (`_id` the case, `at` when it was so); an older one, late or
        redelivered, changes nothing. Two commands, whatever the number of reports."""
        await keep_newest_many(self.plan_progress, reports, "at")

    async def plan_progress_of(self, case_id: str) -> dict[str, Any] | None:
        return await self.plan_progress.find_one({"_id": case_id})

    async def timeline_of(self, case_id: str) -> list[TimelineEntry]:
        cursor = self.timeline.find({"case_id": case_id}).sort([("at", 1)])
        # Keyed by line: a JobLeadsFound stored line by line (before lines were kept together) and again, redelivered
        # since, as one document, shows each lead once.
        lines = {line.event_id: line async for doc in cursor for line in _timeline_lines(doc)}
        return list(lines.values())


_NOT_ERASED = {"erasure": {"$exists": False}}
# Lists show who and when; the CPR number and pending events stay out.
_CASE_SUMMARY = {"newcomer": 1, "household": 1, "registered_at": 1}


# The lines of a timeline document, as JSON text: they are only ever read whole, by the case (its case_id and at
# are fields, for the index). FerretDB encodes every field of a document, with its type, on each write and read:
# the ten lines of a JobLeadsFound as documents cost it 0.47 ms to insert, as one text 0.13 ms (#16).
_LINES = TypeAdapter(list[TimelineEntry])


def _timeline_document(event_id: uuid.UUID, lines: list[TimelineEntry]) -> dict[str, Any]:
    return {"_id": str(event_id), "case_id": str(lines[0].case_id), "at": min(line.at for line in lines),
            "lines_json": _LINES.dump_json(lines, exclude={"__all__": {"case_id"}}).decode()}


def _timeline_lines(doc: dict[str, Any]) -> list[TimelineEntry]:
    """Also the forms earlier versions stored: the lines as documents, or a one-line event as that line."""
    if "lines_json" in doc:
        return [TimelineEntry(case_id=doc["case_id"], **line) for line in json.loads(doc["lines_json"])]
    if "lines" in doc:
        return [TimelineEntry(case_id=doc["case_id"], **line) for line in doc["lines"]]
    return [TimelineEntry(event_id=doc.pop("_id"), **doc)]
