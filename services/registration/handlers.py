"""Events registration consumes, to show a case's timeline without calling the other services.

Consumes: WelcomeLetterGenerated v1, SchoolIntakeStatusChanged v1, JobLeadStatusChanged v1 (the timeline), and
ErasureConfirmed v1 (which services have erased an erased case's data).
"""

from __future__ import annotations

from services.registration.domain import timeline_entry
from services.registration.store import CaseStore
from shared.events import (
    ERASURE_CONFIRMED,
    JOB_LEAD_STATUS_CHANGED,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    WELCOME_LETTER_GENERATED,
    ErasureConfirmed,
    EventEnvelope,
)

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (NEWCOMER_ARRIVED, NEWCOMER_ERASED)
CONSUMES = (WELCOME_LETTER_GENERATED, SCHOOL_INTAKE_STATUS_CHANGED, JOB_LEAD_STATUS_CHANGED, ERASURE_CONFIRMED)


async def handle_downstream_events(events: list[EventEnvelope], *, store: CaseStore) -> None:
    """One insert per batch; each entry keyed by its event id, so redelivery changes nothing."""
    await store.add_to_timeline([timeline_entry(event) for event in events])


async def handle_downstream_event(event: EventEnvelope, *, store: CaseStore) -> None:
    await handle_downstream_events([event], store=store)


async def handle_erasure_confirmations(events: list[EventEnvelope[ErasureConfirmed]], *, store: CaseStore) -> None:
    await store.add_confirmations([
        {"case_id": str(e.payload.case_id), "service": e.payload.service, "erased_at": e.payload.erased_at,
         "records_erased": e.payload.records_erased} for e in events
    ])


async def handle_erasure_confirmed(event: EventEnvelope[ErasureConfirmed], *, store: CaseStore) -> None:
    await handle_erasure_confirmations([event], store=store)
