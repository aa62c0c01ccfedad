from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class LetterSummary(BaseModel):
    letter_id: uuid.UUID
    case_id: uuid.UUID
    language: str
    sections: list[str]
    created_at: datetime
