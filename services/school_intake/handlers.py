"""Events the school intake consumes, and what it does with each.

Consumes: NewcomerArrived v1 (open the children's intake tasks), NewcomerErased v1 (give back their places,
delete the tasks, confirm).
"""

from __future__ import annotations

from functools import partial

from services.school_intake import domain
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import erase_case, open_intake_tasks
from shared.erasure import ErasureLog
from shared.events import (
    ERASURE_CONFIRMED,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    EventEnvelope,
    NewcomerArrived,
    NewcomerErased,
)

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (SCHOOL_INTAKE_STATUS_CHANGED, ERASURE_CONFIRMED)
CONSUMES = (NEWCOMER_ARRIVED, NEWCOMER_ERASED)


async def handle_newcomer_arrived(
    event: EventEnvelope[NewcomerArrived], *, store: IntakeTaskStore, settings: SchoolIntakeSettings,
    config: domain.MunicipalityConfig, erasures: ErasureLog,
) -> None:
    await handle_newcomers_arrived([event], store=store, settings=settings, config=config, erasures=erasures)


async def handle_newcomers_arrived(
    events: list[EventEnvelope[NewcomerArrived]], *, store: IntakeTaskStore, settings: SchoolIntakeSettings,
    config: domain.MunicipalityConfig, erasures: ErasureLog,
) -> None:
    case_ids = [str(event.payload.case_id) for event in events]
    erased = await erasures.erased_among(case_ids)  # a replayed arrival must not bring erased data back
    await open_intake_tasks(store, settings, config, [e for e in events if str(e.payload.case_id) not in erased])
    await erasures.forget_if_erased(case_ids, partial(erase_case, store, settings, config))


async def handle_newcomer_erased(
    event: EventEnvelope[NewcomerErased], *, store: IntakeTaskStore, settings: SchoolIntakeSettings,
    config: domain.MunicipalityConfig, erasures: ErasureLog,
) -> None:
    await erasures.erase(event, partial(erase_case, store, settings, config))
