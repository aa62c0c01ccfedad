from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel

from services.job_match.domain import LeadExplanation


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

    @classmethod
    def from_document(cls, doc: dict) -> LeadPublic:
        return cls(lead_id=doc["_id"], **{k: v for k, v in doc.items() if k in cls.model_fields})
