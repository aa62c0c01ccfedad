from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from services.job_match.domain import LeadExplanation, LeadStatus


class LeadHistoryEntry(BaseModel):
    status: str
    at: datetime
    by: str
    reason: str | None = None


class LeadNote(BaseModel):
    by: str
    at: datetime
    text: str


class LeadPublic(BaseModel):
    lead_id: uuid.UUID
    case_id: uuid.UUID
    listing_id: str
    title: str
    employer: str
    municipality: str
    expires: date
    score: float
    explanation: LeadExplanation
    status: str
    adviser: str | None = None
    notes: list[LeadNote] = []
    history: list[LeadHistoryEntry] = []

    @classmethod
    def from_document(cls, doc: dict) -> LeadPublic:
        return cls(lead_id=doc["_id"], **{k: v for k, v in doc.items() if k in cls.model_fields})


class LeadTransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: LeadStatus
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] | None = None


class LeadNoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
