"""Erasing a case (GDPR): on request by Borgerservice, or when a closed case passes the retention period.

The case document keeps only what says that it existed and was erased (id, dates, who, why, basis); the
newcomer, the household, the CPR number and the pending or published events (their payloads hold the same
data) are removed in the same write that adds the NewcomerErased event to the outbox. The other services erase
their copies when they consume that event, and confirm.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.concurrency import ChangedMeanwhile
from shared.events import NEWCOMER_ERASED, ErasureBasis, NewcomerErased
from shared.outbox import outbox_entry, outbox_fields

log = logging.getLogger(__name__)
PERSONAL_FIELDS = ("newcomer", "household", "cpr_number", "request_fingerprint")
ERASURE_WAIT_SECONDS = 40.0  # longer than an abandoned turn lives (ChangeTurns.abandoned_after)


class CaseNotFound(Exception):
    pass


async def erase_case(store: CaseStore, settings: RegistrationSettings, case_id: str,
                     *, by: str, reason: str, basis: ErasureBasis) -> dict[str, Any]:
    """Erase the case's personal data here and announce it; erasing an erased case changes nothing.

    Takes the case's next change turn like every writer of a case (see CaseStore.change_case), and tries again
    until it is through: an erasure, once asked for, is never lost to a close or another change at the same
    moment. A turn left by a writer that died is reclaimed after its timeout (30 s), hence the bound.
    """
    delay, deadline = 0.01, time.monotonic() + ERASURE_WAIT_SECONDS
    while True:
        case = await store.get_case(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        if case.get("erasure"):
            return case
        if await store.change_case(case, by, _erasure_update(settings, case_id, by, reason, basis)):
            erased = await store.get_case(case_id)
            assert erased is not None  # cases are never deleted, only erased
            return erased
        if time.monotonic() > deadline:
            raise ChangedMeanwhile("the case")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def _erasure_update(settings: RegistrationSettings, case_id: str, by: str, reason: str,
                    basis: ErasureBasis) -> dict[str, Any]:
    now = datetime.now(UTC)
    erased = NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=uuid.UUID(case_id), basis=basis, requested_at=now),
        producer=settings.service_name, correlation_id=uuid.UUID(case_id),
        event_id=uuid.uuid5(uuid.UUID(case_id), "newcomer-erased"),  # one erasure event per case
    )
    return {
        "$set": {"erasure": {"at": now, "by": by, "reason": reason, "basis": basis.value},
                 # Replaces the outbox: published and pending events alike carried the personal data.
                 **outbox_fields([outbox_entry(settings.topic(NEWCOMER_ERASED.topic), case_id, erased)])},
        "$unset": {field: "" for field in PERSONAL_FIELDS},
    }


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
