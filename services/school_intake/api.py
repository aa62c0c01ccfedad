"""HTTP endpoints of the school intake: task queues, one task, its transitions, schools and their places.

School staff see and act on their own school's (unit's) tasks only; another school's task is "not found".
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from services.school_intake import domain, workflow
from services.school_intake.schemas import IntakeTaskPublic, ReceptionClassPlaces, SchoolPublic, TransitionRequest
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from shared.audit import AuditAction, AuditDep
from shared.auth import AnyStaff, Principal, Role, require
from shared.web import from_state

router = APIRouter(tags=["intake tasks"])


StoreDep = Annotated[IntakeTaskStore, Depends(from_state("store"))]
ConfigDep = Annotated[domain.MunicipalityConfig, Depends(from_state("intake_config"))]
SettingsDep = Annotated[SchoolIntakeSettings, Depends(from_state("settings"))]
SchoolStaff = Annotated[Principal, Depends(require(Role.SCHOOL_STAFF))]
NOT_FOUND = "No intake task with this id at your school."


@router.get("/intake-tasks", response_model=list[IntakeTaskPublic])
async def intake_tasks(
    user: SchoolStaff,
    store: StoreDep,
    audit: AuditDep,
    case_id: uuid.UUID | None = None,
    school_id: Annotated[str | None, Query(max_length=100, description="your school (unit) id; the default")] = None,
    status_filter: Annotated[domain.TaskStatus | None, Query(alias="status")] = None,
) -> list[IntakeTaskPublic]:
    """Your school's (unit's) open tasks, oldest due first (with status, the tasks in that status); or, with
    case_id, that case's tasks at your school."""
    if school_id is not None and school_id != user.school_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "You see your own school's queue only.")
    if case_id is not None:
        docs = [d for d in await store.tasks_of_case(str(case_id)) if d["unit_id"] == user.school_id]
    else:
        statuses = [status_filter.value] if status_filter else domain.TASK_WORKFLOW.open_statuses()
        docs = await store.queue(user.own_school_id, statuses)
    await audit.record(user, AuditAction.READ, "intake tasks", case_ids=[d["case_id"] for d in docs],
                       record_ids=[d["_id"] for d in docs])
    return [IntakeTaskPublic.from_document(d) for d in docs]


async def own_task(store: IntakeTaskStore, user: Principal, task_id: uuid.UUID) -> dict:
    task = await store.get_task(str(task_id))
    if task is None or task["unit_id"] != user.school_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return task


@router.get("/intake-tasks/{task_id}", response_model=IntakeTaskPublic)
async def intake_task(task_id: uuid.UUID, user: SchoolStaff, store: StoreDep, audit: AuditDep) -> IntakeTaskPublic:
    task = await own_task(store, user, task_id)
    await audit.record(user, AuditAction.READ, "intake task", case_ids=[task["case_id"]], record_ids=[task["_id"]])
    return IntakeTaskPublic.from_document(task)


async def move_task(user: Principal, task_id: uuid.UUID, body: TransitionRequest, *, store: IntakeTaskStore,
                    settings: SchoolIntakeSettings, config: domain.MunicipalityConfig, audit: AuditDep,
                    channel: str) -> dict:
    """One transition by a school's staff member (API and pages), audited."""
    try:
        task = await workflow.transition(store, settings, config, str(task_id), body.to, user.name, body.reason,
                                         body.target_school_id, unit_id=user.school_id)
    except workflow.TaskNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND) from None
    except workflow.WorkflowRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": str(exc)}) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    await audit.record(user, AuditAction.CHANGE, f"intake task -> {body.to.value}", case_ids=[task["case_id"]],
                       record_ids=[task["_id"]], channel=channel)
    return task


@router.post("/intake-tasks/{task_id}/transitions", response_model=IntakeTaskPublic)
async def transition_task(task_id: uuid.UUID, body: TransitionRequest, user: SchoolStaff, store: StoreDep,
                          settings: SettingsDep, config: ConfigDep, audit: AuditDep) -> IntakeTaskPublic:
    task = await move_task(user, task_id, body, store=store, settings=settings, config=config, audit=audit,
                           channel="api")
    return IntakeTaskPublic.from_document(task)


@router.get("/schools", response_model=list[SchoolPublic])
async def schools(user: AnyStaff, store: StoreDep, config: ConfigDep) -> list[SchoolPublic]:
    """Every school with its reception-class places: capacity, free now, and children waiting per grade band."""
    taken = await store.seats_taken()
    waiting = await store.waitlist_counts()
    result = []
    for school in config.schools:
        classes = []
        for rc in school.reception_classes:
            classes.append(ReceptionClassPlaces(
                grades=rc.grades, capacity=rc.places,
                free=max(rc.places - taken.get(domain.place_pool_id(school.id, rc.grades), 0), 0),
                waitlisted=sum(n for grade,
                               n in waiting.items() if grade is not None and rc.grades[0] <= grade <= rc.grades[1]),
            ))
        result.append(SchoolPublic(id=school.id, name=school.name, address=school.address, grades=school.grades,
                                   reception_classes=classes))
    return result
