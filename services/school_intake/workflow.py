"""Intake task workflow: opening tasks for an arrival, staff transitions, and offering freed places.

Every change of a task is one conditional write of the task document that also carries its
SchoolIntakeStatusChanged event (outbox), so the event goes out exactly when the change is stored.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from services.school_intake import domain
from services.school_intake.domain import IntakeKind, TaskStatus
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from shared.concurrency import ChangedMeanwhile
from shared.db import as_stored
from shared.events import (
    SCHOOL_INTAKE_STATUS_CHANGED,
    EventEnvelope,
    NewcomerArrived,
    OfferAnswer,
    SchoolIntakeStatusChanged,
)
from shared.outbox import outbox_entry, outbox_fields, outbox_update

log = logging.getLogger(__name__)

SYSTEM = "system"
FAMILY = "family"  # the family, answering an offered place on its own pages (welcome_pack)


class TaskNotFound(Exception):
    pass


class WorkflowRefused(Exception):
    """A transition that is allowed in principle but cannot happen now (e.g. no free place at the target)."""


def _status_entry(settings: SchoolIntakeSettings, task: dict[str, Any], previous: str | None, by: str,
                  reason: str | None, at: datetime, causation_id: uuid.UUID | None = None) -> dict[str, Any]:
    case_id = uuid.UUID(task["case_id"])
    envelope = SCHOOL_INTAKE_STATUS_CHANGED.envelope(
        SchoolIntakeStatusChanged(
            case_id=case_id, task_id=uuid.UUID(task["_id"]), kind=task["kind"], unit_id=task["unit_id"],
            unit_name=task["unit_name"], unit_address=task.get("unit_address"), child_index=task.get("child_index"),
            status=task["status"],
            previous_status=previous, reason=reason, changed_by=by, changed_at=at,
            waitlist_position=task.get("waitlist_position") if task["status"] == TaskStatus.WAITLISTED else None,
            grade_band=tuple(task["grade_band"]) if task.get("grade_band") else None,
            offer_deadline=task.get("offer_deadline") if task["status"] == TaskStatus.OFFERED else None,
        ),
        producer=settings.service_name, correlation_id=case_id, causation_id=causation_id,
    )
    return outbox_entry(settings.topic(SCHOOL_INTAKE_STATUS_CHANGED.topic), task["case_id"], envelope)


def unit_address(config: domain.MunicipalityConfig, unit_id: str) -> str | None:
    """A school's street address (what the family is shown); other units have none in the data file."""
    return next((s.address for s in config.schools if s.id == unit_id), None)


def _history(status: str, by: str, at: datetime, reason: str | None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "by": by, "at": at, "reason": reason, **extra}


def new_task_document(arrival: NewcomerArrived, decision: domain.IntakeDecision, task_id: str,
                      status: TaskStatus, source_event_id: str, at: datetime, reason: str) -> dict[str, Any]:
    child = arrival.household.children[decision.child_index]
    return {
        "_id": task_id,
        "case_id": str(arrival.case_id),
        "child_index": decision.child_index,
        "arrival_date": arrival.newcomer.arrival_date.isoformat(),
        # Only the facts the school needs to act: no CPR, nothing about the parents.
        "child": {
            "full_name": child.full_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "languages": list(child.languages),
            "danish_level": child.danish_level.value,
            "years_of_schooling": child.years_of_schooling,
        },
        **decision.model_dump(mode="json", exclude={"child_index"}),
        "status": status.value,
        "history": [_history(status.value, SYSTEM, at, reason)],
        "source_event_id": source_event_id,
        "created_at": at,
    }


async def _reserve_seat(store: IntakeTaskStore, school: domain.School, grade: int, task_id: str) -> bool:
    rc = school.reception_class_for(grade)
    return rc is not None and await store.reserve_seat(domain.place_pool_id(school.id, rc.grades), rc.places,
                                                       task_id)


async def _reserve_first_free(store: IntakeTaskStore, config: domain.MunicipalityConfig, task_id: str,
                              grade: int, school_ids: tuple[str, ...], seats: SeatSnapshot) -> domain.School | None:
    """The first candidate school with a free place for the grade, whose seat the task now holds (None:
    waitlist). `seats`, read once per batch, saves a query per school; a seat taken meanwhile by someone
    else is found by the insert, and the pool is then asked again."""
    held = seats.held_by(task_id)
    if held is not None:  # a redelivered event finds the seat it took the first time
        return config.school(domain.parse_pool_id(held["pool_id"])[0])
    for school_id in school_ids:
        school = config.school(school_id)
        rc = school.reception_class_for(grade)
        if rc is None:
            continue
        pool_id = domain.place_pool_id(school.id, rc.grades)
        if seats.full(pool_id, rc.places):
            continue
        if await store.reserve_seat(pool_id, rc.places, task_id):
            seats.took(pool_id, task_id)
            return school
    return None


