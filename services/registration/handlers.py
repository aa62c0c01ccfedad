"""Events registration consumes, to show a case's timeline without calling the other services.

Consumes: WelcomeLetterGenerated v2, SchoolIntakeStatusChanged v1, JobLeadsFound v1, JobLeadStatusChanged v1 (the
timeline; leads announced one by one as JobLeadStatusChanged new before JobLeadsFound are still read),
FamilyPlanProgressed v1 and the plan in WelcomeLetterGenerated v2 (the plan's progress on the case page), and
ErasureConfirmed v1 (which services have erased an erased case's data).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.registration.domain import plan_report, timeline_entries
from services.registration.store import CaseStore
from shared.bus import Subscription
from shared.events import (
    ERASURE_CONFIRMED,
    FAMILY_MAIL_REFUSED,
    FAMILY_PLAN_PROGRESSED,
    JOB_LEAD_STATUS_CHANGED,
    JOB_LEADS_FOUND,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    WELCOME_LETTER_GENERATED,
    ErasureConfirmed,
    EventEnvelope,
    FamilyPlanProgressed,
)

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (NEWCOMER_ARRIVED, NEWCOMER_ERASED)
CONSUMES = (WELCOME_LETTER_GENERATED, SCHOOL_INTAKE_STATUS_CHANGED, JOB_LEADS_FOUND, JOB_LEAD_STATUS_CHANGED,
            FAMILY_MAIL_REFUSED, FAMILY_PLAN_PROGRESSED, ERASURE_CONFIRMED)


@dataclass(frozen=True)
class RegistrationHandlers:
    """The handlers of the events registration consumes: the timeline and the erasure confirmations."""

    store: CaseStore

    def subscriptions(self) -> list[Subscription]:
        timeline: list[Subscription] = [
            Subscription(spec, self.downstream_event, handle_batch=self.downstream_events)
            for spec in (WELCOME_LETTER_GENERATED, SCHOOL_INTAKE_STATUS_CHANGED, JOB_LEADS_FOUND,
                         JOB_LEAD_STATUS_CHANGED, FAMILY_MAIL_REFUSED)
        ]
        return [*timeline,
                Subscription(FAMILY_PLAN_PROGRESSED, self.family_plan_progressed,
                             handle_batch=self.family_plans_progressed),
                Subscription(ERASURE_CONFIRMED, self.erasure_confirmed, handle_batch=self.erasure_confirmations)]

    async def downstream_events(self, events: list[EventEnvelope]) -> None:
        """One insert per batch; each entry keyed by its event id, so redelivery changes nothing. A letter's event
        also says how the family's plan starts."""
        await self.store.add_to_timeline([(event.event_id, timeline_entries(event)) for event in events])
        await self.store.record_plan_progress([r for r in map(plan_report, events) if r is not None])

    async def family_plans_progressed(self, events: list[EventEnvelope[FamilyPlanProgressed]]) -> None:
        await self.store.record_plan_progress([r for r in map(plan_report, events) if r is not None])

    async def family_plan_progressed(self, event: EventEnvelope[FamilyPlanProgressed]) -> None:
        await self.family_plans_progressed([event])

    async def downstream_event(self, event: EventEnvelope) -> None:
        await self.downstream_events([event])

    async def erasure_confirmations(self, events: list[EventEnvelope[ErasureConfirmed]]) -> None:
        await self.store.add_confirmations([
            {"case_id": str(e.payload.case_id), "service": e.payload.service, "erased_at": e.payload.erased_at,
             "records_erased": e.payload.records_erased} for e in events
        ])

    async def erasure_confirmed(self, event: EventEnvelope[ErasureConfirmed]) -> None:
        await self.erasure_confirmations([event])
