"""Events the school intake consumes, and what it does with each. Consumes: NewcomerArrived v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.school_intake import domain
from services.school_intake.store import IntakeTaskStore
from shared.events import EventEnvelope, NewcomerArrived


def intake_task(arrival: NewcomerArrived, decision: domain.IntakeDecision, event: EventEnvelope) -> dict[str, Any]:
    child = arrival.household.children[decision.child_index]
    now = datetime.now(UTC)
    return {
        "_id": str(domain.task_id_for(arrival.case_id, decision.child_index, decision.kind)),
        "case_id": str(arrival.case_id),
        "child_index": decision.child_index,
        # Only the facts the school needs to act: no CPR, nothing about the parents.
        "child": {
            "full_name": child.full_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "languages": list(child.languages),
            "danish_level": child.danish_level.value,
            "years_of_schooling": child.years_of_schooling,
        },
        **decision.model_dump(mode="json", exclude={"child_index"}),
        "status": "new",
        "history": [{"status": "new", "at": now, "by": "system", "reason": "newcomer registered"}],
        "source_event_id": str(event.event_id),
        "created_at": now,
    }


async def handle_newcomer_arrived(
    event: EventEnvelope[NewcomerArrived], *, store: IntakeTaskStore, config: domain.MunicipalityConfig
) -> None:
    arrival = event.payload
    decisions = domain.decide_intake(arrival, config)
    await store.insert_tasks([intake_task(arrival, d, event) for d in decisions])
