"""The audit trail: every read or change of a person's data, by whom, in what role, when, of which case.

Append-only: this module only inserts and queries; no code path updates or deletes an entry. Each service keeps
its own trail in its own database (services share no data), and each offers GET /audit to admins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth import Principal, Role, require
from shared.db import GroupCommit, insert_new_each

COLLECTION = "audit_log"


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    CHANGE = "change"
    ERASE = "erase"


class AuditEntry(BaseModel):
    id: uuid.UUID
    at: datetime
    service: str
    actor: str
    actor_name: str
    role: str
    school_id: str | None
    action: AuditAction
    what: str
    case_ids: list[str]
    record_ids: list[str]
    channel: str


class AuditLog:
    """Writes audit entries with group commit (shared.db.GroupCommit): requests that record at the same moment
    share one insert_many, and each waits for the insert that holds its entry (no entry, no answer)."""

    def __init__(self, db: AsyncDatabase, service: str):
        self.entries = db[COLLECTION]
        self.service = service
        self._inserts = GroupCommit(partial(insert_new_each, self.entries))

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("case_ids", 1), ("at", DESCENDING)])
        await self.entries.create_index([("actor", 1), ("at", DESCENDING)])

    async def record(self, principal: Principal, action: AuditAction, what: str, *, case_ids: Iterable[str] = (),
                     record_ids: Iterable[str] = (), channel: str = "api") -> None:
        """Write one entry; returns when it is stored. Called before the data is returned: no entry, no answer."""
        await self._inserts.add({
            "_id": str(uuid.uuid4()), "at": datetime.now(UTC), "service": self.service, **principal.audit_fields(),
            "action": action.value, "what": what, "case_ids": sorted({str(c) for c in case_ids}),
            "record_ids": [str(r) for r in record_ids], "channel": channel,
        })

    async def query(self, *, case_id: str | None = None, actor: str | None = None, since: datetime | None = None,
                    limit: int = 200) -> list[AuditEntry]:
        query: dict[str, Any] = {}
        if case_id:
            query["case_ids"] = case_id
        if actor:
            query["actor"] = actor
        if since:
            query["at"] = {"$gte": since}
        cursor = self.entries.find(query).sort([("at", DESCENDING)]).limit(limit)
        return [AuditEntry(id=d.pop("_id"), **d) async for d in cursor]


async def _audit_log(request: Request) -> AuditLog:
    return request.app.state.runtime.audit


AuditDep = Annotated[AuditLog, Depends(_audit_log)]

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEntry])
async def audit_trail(
    audit: AuditDep,
    admin: Annotated[Principal, Depends(require(Role.ADMIN))],
    case_id: uuid.UUID | None = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntry]:
    """Who read or changed personal data in this service, newest first (admins only)."""
    return await audit.query(case_id=str(case_id) if case_id else None, actor=actor, since=since, limit=limit)
