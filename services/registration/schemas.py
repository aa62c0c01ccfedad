"""Request and response bodies of the registration API: input and output are different types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from services.registration.domain import TimelineEntry, normalise_cpr
from shared.events import Household, Newcomer

CprNumber = Annotated[str, AfterValidator(normalise_cpr)]


class RegistrationCreate(BaseModel):
    """What Borgerservice submits. Unknown fields are refused, so a misspelt field is an error, not lost data."""

    model_config = ConfigDict(extra="forbid")

    newcomer: Newcomer
    # Stored by registration only; never put in an event.
    cpr_number: CprNumber | None = None
    household: Household = Household()


class RegistrationPublic(BaseModel):
    case_id: uuid.UUID
    municipality: str
    registered_at: datetime
    newcomer: Newcomer
    cpr_number_masked: str | None
    household: Household
    arrival_event_published: bool


class CaseTimeline(BaseModel):
    """What happened downstream of a case, as reported by the other services' events."""

    case_id: uuid.UUID
    entries: list[TimelineEntry]
    letters: int
    intake_tasks: dict[str, str]     # task id -> latest status
    job_leads_by_status: dict[str, int]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Why the data is erased (e.g. "the person asked on 2026-11-27, request no. 123"); kept with the case.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]


class ErasurePublic(BaseModel):
    case_id: uuid.UUID
    erased_at: datetime
    erased_by: str
    basis: str
    reason: str
    # Services that erased their copy, and when; registration itself erased at erased_at.
    confirmed_by: dict[str, datetime]
