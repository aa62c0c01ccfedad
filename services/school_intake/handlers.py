"""Events the school intake consumes, and what it does with each.

Consumes: NewcomerArrived (open the children's intake tasks), IntakeOfferAnswered (a family's answer to an
offered reception-class place), NewcomerErased (give back their places, delete the tasks, confirm).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.school_intake import domain
from services.school_intake.mails import task_arrived_notifications
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import OpenedTasks, answer_offer, erase_case, open_intake_tasks
from shared.bus import Subscription
from shared.db import find_by_ids
from shared.erasure import ErasureLog
from shared.events import (
    ERASURE_CONFIRMED,
    INTAKE_OFFER_ANSWERED,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    EventEnvelope,
    IntakeOfferAnswered,
    NewcomerArrived,
    NewcomerErased,
)
from shared.notify import NotificationStore

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (SCHOOL_INTAKE_STATUS_CHANGED, ERASURE_CONFIRMED)
CONSUMES = (NEWCOMER_ARRIVED, INTAKE_OFFER_ANSWERED, NEWCOMER_ERASED)


@dataclass(frozen=True)
class SchoolIntakeHandlers:
    """The handlers of the events school_intake consumes, with what they need."""

    store: IntakeTaskStore
    settings: SchoolIntakeSettings
    config: domain.MunicipalityConfig
    erasures: ErasureLog
    notifications: NotificationStore | None = None
    # The waitlist job's lines: a child joining one is told its number in its first event.
    waiting_lines: domain.WaitingLines | None = None

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(NEWCOMER_ARRIVED, self.newcomer_arrived, handle_batch=self.newcomers_arrived),
            Subscription(INTAKE_OFFER_ANSWERED, self.intake_offer_answered),
            Subscription(NEWCOMER_ERASED, self.newcomer_erased),
        ]

    async def intake_offer_answered(self, event: EventEnvelope[IntakeOfferAnswered]) -> None:
        """The family's answer (the rules: domain.offer_outcome); a repeated or late answer changes nothing."""
        answer = event.payload
        await answer_offer(self.store, self.settings, self.config, str(answer.task_id), str(answer.case_id),
                           answer.answer, answer.answered_at)

    async def newcomer_arrived(self, event: EventEnvelope[NewcomerArrived]) -> None:
        await self.newcomers_arrived([event])

    async def newcomers_arrived(self, events: list[EventEnvelope[NewcomerArrived]]) -> None:
        case_ids = [str(event.payload.case_id) for event in events]
        erased = await self.erasures.erased_among(case_ids)  # a replayed arrival must not bring erased data back
        opened = await open_intake_tasks(self.store, self.settings, self.config,
                                         [e for e in events if str(e.payload.case_id) not in erased],
                                         self.waiting_lines)
        await self._tell_the_units(opened)
        await self.erasures.forget_if_erased(case_ids, self._erase_case)

    async def _tell_the_units(self, opened: OpenedTasks) -> None:
        """A mail to each new task's unit. For tasks that existed (a redelivery) derived again from the stored ones
        (the same ids: written once), but not for tasks created before the notification window (a replay of old
        events). The tasks written now are not read back."""
        if self.notifications is None or not opened.ids:
            return
        now = datetime.now(UTC)
        since = now - timedelta(hours=self.settings.task_notification_window_hours)
        existed = [i for i in opened.ids if i not in opened.written]
        by_id = {**opened.written, **{t["_id"]: t for t in await find_by_ids(self.store.tasks, existed,
                                                                             {"outbox": 0, "history": 0})}}
        tasks = [by_id[i] for i in opened.ids if i in by_id and by_id[i]["created_at"] >= since]
        await self.notifications.add(task_arrived_notifications(tasks, self.config, self.settings.school_intake_url,
                                                                now))

    async def newcomer_erased(self, event: EventEnvelope[NewcomerErased]) -> None:
        await self.erasures.erase(event, self._erase_case)

    async def _erase_case(self, case_id: str) -> int:
        dropped = await self.notifications.drop_case(case_id) if self.notifications is not None else 0
        return dropped + await erase_case(self.store, self.settings, self.config, case_id)
