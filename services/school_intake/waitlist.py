"""The reception-class waiting lines: each waitlisted child's number in the line of its grade band, told to the
family (SchoolIntakeStatusChanged) when it changes.

A periodic job (WAITLIST_POSITIONS_SECONDS), not part of the change that moved the line: a decline at the head
moves everyone behind, which must not hold up the request. It does not read the whole line on every run: on
FerretDB a read of the waitlisted tasks decodes each whole task, and a line of 8,353 took 23 s to read under load
(bench.flow, every family waitlisted), every 5 s. WaitingLines keeps every waitlisted child's place between runs
and each run reads only what changed since the one before:
- children who joined a line (reception-class tasks created waitlisted),
- children who left it (reception-class tasks whose status changed: offered, declined),
- erased cases (the erasure log's tombstones, written after the case's tasks are deleted).
Each read reaches WAITLIST_CHANGES_OVERLAP_SECONDS further back than the previous read began: a write whose time
was taken before that read may be stored after it. What the reads could still miss (a write held up longer than
that) the whole read of the lines puts right: at start and every WAITLIST_FULL_READ_SECONDS.

Only the children whose number changed are read whole and published. Several replicas keep their own lines from
the stored tasks; each publication takes the task's turn, so a number is published once whoever publishes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.school_intake.domain import IntakeKind, PlaceInLine, TaskStatus, line_numbers
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import publish_position
from shared.db import find_by_ids
from shared.erasure import ErasureLog


def place_in_line(task: dict[str, Any]) -> PlaceInLine | None:
    """The task's place in line, if it is waiting in one (a reception-class task, waitlisted, with a grade band)."""
    if (task.get("status") != TaskStatus.WAITLISTED or task.get("kind") != IntakeKind.RECEPTION_CLASS
            or not task.get("grade_band")):
        return None
    low, high = task["grade_band"]
    return PlaceInLine(task_id=task["_id"], case_id=task["case_id"], band=(low, high),
                       arrival_date=task["arrival_date"], created_at=task["created_at"],
                       published=task.get("waitlist_position"))


@dataclass
class WaitingLines:
    """Every waitlisted child's place, as the stored tasks said when last read (pure: no I/O, no clock)."""

    places: dict[str, PlaceInLine] = field(default_factory=dict)
    read_at: datetime | None = None  # when the last read of changes (or of everything) began
    read_whole_at: datetime | None = None  # when the last whole read began

    def due_for_whole_read(self, now: datetime, every: timedelta) -> bool:
        return self.read_whole_at is None or now - self.read_whole_at >= every

    def read_whole(self, tasks: Iterable[dict[str, Any]], began: datetime) -> None:
        """The lines as a read of every waitlisted task (begun at `began`) found them."""
        self.places = {place.task_id: place for place in map(place_in_line, tasks) if place is not None}
        self.read_at = self.read_whole_at = began

    def read_changes(self, tasks: Iterable[dict[str, Any]], erased_cases: set[str], began: datetime) -> None:
        """What changed, in the order read: a task now waiting takes (or keeps) its place, any other leaves."""
        for task in tasks:
            place = place_in_line(task)
            if place is None:
                self.places.pop(task["_id"], None)
            else:
                self.places[place.task_id] = place
        if erased_cases:
            self.places = {i: p for i, p in self.places.items() if p.case_id not in erased_cases}
        self.read_at = began

    def renumbered(self) -> dict[str, int]:
        """The children whose number is not the one last published to them: task id -> number now."""
        return {task_id: number for task_id, number in line_numbers(self.places.values()).items()
                if self.places[task_id].published != number}

    def published(self, task_id: str, number: int) -> None:
        place = self.places.get(task_id)
        if place is not None:
            self.places[task_id] = replace(place, published=number)

    def left(self, task_id: str) -> None:
        self.places.pop(task_id, None)


async def publish_waitlist_positions(store: IntakeTaskStore, erasures: ErasureLog, settings: SchoolIntakeSettings,
                                     lines: WaitingLines) -> int:
    """One run of the job: learn what changed, publish the numbers that did. Returns how many were published."""
    began = datetime.now(UTC)
    if lines.due_for_whole_read(began, timedelta(seconds=settings.waitlist_whole_read_seconds)):
        lines.read_whole(await store.waitlist_places(), began)
    else:
        assert lines.read_at is not None  # (due_for_whole_read otherwise)
        since = lines.read_at - timedelta(seconds=settings.waitlist_changes_overlap_seconds)
        lines.read_changes(await store.waitlist_changes_since(since), await erasures.erased_since(since), began)
    return await _publish_numbers(store, settings, lines, began)


async def _publish_numbers(store: IntakeTaskStore, settings: SchoolIntakeSettings, lines: WaitingLines,
                           now: datetime) -> int:
    # The renumbered children are read whole (their turn and event need the task). One found no longer waiting
    # leaves its line, and the numbers behind it are worked out again before anything is published.
    tasks: dict[str, dict[str, Any]] = {}
    while True:
        renumbered = lines.renumbered()
        unread = [task_id for task_id in renumbered if task_id not in tasks]
        tasks.update((task["_id"], task) for task in await find_by_ids(store.tasks, unread, {"outbox": 0}))
        gone = [task_id for task_id in unread if place_in_line(tasks.get(task_id, {})) is None]
        for task_id in gone:
            lines.left(task_id)
        if not gone:
            break
    published = 0
    for task_id, number in renumbered.items():
        if tasks[task_id].get("waitlist_position") == number:  # published meanwhile (by another replica)
            lines.published(task_id, number)
        elif await publish_position(store, settings, tasks[task_id], number, now):
            lines.published(task_id, number)
            published += 1
    return published
