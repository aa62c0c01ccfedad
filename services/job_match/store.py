"""The job match's collections: listings (with their index terms) and leads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.job_match.domain import JobLead, Listing, lead_id_for


class JobStore:
    def __init__(self, db: AsyncDatabase):
        self.listings = db["listings"]
        self.leads = db["leads"]

    async def ensure_indexes(self) -> None:
        # Matching looks listings up by skill/occupation term, never by scanning them all.
        await self.listings.create_index([("terms", 1), ("expires", 1)])
        await self.leads.create_index([("case_id", 1), ("score", -1)])
        await self.leads.create_index([("status", 1)])

    async def count_listings(self) -> int:
        return await self.listings.count_documents({})

    async def upsert_listings(self, listings: list[Listing]) -> int:
        if not listings:
            return 0
        ops = [
            ReplaceOne(
                {"_id": listing.id},
                {**listing.model_dump(mode="json", exclude={"id"}), "terms": sorted(listing.index_terms)},
                upsert=True,
            )
            for listing in listings
        ]
        result = await self.listings.bulk_write(ops, ordered=False)
        return result.upserted_count + result.modified_count

    async def open_listings_with_terms(self, terms: frozenset[str], today: date) -> list[Listing]:
        if not terms:
            return []
        cursor = self.listings.find({"terms": {"$in": sorted(terms)}, "expires": {"$gte": today.isoformat()}})
        return [Listing.model_validate({**doc, "id": doc["_id"]}) async for doc in cursor]

    async def add_leads(self, case_id: str, leads: list[JobLead], source_event_id: str) -> int:
        """Store leads that are new for this spouse; an existing lead keeps its status and notes."""
        if not leads:
            return 0
        now = datetime.now(UTC)
        ops = [
            UpdateOne(
                {"_id": str(lead_id_for(case_id, lead.listing_id))},
                {"$setOnInsert": {
                    "case_id": case_id, **lead.model_dump(mode="json"), "status": "new",
                    "history": [{"status": "new", "at": now, "by": "system"}],
                    "source_event_id": source_event_id, "created_at": now,
                }},
                upsert=True,
            )
            for lead in leads
        ]
        result = await self.leads.bulk_write(ops, ordered=False)
        return result.upserted_count

    async def leads_of_case(self, case_id: str) -> list[dict[str, Any]]:
        return await self.leads.find({"case_id": case_id}).sort([("score", -1), ("listing_id", 1)]).to_list(length=100)
