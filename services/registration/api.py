"""HTTP endpoints of registration. Thin: validate, build the case and its event, store in one write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status

from services.registration import domain
from services.registration.schemas import RegistrationCreate, RegistrationPublic
from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.events import NEWCOMER_ARRIVED, NewcomerArrived
from shared.outbox import outbox_entry, outbox_fields
from shared.web import RelayDep, from_state

router = APIRouter(tags=["registrations"])


StoreDep = Annotated[CaseStore, Depends(from_state("store"))]
SettingsDep = Annotated[RegistrationSettings, Depends(from_state("settings"))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=8, max_length=200,
           description="Send the same key when retrying a POST: the retry returns the case created first."),
]


def _public(case: dict[str, Any], arrival_published: bool) -> RegistrationPublic:
    return RegistrationPublic(
        case_id=case["_id"],
        municipality=case["municipality"],
        registered_at=case["registered_at"],
        newcomer=case["newcomer"],
        cpr_number_masked=domain.mask_cpr(case.get("cpr_number")),
        household=case["household"],
        arrival_event_published=arrival_published,
    )


@router.post("/registrations", status_code=status.HTTP_201_CREATED, response_model=RegistrationPublic)
async def register_arrival(
    body: RegistrationCreate,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    relay: RelayDep,
    idempotency_key: IdempotencyKey = None,
) -> RegistrationPublic:
    case_id = domain.case_id_for(idempotency_key)
    fingerprint = domain.request_fingerprint(body.model_dump_json().encode())
    arrived = NEWCOMER_ARRIVED.envelope(
        NewcomerArrived(
            case_id=case_id, municipality=settings.municipality, newcomer=body.newcomer, household=body.household
        ),
        producer=settings.service_name,
        correlation_id=case_id,
    )
    case = {
        "_id": str(case_id),
        "municipality": settings.municipality,
        "registered_at": datetime.now(UTC),
        "newcomer": body.newcomer.model_dump(mode="json"),
        "household": body.household.model_dump(mode="json"),
        "cpr_number": body.cpr_number,
        "request_fingerprint": fingerprint,
        "arrival_event_id": str(arrived.event_id),
        **outbox_fields([outbox_entry(settings.topic(NEWCOMER_ARRIVED.topic), str(case_id), arrived)]),
    }
    if await store.insert_case(case):
        if relay is not None:
            relay.notify()
    else:
        existing = await store.get_case(str(case_id))
        if existing is None or existing.get("request_fingerprint") != fingerprint:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "This Idempotency-Key was already used for a different registration; use a new key.",
            )
        response.status_code = status.HTTP_200_OK
        return _public(existing, await store.is_published(existing["arrival_event_id"]))
    return _public(case, arrival_published=False)


@router.get("/registrations/{case_id}", response_model=RegistrationPublic)
async def get_registration(case_id: uuid.UUID, store: StoreDep) -> RegistrationPublic:
    case = await store.get_case(str(case_id))
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.")
    return _public(case, await store.is_published(case["arrival_event_id"]))
