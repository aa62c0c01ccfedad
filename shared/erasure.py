"""GDPR erasure in a consuming service: erase a case's data, keep a tombstone, confirm, and refuse a replay.

Each service keeps, in its own database, one tombstone per erased case (`erased_cases`: the case id and when;
no personal data). The tombstone
- carries the ErasureConfirmed event in its outbox (published by the service's relay), and
- makes the NewcomerArrived handler skip that case, so replaying the topic does not bring the data back.

Handling NewcomerErased is idempotent: the data is deleted every time (nothing the second time) and the
tombstone is inserted once. A handler that created data for a case checks the tombstone again afterwards
(`forget_if_erased`), which closes the gap when arrival and erasure are handled at the same moment by two
replicas.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.db import find_by_ids, insert_new
from shared.events import ERASURE_CONFIRMED, ErasureConfirmed, EventEnvelope, NewcomerErased
from shared.outbox import ensure_outbox_indexes, outbox_entry, outbox_fields
from shared.settings import ServiceSettings

COLLECTION = "erased_cases"

# Deletes (or anonymises) what the service holds of a case; returns how many records it changed.
EraseCase = Callable[[str], Awaitable[int]]


class ErasureLog:
    def __init__(self, db: AsyncDatabase, settings: ServiceSettings,
                 watch: Callable[[AsyncCollection], Any] = lambda collection: collection):
        self.tombstones = watch(db[COLLECTION])
        self.settings = settings

    async def ensure_indexes(self) -> None:
        await self.tombstones.create_index([("erased_at", 1)])
        await ensure_outbox_indexes(self.tombstones)

    async def erased_among(self, case_ids: Iterable[str]) -> set[str]:
        return {doc["_id"] for doc in await find_by_ids(self.tombstones, sorted(set(case_ids)), {"_id": 1})}

    async def erased_since(self, since: datetime) -> set[str]:
        """The cases erased since `since` (their tombstones are written after their data is deleted)."""
        return {doc["_id"] async for doc in self.tombstones.find({"erased_at": {"$gte": since}}, {"_id": 1})}

    async def erase(self, event: EventEnvelope[NewcomerErased], erase_case: EraseCase) -> int:
        """Erase the case's data and confirm once; returns the records erased this time."""
        case_id = str(event.payload.case_id)
        erased = await erase_case(case_id)
        now = datetime.now(UTC)
        confirmed = ERASURE_CONFIRMED.envelope(
            ErasureConfirmed(case_id=event.payload.case_id, service=self.settings.service_name, erased_at=now,
                             records_erased=erased),
            producer=self.settings.service_name, correlation_id=event.correlation_id, causation_id=event.event_id,
            # One confirmation per service and case, whatever the redeliveries.
            event_id=uuid.uuid5(event.payload.case_id, f"erasure-confirmed:{self.settings.service_name}"),
        )
        await insert_new(self.tombstones, {
            "_id": case_id, "erased_at": now, "basis": event.payload.basis.value,
            "source_event_id": str(event.event_id),
            **outbox_fields([outbox_entry(self.settings.topic(ERASURE_CONFIRMED.topic), case_id, confirmed)]),
        })
        return erased

    async def forget_if_erased(self, case_ids: Iterable[str], erase_case: EraseCase) -> set[str]:
        """After creating data for these cases: erase it again where the case was erased meanwhile."""
        erased = await self.erased_among(case_ids)
        for case_id in erased:
            await erase_case(case_id)
        return erased
