"""HTTP endpoints of registration (Borgerservice only). Thin: check the caller, register or read, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError

from services.registration import domain
from services.registration.cases import (
    CaseErased,
    IdempotencyKeyReused,
    Registered,
    close_case,
    public,
    register_household,
)
from services.registration.erasure import CaseNotFound, erase_case
from services.registration.schemas import (
    CaseTimeline,
    ErasurePublic,
    ErasureRequest,
    RegistrationCreate,
    RegistrationPublic,
)
from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.audit import AuditAction, AuditDep
from shared.auth import Principal, Role, require
from shared.events import ErasureBasis
from shared.web import from_state

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
CASE_ERASED = "This Idempotency-Key names a case whose personal data was erased; register anew with a new key."


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=RegistrationPublic)
async def register_arrival(
    body: RegistrationCreate,
    response: Response,
    user: Borgerservice,
    store: StoreDep,
    settings: SettingsDep,
    audit: AuditDep,
    idempotency_key: IdempotencyKey = None,
) -> RegistrationPublic:
    registered = await register(user, body, idempotency_key, store=store, settings=settings, audit=audit,
                                channel="api")
    if not registered.created:
        response.status_code = status.HTTP_200_OK
    return registered.case


def implausible(body: RegistrationCreate, settings: RegistrationSettings) -> list[domain.Implausible]:
    return domain.implausible_fields(body.newcomer, body.household, date.today(), settings.arrival_window)


async def register(user: Principal, body: RegistrationCreate, idempotency_key: str | None, *, store: CaseStore,
                   settings: RegistrationSettings, audit: AuditDep, channel: str) -> Registered:
    """One registration by Borgerservice (API and pages), audited; a reused or erased key is refused, and so is
    an implausible one (422, a message per field, like any other invalid input)."""
    problems = implausible(body, settings)
    if problems:
        raise RequestValidationError([{"loc": ("body", *p.loc), "msg": p.text("en"), "type": f"implausible.{p.code}"}
                                      for p in problems])
    try:
        registered = await register_household(body, idempotency_key, store=store, settings=settings)
    except IdempotencyKeyReused:
        raise HTTPException(status.HTTP_409_CONFLICT, KEY_REUSED) from None
    except CaseErased:
        raise HTTPException(status.HTTP_410_GONE, CASE_ERASED) from None
    await audit.record(user, AuditAction.CREATE if registered.created else AuditAction.READ, "registration",
                       case_ids=[str(registered.case.case_id)], channel=channel)
    return registered


@router.get("/registrations/{case_id}", response_model=RegistrationPublic)
async def get_registration(case_id: uuid.UUID, user: Borgerservice, store: StoreDep,
                           audit: AuditDep) -> RegistrationPublic:
    case = await existing_case(store, case_id)
    await audit.record(user, AuditAction.READ, "registration", case_ids=[str(case_id)])
    return public(case, await store.arrival_published(case))


async def existing_case(store: CaseStore, case_id: uuid.UUID) -> dict:
    """The case; 404 if there is none, 410 if its personal data was erased."""
    case = await store.get_case(str(case_id))
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.")
    if case.get("erasure"):
        raise HTTPException(status.HTTP_410_GONE, "This case's personal data was erased; see /erasure.")
    return case


async def erasure_of(store: CaseStore, case: dict) -> ErasurePublic:
    e = case["erasure"]
    return ErasurePublic(case_id=case["_id"], erased_at=e["at"], erased_by=e["by"], basis=e["basis"],
                         reason=e["reason"], confirmed_by=await store.confirmations_of(case["_id"]))


@router.delete("/registrations/{case_id}", response_model=ErasurePublic, status_code=status.HTTP_202_ACCEPTED)
async def erase_registration(case_id: uuid.UUID, body: ErasureRequest, user: Borgerservice, store: StoreDep,
                             settings: SettingsDep, audit: AuditDep) -> ErasurePublic:
    """Erase the case's personal data here now, and in every other service as it consumes the erasure event
    (202: follow the confirmations at GET /registrations/{case_id}/erasure). Erasing twice changes nothing."""
    try:
        case = await erase_case(store, settings, str(case_id), by=user.name, reason=body.reason,
                                basis=ErasureBasis.REQUEST)
    except CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.") from None
    await audit.record(user, AuditAction.ERASE, "registration", case_ids=[str(case_id)])
    return await erasure_of(store, case)


@router.get("/registrations/{case_id}/erasure", response_model=ErasurePublic)
async def erasure_status(case_id: uuid.UUID, user: Borgerservice, store: StoreDep) -> ErasurePublic:
    case = await store.get_case(str(case_id))
    if case is None or not case.get("erasure"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This case was not erased.")
    return await erasure_of(store, case)


@router.post("/registrations/{case_id}/close", status_code=status.HTTP_204_NO_CONTENT)
async def close_registration(case_id: uuid.UUID, user: Borgerservice, store: StoreDep, audit: AuditDep) -> None:
    """Onboarding is done: the retention period (CASE_RETENTION_DAYS) starts now. Closing twice is a no-op."""
    await existing_case(store, case_id)  # 404, or 410 once erased
    try:
        closed = await close_case(store, str(case_id), datetime.now(UTC), user.name)
    except CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.") from None
    if closed:
        await audit.record(user, AuditAction.CHANGE, "registration closed", case_ids=[str(case_id)])


@router.get("/registrations/{case_id}/timeline", response_model=CaseTimeline)
async def case_timeline(case_id: uuid.UUID, user: Borgerservice, store: StoreDep, audit: AuditDep) -> CaseTimeline:
    """The letter, intake tasks and job leads of a case, as the other services reported them."""
    await existing_case(store, case_id)
    entries = await store.timeline_of(str(case_id))
    await audit.record(user, AuditAction.READ, "case timeline", case_ids=[str(case_id)])
    progress = domain.case_progress(entries)
    return CaseTimeline(case_id=case_id, entries=entries, letters=len(progress.letters),
                        intake_tasks={t.record_id: t.status for t in progress.intake_tasks},
                        job_leads_by_status=progress.job_leads_by_status)
