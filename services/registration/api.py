"""HTTP endpoints of registration (Borgerservice only). Thin: check the caller, register or read, audit."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status

from services.registration.cases import IdempotencyKeyReused, public, register_household
from services.registration import domain
from services.registration.schemas import CaseTimeline, RegistrationCreate, RegistrationPublic
from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.audit import AuditAction, AuditDep
from shared.auth import Principal, Role, require
from shared.web import RelayDep, from_state

router = APIRouter(tags=["registrations"])


StoreDep = Annotated[CaseStore, Depends(from_state("store"))]
SettingsDep = Annotated[RegistrationSettings, Depends(from_state("settings"))]
Borgerservice = Annotated[Principal, Depends(require(Role.BORGERSERVICE))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=8, max_length=200,
           description="Send the same key when retrying a POST: the retry returns the case created first."),
]
KEY_REUSED = "This Idempotency-Key was already used for a different registration; use a new key."


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=RegistrationPublic)
async def register_arrival(
    body: RegistrationCreate,
    response: Response,
    user: Borgerservice,
    store: StoreDep,
    settings: SettingsDep,
    relay: RelayDep,
    audit: AuditDep,
    idempotency_key: IdempotencyKey = None,
) -> RegistrationPublic:
    try:
        registered = await register_household(body, idempotency_key, store=store, settings=settings, relay=relay)
    except IdempotencyKeyReused:
        raise HTTPException(status.HTTP_409_CONFLICT, KEY_REUSED) from None
    await audit.record(user, AuditAction.CREATE if registered.created else AuditAction.READ, "registration",
                       case_ids=[str(registered.case.case_id)])
    if not registered.created:
        response.status_code = status.HTTP_200_OK
    return registered.case


@router.get("/registrations/{case_id}", response_model=RegistrationPublic)
async def get_registration(case_id: uuid.UUID, user: Borgerservice, store: StoreDep,
                           audit: AuditDep) -> RegistrationPublic:
    case = await store.get_case(str(case_id))
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.")
    await audit.record(user, AuditAction.READ, "registration", case_ids=[str(case_id)])
    return public(case, await store.is_published(case["arrival_event_id"]))


@router.get("/registrations/{case_id}/timeline", response_model=CaseTimeline)
async def case_timeline(case_id: uuid.UUID, user: Borgerservice, store: StoreDep, audit: AuditDep) -> CaseTimeline:
    """The letter, intake tasks and job leads of a case, as the other services reported them."""
    if await store.get_case(str(case_id)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.")
    entries = await store.timeline_of(str(case_id))
    await audit.record(user, AuditAction.READ, "case timeline", case_ids=[str(case_id)])
    progress = domain.case_progress(entries)
    return CaseTimeline(case_id=case_id, entries=entries, letters=len(progress.letters),
                        intake_tasks={t.record_id: t.status for t in progress.intake_tasks},
                        job_leads_by_status=progress.job_leads_by_status)
