"""Registering a household (one write stores the case and its NewcomerArrived event) and closing a case; used by
the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.registration import domain
from services.registration.erasure import CaseNotFound
from services.registration.schemas import RegistrationCreate, RegistrationPublic
from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.concurrency import ChangedMeanwhile
from shared.events import NEWCOMER_ARRIVED, NewcomerArrived
from shared.outbox import outbox_entry, outbox_fields


class IdempotencyKeyReused(Exception):
    """The key was used before for a different registration."""


class CaseErased(Exception):
    """The key names a case whose personal data was erased: a retry must not bring it back."""


@dataclass(frozen=True)
class Registered:
    case: RegistrationPublic
    created: bool   # False: the same request was made before, and this is the case it created


def public(case: dict[str, Any], arrival_published: bool) -> RegistrationPublic:
    return RegistrationPublic(
        case_id=case["_id"],
        municipality=case["municipality"],
        registered_at=case["registered_at"],
        newcomer=case["newcomer"],
        cpr_number_masked=domain.mask_cpr(case.get("cpr_number")),
        household=case["household"],
        arrival_event_published=arrival_published,
    )


async def register_household(body: RegistrationCreate, idempotency_key: str | None, *, store: CaseStore,
                             settings: RegistrationSettings) -> Registered:
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
    if await store.insert_case(case):  # the write wakes the outbox relay (a watched collection)
        return Registered(public(case, arrival_published=False), created=True)
    existing = await store.get_case(str(case_id))
    if existing is not None and existing.get("erasure"):
        raise CaseErased()
    if existing is None or existing.get("request_fingerprint") != fingerprint:
        raise IdempotencyKeyReused()
    return Registered(public(existing, await store.arrival_published(existing)), created=False)


async def close_case(store: CaseStore, case_id: str, closed_at: datetime, by: str) -> bool:
    """Mark the case closed (its retention period starts); False if it is closed already or erased. Raises
    ChangedMeanwhile (409) when another change came first: the clerk reloads and sees what it was."""
    case = await store.get_case(case_id)
    if case is None:
        raise CaseNotFound(case_id)
    if case.get("closed_at") is not None or case.get("erasure"):
        return False
    if not await store.change_case(case, by, {"$set": {"closed_at": closed_at, "closed_by": by}}):
        raise ChangedMeanwhile("the case")
    return True
