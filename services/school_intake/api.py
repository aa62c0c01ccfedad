"""HTTP endpoints of the school intake: a case's tasks, or a school's (unit's) queue."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from services.school_intake.schemas import IntakeTaskPublic
from services.school_intake.store import IntakeTaskStore

router = APIRouter(tags=["intake tasks"])


def get_store(request: Request) -> IntakeTaskStore:
    return request.app.state.store


StoreDep = Annotated[IntakeTaskStore, Depends(get_store)]


@router.get("/intake-tasks", response_model=list[IntakeTaskPublic])
async def intake_tasks(
    store: StoreDep,
    case_id: uuid.UUID | None = None,
    school_id: Annotated[str | None, Query(max_length=100, description="school, daycare district or youth unit id")] = None,
    status_filter: Annotated[str | None, Query(alias="status", max_length=40)] = None,
) -> list[IntakeTaskPublic]:
    if case_id is not None:
        docs = await store.tasks_of_case(str(case_id))
    elif school_id is not None:
        docs = await store.queue(school_id, status_filter)
    else:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Give case_id, or school_id (and optionally status).")
    return [IntakeTaskPublic.from_document(d) for d in docs]
