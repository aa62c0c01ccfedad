"""Events the school intake consumes, and what it does with each. Consumes: NewcomerArrived v1."""

from __future__ import annotations

from services.school_intake import domain
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.workflow import open_intake_tasks
from shared.events import EventEnvelope, NewcomerArrived


async def handle_newcomer_arrived(
    event: EventEnvelope[NewcomerArrived], *, store: IntakeTaskStore, settings: SchoolIntakeSettings,
    config: domain.MunicipalityConfig,
) -> None:
    await open_intake_tasks(store, settings, config, event)
