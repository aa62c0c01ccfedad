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
that) the whole read of the lines puts right: at start and every WAITLIST_WHOLE_READ_SECONDS.

A child joining a line is given its number in its first event, from these same lines (the arrival handler asks
them, workflow.open_intake_tasks): no second change seconds later. Only the children whose number changed since
are read whole and published by the job. Several replicas keep their own lines from
the stored tasks; each publication takes the task's turn, so a number is published once whoever publishes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.school_intake.domain import WaitingLines, place_in_line
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import publish_position
from shared.db import find_by_ids
from shared.erasure import ErasureLog


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