class SeatSnapshot:
    """The reception-class seats as read at the start of a batch, kept up to date with the batch's own takes."""

    def __init__(self, seats: list[dict[str, Any]]):
        self.by_task = {seat["task_id"]: seat for seat in seats}
        self.taken: dict[str, int] = {}
        for seat in seats:
            self.taken[seat["pool_id"]] = self.taken.get(seat["pool_id"], 0) + 1

    def held_by(self, task_id: str) -> dict[str, Any] | None:
        return self.by_task.get(task_id)

    def full(self, pool_id: str, capacity: int) -> bool:
        return self.taken.get(pool_id, 0) >= capacity

    def took(self, pool_id: str, task_id: str) -> None:
        self.by_task[task_id] = {"pool_id": pool_id, "task_id": task_id}
        self.taken[pool_id] = self.taken.get(pool_id, 0) + 1


@dataclass(frozen=True)
class OpenedTasks:
    """The tasks a batch of arrivals needs: every id, in the order of the events, and the documents of those
    written now (the others existed: a redelivery)."""

    ids: list[str]
    written: dict[str, dict[str, Any]]


async def open_intake_tasks(store: IntakeTaskStore, settings: SchoolIntakeSettings,
                            config: domain.MunicipalityConfig,
                            events: list[EventEnvelope[NewcomerArrived]],
                            lines: domain.WaitingLines | None = None) -> OpenedTasks:
    """Create the tasks these arrivals need; reception-class tasks take a free place or join the waitlist.

    For a whole batch: one read of the seats, one existence check per reception-class task (a task that exists
    must not take a seat again), one insert per seat taken, and one insert of all new tasks. Tasks are placed in
    the order of the events: first come, first served. A child waitlisted is given its number in line in its
    first event, from `lines` (the waitlist job's). Returns the ids of all the events' tasks, new or not.
    """
    planned = []
    for event in events:
        for decision in domain.decide_intake(event.payload, config):
            planned.append((event, decision, str(domain.task_id_for(event.payload.case_id, decision.child_index,
                                                                   decision.kind))))
    placing = [task_id for _, decision, task_id in planned
               if decision.kind is IntakeKind.RECEPTION_CLASS and decision.candidate_school_ids]
    existing = await store.existing_task_ids(placing)
    seats = SeatSnapshot(await store.all_seats() if placing else [])
    tasks: dict[str, dict[str, Any]] = {}
    for event, decision, task_id in planned:
        if task_id in existing or task_id in tasks:
            continue
        now = as_stored(datetime.now(UTC))  # a place in line is ordered by it, here and as read back
        status, reason = TaskStatus.NEW, "newcomer registered"
        if task_id in placing and decision.grade is not None:  # a reception-class decision always has a grade
            school = await _reserve_first_free(store, config, task_id, decision.grade, decision.candidate_school_ids,
                                               seats)
            rc = school.reception_class_for(decision.grade) if school is not None else None
            if school is not None and rc is not None:
                decision = decision.model_copy(update={"unit_id": school.id, "unit_name": school.name,
                                                       "grade_band": rc.grades})
                reason = f"reception-class place held at {school.name}"
            else:
                admin = config.school_administration
                decision = decision.model_copy(update={"unit_id": admin.id, "unit_name": admin.name})
                status, reason = TaskStatus.WAITLISTED, "no free reception-class place for the grade: waitlisted"
        task = new_task_document(event.payload, decision, task_id, status, str(event.event_id), now, reason)
        task["unit_address"] = unit_address(config, decision.unit_id)
        tasks[task_id] = task
    joining = _number_in_line(list(tasks.values()), lines) if lines is not None else []
    for task in tasks.values():  # its first event, once its number in line is known
        first = task["history"][0]
        task.update(outbox_fields([_status_entry(settings, task, None, SYSTEM, first["reason"], first["at"],
                                                 uuid.UUID(task["source_event_id"]))]))
    existed = await store.insert_tasks(list(tasks.values()))
    for place in joining:
        if place.task_id not in existed and lines is not None:
            lines.joined(place)
    return OpenedTasks(ids=list(dict.fromkeys(task_id for _, _, task_id in planned)),
                       written={task_id: task for task_id, task in tasks.items() if task_id not in existed})


def _number_in_line(tasks: list[dict[str, Any]], lines: domain.WaitingLines) -> list[domain.PlaceInLine]:
    """Give each waitlisted task of a batch its number in line (in the task, its first history entry and so its
    first event), counting those of the batch ahead of it too; returns their places as now known, or nothing when
    the lines cannot tell yet."""
    places = {task["_id"]: place for task in tasks if (place := domain.place_in_line(task)) is not None}
    numbers = lines.numbers_on_joining(places.values()) if places else None
    if numbers is None:
        return []
    for task in tasks:
        if task["_id"] in numbers:
            task["waitlist_position"] = task["history"][0]["waitlist_position"] = numbers[task["_id"]]
    return [replace(place, published=numbers[task_id]) for task_id, place in places.items()]


