"""The periodic job that tells units what is waiting for them: reminders of overdue tasks, escalations to the
administration, and offers of freed reception-class places; it also lapses offers whose answer deadline has
passed (the place goes to the next child in line). It derives everything from the stored tasks and
writes notifications with deterministic ids (`task-overdue:<task>`, `task-escalated:<task>`,
`task-offered:<task>:<change>`): several replicas running it at once, or a run cut short by a crash and run
again, send each mail once (shared/notify.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.school_intake import domain
from services.school_intake.mails import place_offered, task_reminder
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import SYSTEM, lapse_offers
from shared.notify import NotificationStore, notification


def _offer_change(task: dict[str, Any]) -> int | None:
    """The history index of the system's offer of a freed place, if that is the task's last change."""
    history = task.get("history") or []
    last = history[-1] if history else None
    if len(history) > 1 and last and last["status"] == domain.TaskStatus.OFFERED.value and last["by"] == SYSTEM:
        return len(history) - 1
    return None


def notifications_due(tasks: list[dict[str, Any]], config: domain.MunicipalityConfig, queue_url: str,
                      today: date, now: datetime) -> list[dict[str, Any]]:
    owed = []
    rules = config.rules
    for task in tasks:
        status = domain.TaskStatus(task["status"])
        due = date.fromisoformat(str(task["due_date"])[:10])
        for reminder in domain.reminders_due(status, due, today, rules, created=task["created_at"].date()):
            mail = task_reminder(task, reminder, config, queue_url)
            owed.append(notification(f"task-{reminder.value}:{task['_id']}", f"task_{reminder.value}", mail,
                                     case_id=task["case_id"], now=now))
        change = _offer_change(task)
        if change is not None and task["history"][change]["at"] >= now - timedelta(days=rules.reminder_lookback_days):
            owed.append(notification(f"task-offered:{task['_id']}:{change}", "place_offered",
                                     place_offered(task, config, queue_url), case_id=task["case_id"], now=now))
    return owed


async def remind(store: IntakeTaskStore, notifications: NotificationStore, config: domain.MunicipalityConfig,
                 settings: SchoolIntakeSettings, today: date | None = None) -> int:
    """One run of the job; returns how many notifications it wrote (0 when all were written before)."""
    now = datetime.now(UTC)
    await lapse_offers(store, settings, config, today or now.date())
    tasks = await store.new_or_offered_tasks()
    return await notifications.add(notifications_due(tasks, config, settings.school_intake_url,
                                                     today or now.date(), now))
