"""A school's intake queue for its staff: the children's tasks, oldest due first, with the workflow's actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.school_intake import domain
from services.school_intake.api import ConfigDep, SchoolStaff, SettingsDep, StoreDep, move_task
from services.school_intake.schemas import TransitionRequest
from services.school_intake.texts import catalog, reason_text
from shared.audit import AuditAction, AuditDep
from shared.pages import language
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

ACTION_LABELS = {
    "acknowledged": ("Kvittér", "Acknowledge"),
    "meeting_scheduled": ("Møde aftalt", "Meeting scheduled"),
    "placed": ("Indskrevet", "Placed"),
    "declined": ("Afvis", "Decline"),
    "redirected": ("Henvis til anden skole", "Refer to another school"),
}


# The queue shows every open task, and the tasks finished in these last weeks (not every task the school ever had).
FINISHED_SHOWN = timedelta(days=30)


@router.get("/")
async def queue_page(request: Request, user: SchoolStaff, store: StoreDep, config: ConfigDep, pages: PagesDep,
                     audit: AuditDep) -> Response:
    open_tasks = await store.queue(user.own_school_id, domain.TASK_WORKFLOW.open_statuses())
    closed = await store.finished_since(user.own_school_id, domain.TASK_WORKFLOW.final_statuses(),
                                        datetime.now(UTC) - FINISHED_SHOWN)
    tasks = open_tasks + closed
    await audit.record(user, AuditAction.READ, "intake queue", case_ids=[t["case_id"] for t in tasks],
                       record_ids=[t["_id"] for t in tasks], channel="page")
    unit_name = next((t["unit_name"] for t in tasks), user.school_id)
    return pages.render(request, "queue.html", open_tasks=open_tasks, closed_tasks=closed, unit_name=unit_name,
                        next_statuses=lambda t: domain.TASK_WORKFLOW.next_statuses(domain.TaskStatus(t["status"])),
                        action_labels=ACTION_LABELS, schools=[s for s in config.schools if s.id != user.school_id],
                        reason=partial(reason_text, gettext=catalog(language(request)).gettext))


@router.post("/tasks/{task_id}/move")
async def move_from_page(task_id: uuid.UUID, request: Request, user: SchoolStaff, store: StoreDep,
                         settings: SettingsDep, config: ConfigDep, audit: AuditDep,
                         to: Annotated[str, Form()], reason: Annotated[str, Form(max_length=1000)] = "",
                         target_school_id: Annotated[str, Form(max_length=100)] = "") -> Response:
    try:
        body = TransitionRequest(to=to, reason=reason.strip() or None, target_school_id=target_school_id or None)
    except ValidationError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Unknown action.") from None
    await move_task(user, task_id, body, store=store, settings=settings, config=config, audit=audit,
                    channel="page")
    return RedirectResponse(f"/#task-{task_id}", status_code=status.HTTP_303_SEE_OTHER)
