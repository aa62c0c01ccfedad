"""Erasing a case (GDPR): on request by Borgerservice, or when a closed case passes the retention period.

The case document keeps only what says that it existed and was erased (id, dates, who, why, basis); the
newcomer, the household, the CPR number and the pending or published events (their payloads hold the same
data) are removed in the same write that adds the NewcomerErased event to the outbox. The other services erase
their copies when they consume that event, and confirm.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.events import NEWCOMER_ERASED, ErasureBasis, NewcomerErased
from shared.outbox import outbox_entry, outbox_fields

log = logging.getLogger(__name__)
PERSONAL_FIELDS = ("newcomer", "household", "cpr_number", "request_fingerprint")


class CaseNotFound(Exception):
    pass


async def erase_case(store: CaseStore, settings: RegistrationSettings, case_id: str,
                     *, by: str, reason: str, basis: ErasureBasis) -> dict[str, Any]:
    """Erase the case's personal data here and announce it; erasing an erased case changes nothing."""
    case = await store.get_case(case_id)
    if case is None:
        raise CaseNotFound(case_id)
    if case.get("erasure"):
        return case
    now = datetime.now(UTC)
    erased = NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=uuid.UUID(case_id), basis=basis, requested_at=now),
        producer=settings.service_name, correlation_id=uuid.UUID(case_id),
        event_id=uuid.uuid5(uuid.UUID(case_id), "newcomer-erased"),  # one erasure event per case
    )
    update = {
        "$set": {"erasure": {"at": now, "by": by, "reason": reason, "basis": basis.value},
                 # Replaces the outbox: published and pending events alike carried the personal data.
                 **outbox_fields([outbox_entry(settings.topic(NEWCOMER_ERASED.topic), case_id, erased)])},
        "$unset": {field: "" for field in PERSONAL_FIELDS},
    }
    await store.cases.update_one({"_id": case_id, "erasure": {"$exists": False}}, update)
    return await store.get_case(case_id)


async def erase_expired_cases(store: CaseStore, settings: RegistrationSettings,
                              now: datetime | None = None) -> int:
    """Erase every case closed longer ago than CASE_RETENTION_DAYS (the periodic retention job)."""
    if settings.case_retention_days is None:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.case_retention_days)
    expired = await store.closed_before(cutoff)
    for case_id in expired:
        await erase_case(store, settings, case_id, by="system", reason="retention period ended",
                         basis=ErasureBasis.RETENTION)
    if expired:
        log.info("retention: erased %d closed case(s)", len(expired))
    return len(expired)
