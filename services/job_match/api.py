"""HTTP endpoints of the job match: a spouse's leads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.job_match.schemas import LeadPublic
from services.job_match.store import JobStore

router = APIRouter(tags=["leads"])


def get_store(request: Request) -> JobStore:
    return request.app.state.store


StoreDep = Annotated[JobStore, Depends(get_store)]


@router.get("/leads", response_model=list[LeadPublic])
async def leads_of_case(case_id: uuid.UUID, store: StoreDep) -> list[LeadPublic]:
    return [LeadPublic.from_document(doc) for doc in await store.leads_of_case(str(case_id))]
