"""HTTP endpoints of the school intake: task queues, one task, its transitions, schools and their places."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from services.school_intake import domain, workflow
from services.school_intake.schemas import IntakeTaskPublic, ReceptionClassPlaces, SchoolPublic, TransitionRequest
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from shared.web import RelayDep, from_state

router = APIRouter(tags=["intake tasks"])


StoreDep = Annotated[IntakeTaskStore, Depends(from_state("store"))]
ConfigDep = Annotated[domain.MunicipalityConfig, Depends(from_state("intake_config"))]
SettingsDep = Annotated[SchoolIntakeSettings, Depends(from_state("settings"))]


@router.get("/intake-tasks", response_model=list[IntakeTaskPublic])
async def intake_tasks(
    store: StoreDep,
    case_id: uuid.UUID | None = None,
    school_id: Annotated[str | None, Query(max_length=100, description="school, daycare district or youth unit id")] = None,
    status_filter: Annotated[domain.TaskStatus | None, Query(alias="status")] = None,
) -> list[IntakeTaskPublic]:
    """A case's tasks, or one school's (unit's) queue, oldest due first."""
    if case_id is not None:
        docs = await store.tasks_of_case(str(case_id))
    elif school_id is not None:
        docs = await store.queue(school_id, status_filter.value if status_filter else None)
    else:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Give case_id, or school_id (and optionally status).")
    return [IntakeTaskPublic.from_document(d) for d in docs]


@router.get("/intake-tasks/{task_id}", response_model=IntakeTaskPublic)
async def intake_task(task_id: uuid.UUID, store: StoreDep) -> IntakeTaskPublic:
    task = await store.get_task(str(task_id))
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No intake task with this id.")
    return IntakeTaskPublic.from_document(task)


@router.post("/intake-tasks/{task_id}/transitions", response_model=IntakeTaskPublic)
async def transition_task(task_id: uuid.UUID, body: TransitionRequest, store: StoreDep, settings: SettingsDep,
                          config: ConfigDep, relay: RelayDep) -> IntakeTaskPublic:
    try:
        task = await workflow.transition(store, settings, config, str(task_id), body.to, body.by, body.reason,
                                         body.target_school_id)
    except workflow.TaskNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No intake task with this id.") from None
    except workflow.WorkflowRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": str(exc)}) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if relay is not None:
        relay.notify()
    return IntakeTaskPublic.from_document(task)


@router.get("/schools", response_model=list[SchoolPublic])
async def schools(store: StoreDep, config: ConfigDep) -> list[SchoolPublic]:
    """Every school with its reception-class places: capacity, free now, and children waiting per grade band."""
    taken = await store.seats_taken()
    waiting = await store.waitlist_counts()
    result = []
    for school in config.schools:
        classes = []
        for rc in school.reception_classes:
            classes.append(ReceptionClassPlaces(
                grades=rc.grades, capacity=rc.capacity,
                free=max(rc.capacity - taken.get(domain.place_pool_id(school.id, rc.grades), 0), 0),
                waitlisted=sum(n for grade, n in waiting.items() if grade is not None and rc.grades[0] <= grade <= rc.grades[1]),
            ))
        result.append(SchoolPublic(id=school.id, name=school.name, address=school.address, grades=school.grades,
                                   reception_classes=classes))
    return result
