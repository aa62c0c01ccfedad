from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from services.school_intake.domain import Reason, TaskStatus
from services.school_intake.texts import catalog, reason_text


class ChildFacts(BaseModel):
    full_name: str
    date_of_birth: date
    languages: list[str]
    danish_level: str
    years_of_schooling: int


class StatusChange(BaseModel):
    status: str
    at: datetime
    by: str
    reason: str | None = None


class IntakeTaskPublic(BaseModel):
    task_id: uuid.UUID
    case_id: uuid.UUID
    child: ChildFacts
    kind: str
    unit_id: str
    unit_name: str
    due_date: date
    arrival_date: date
    grade: int | None
    grade_band: tuple[int, int] | None
    district_school_id: str | None
    supplementary_danish: bool
    daycare_type: str | None
    language_assessment_due: date | None
    international_school_info: bool
    reasons: list[str]  # in English, for API readers; reason_codes say the same as codes with parameters
    reason_codes: list[Reason] = []
    status: str
    history: list[StatusChange]
    redirected_to: str | None = None
    redirected_from: str | None = None

    @classmethod
    def from_document(cls, doc: dict) -> IntakeTaskPublic:
        fields = {k: v for k, v in doc.items() if k in cls.model_fields}
        stored = doc.get("reasons") or []
        fields["reasons"] = [reason_text(r, catalog("en").gettext) for r in stored]
        fields["reason_codes"] = [r for r in stored if isinstance(r, dict)]
        return cls(task_id=doc["_id"], **fields)


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: TaskStatus
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] | None = None
    target_school_id: Annotated[str, StringConstraints(max_length=100)] | None = None


class ReceptionClassPlaces(BaseModel):
    grades: tuple[int, int]
    capacity: int
    free: int
    waitlisted: int


class SchoolPublic(BaseModel):
    id: str
    name: str
    address: str
    grades: tuple[int, int]
    reception_classes: list[ReceptionClassPlaces]