async def transition(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                     task_id: str, to: TaskStatus, by: str, reason: str | None,
                     target_school_id: str | None = None, *, unit_id: str | None = None) -> dict[str, Any]:
    """Move a task on. With `unit_id`, only a task of that school (unit) is found: staff act on their own."""
    task = await store.get_task(task_id)
    if task is None or (unit_id is not None and task["unit_id"] != unit_id):
        raise TaskNotFound(task_id)
    current = TaskStatus(task["status"])
    domain.TASK_WORKFLOW.check(current, to)
    if to is TaskStatus.DECLINED and not reason:
        raise ValueError("a reason is required to decline")
    if to is TaskStatus.REDIRECTED:
        return await _redirect(store, settings, config, task, by, reason, target_school_id)
    return await _apply(store, settings, config, task, to, by, reason)


async def _apply(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                 task: dict[str, Any], to: TaskStatus, by: str, reason: str | None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    changed = {**task, "status": to.value, **(extra or {})}
    update = outbox_update([_status_entry(settings, changed, task["status"], by, reason, now)])
    update["$set"].update({"status": to.value, "updated_at": now, **(extra or {})})
    update["$push"] = {"history": _history(to.value, by, now, reason, **(extra or {}))}
    if not await store.change_task(task, by, update):
        raise ChangedMeanwhile("the task")
    if domain.frees_place(to):
        await release_and_offer(store, settings, config, task["_id"])
    changed_task = await store.get_task(task["_id"])
    if changed_task is None:  # erased in the meantime
        raise TaskNotFound(task["_id"])
    return changed_task


async def _redirect(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                    task: dict[str, Any], by: str, reason: str | None, target_school_id: str | None) -> dict[str, Any]:
    target = next((s for s in config.schools if s.id == target_school_id), None)
    if target is None:
        raise ValueError(f"target_school_id must name a school; known: {', '.join(s.id for s in config.schools)}")
    if target.id == task["unit_id"]:
        raise ValueError("the task is already at that school")
    # The follow-up task at the target is written first (deterministic id: a retried redirect finds it), then
    # this task is closed. If closing fails, for whatever reason, the follow-up and its seat are removed again
    # unless the task did get redirected to it (a failure after the write, e.g. while offering the freed place).
    new_id = str(uuid.uuid5(uuid.UUID(task["_id"]), target.id))
    now = datetime.now(UTC)
    follow_up = {k: v for k, v in task.items()
                 if k not in ("history", "updated_at", "redirected_to",
                              "follow_up_task_id") and not k.startswith("outbox")}
    follow_up.update({"_id": new_id, "unit_id": target.id, "unit_name": target.name, "unit_address": target.address,
                      "status": TaskStatus.NEW.value,
                      "redirected_from": task["_id"], "created_at": now,
                      "history": [_history(TaskStatus.NEW.value, by, now, reason, redirected_from=task["unit_id"])]})
    if task["kind"] == IntakeKind.RECEPTION_CLASS.value:
        rc = target.reception_class_for(task["grade"])
        if rc is None:
            raise WorkflowRefused(f"{target.name} has no reception class for grade {task['grade']}")
        if not await _reserve_seat(store, target, task["grade"], new_id):
            raise WorkflowRefused(f"{target.name} has no free reception-class place for grade {task['grade']}")
        follow_up["grade_band"] = list(rc.grades)
    follow_up.update(outbox_fields([_status_entry(settings, follow_up, None, by, reason, now)]))
    try:
        await store.insert_task(follow_up)
        return await _apply(store, settings, config, task, TaskStatus.REDIRECTED, by, reason,
                            extra={"redirected_to": target.id, "follow_up_task_id": new_id})
    except BaseException:
        await _withdraw_follow_up(store, task["_id"], new_id)
        raise


async def _withdraw_follow_up(store: IntakeTaskStore, task_id: str, follow_up_id: str) -> None:
    """After a failed redirect: remove the follow-up task and give back its seat, unless the redirect did land.
    If even that cannot be done now (the database is down), the follow-up stays and is said so in the log."""
    try:
        task = await store.get_task(task_id)
        if task is not None and task.get("follow_up_task_id") == follow_up_id:
            return  # redirected after all: the follow-up is the task's successor
        await store.delete_task(follow_up_id)
        await store.release_seat(follow_up_id)
    except Exception:  # logged; the original error is what the caller must see
        log.exception("redirect of %s failed and its follow-up task %s could not be withdrawn", task_id,
                      follow_up_id)


async def release_and_offer(store: IntakeTaskStore, settings: SchoolIntakeSettings,
                            config: domain.MunicipalityConfig, task_id: str) -> str | None:
    """Give back the task's seat and offer it to the longest-waiting child of that grade band.

    Returns the id of the task that got the place, if any.
    """
    seat = await store.release_seat(task_id)
    if seat is None:
        return None
    school_id, (low, high) = domain.parse_pool_id(seat["pool_id"])
    school = config.school(school_id)
    skip: set[str] = set()
    tries: dict[str, int] = {}
    while (waiting := await store.oldest_waitlisted((low, high), skip)) is not None:
        if not await _reserve_seat(store, school, waiting["grade"], waiting["_id"]):
            return None  # taken by someone else meanwhile: no place to offer
        deadline = domain.add_working_days(datetime.now(UTC).date(), config.rules.offer_answer_working_days,
                                           config.rules)
        try:
            await _apply(store, settings, config, waiting, TaskStatus.OFFERED, SYSTEM,
                         f"reception-class place offered at {school.name}",
                         extra={"unit_id": school.id, "unit_name": school.name, "unit_address": school.address,
                                "grade_band": [low, high],
                                "offer_deadline": deadline.isoformat()})
            return waiting["_id"]
        except ChangedMeanwhile:
            await store.release_seat(waiting["_id"])
            # Changed meanwhile: still waiting (e.g. its position was just published) -> asked again, a few
            # times; left the waitlist -> the next child.
            tries[waiting["_id"]] = tries.get(waiting["_id"], 0) + 1
            again = await store.get_task(waiting["_id"])
            if again is None or again["status"] != TaskStatus.WAITLISTED or tries[waiting["_id"]] >= 5:
                skip.add(waiting["_id"])
    return None


async def publish_position(store: IntakeTaskStore, settings: SchoolIntakeSettings, task: dict[str, Any],
                           number: int, now: datetime) -> bool:
    """Tell a waitlisted child's family its number in the line of its grade band (SchoolIntakeStatusChanged): a
    change like any other, taking the task's next turn and saying so in the history. False if the task changed
    meanwhile (the waitlist job asks again on its next run)."""
    low, high = task["grade_band"]
    reason = f"number {number} in line for grades {low}-{high}"
    update = outbox_update([_status_entry(settings, {**task, "waitlist_position": number}, task["status"], SYSTEM,
                                          reason, now)])
    update["$set"]["waitlist_position"] = number
    update["$push"] = {"history": _history(task["status"], SYSTEM, now, reason, waitlist_position=number)}
    return await store.change_task(task, SYSTEM, update)


async def answer_offer(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                       task_id: str, case_id: str, answer: OfferAnswer, answered_at: datetime) -> TaskStatus | None:
    """The family's answer to an offered place: accepted moves the task on to the school, declined gives the
    place to the next child in line. Too late, after staff acted, or a repeated answer: nothing changes."""
    task = await store.get_task(task_id)
    if task is None or task["case_id"] != case_id:
        return None
    deadline = date.fromisoformat(task["offer_deadline"]) if task.get("offer_deadline") else None
    outcome = domain.offer_outcome(TaskStatus(task["status"]), deadline, answer, answered_at.date())
    if outcome is None:
        return None
    reason = ("the family accepted the offered place" if answer is OfferAnswer.ACCEPTED
              else "the family declined the offered place")
    try:
        await _apply(store, settings, config, task, outcome, FAMILY, reason)
    except ChangedMeanwhile:
        return None  # staff acted at the same moment: theirs stands
    return outcome


async def lapse_offers(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                       today: date) -> int:
    """Offers not answered by their deadline: the place goes to the next child in line."""
    lapsed = 0
    for task in await store.offered_tasks():
        deadline = date.fromisoformat(task["offer_deadline"]) if task.get("offer_deadline") else None
        if not domain.offer_lapsed(TaskStatus(task["status"]), deadline, today):
            continue
        try:
            await _apply(store, settings, config, task, TaskStatus.DECLINED, SYSTEM, "no answer before the deadline")
            lapsed += 1
        except ChangedMeanwhile:
            continue  # answered or changed at this moment: that change stands
    return lapsed


async def erase_case(store: IntakeTaskStore, settings: SchoolIntakeSettings, config: domain.MunicipalityConfig,
                     case_id: str) -> int:
    """Erasure: every task of the case gives back its reception-class place (offered to the next child
    waiting) and is deleted. Returns the number of tasks deleted."""
    tasks = await store.tasks_of_case(case_id)
    for task in tasks:
        await release_and_offer(store, settings, config, task["_id"])
    return await store.delete_tasks_of_case(case_id)
