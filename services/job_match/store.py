"""The job match's collections: listings (with index terms and pending events), spouses, leads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.job_match.domain import JobLead, LeadStatus, Listing, SpouseProfile, lead_id_for
from shared.concurrency import ChangedMeanwhile, ChangeTurns, as_change_number, next_change_number
from shared.db import find_by_ids, insert_new_many, insert_new_returning_existing, keep_newest, newest
from shared.outbox import (
    CompactionTargets,
    compact_in_turns,
    compact_plainly,
    compaction_as_next_change,
    compaction_counted_by,
    ensure_outbox_indexes,
    outbox_fields,
    outbox_update,
)

# Makes the outbox entry that announces a spouse's new leads: (case id, lead documents, when) -> JobLeadsFound
# (see workflow.leads_found_event).
Announce = Callable[[str, list[dict[str, Any]], datetime], dict[str, Any]]


class JobStore:
    def __init__(self, db: AsyncDatabase, watch: Callable[[AsyncCollection], Any] = lambda collection: collection):
        # Collections whose documents carry pending events are written through watch() (see shared.outbox).
        self.listings = watch(db["listings"])
        self.spouses = db["spouses"]
        self.leads = watch(db["leads"])
        # One document per spouse and source event that found leads (id "<case>:<event>"), carrying JobLeadsFound:
        # one event for the ten leads of an arrival, not ten (insert-only; the id makes a redelivery add nothing).
        self.found_leads = watch(db["found_leads"])
        # The family's latest job-help choice per case (id: the case), kept even before the spouse is known here:
        # the arrival and the choice come on different topics, in either order.
        self.job_help_choices = db["job_help_choices"]
        self.lead_turns = ChangeTurns(db["lead_turns"])
        self.listing_turns = ChangeTurns(db["listing_turns"])

    async def ensure_indexes(self) -> None:
        # Matching looks listings (and spouses) up by skill/occupation term, never by scanning them all.
        await self.listings.create_index([("terms", 1), ("expires", 1)])
        await self.spouses.create_index([("terms", 1)])
        await self.leads.create_index([("case_id", 1), ("score", -1)])
        await self.leads.create_index([("status", 1), ("adviser", 1)])
        await self.leads.create_index([("status", 1), ("updated_at", 1)])
        await self.leads.create_index([("created_at", 1)])
        await ensure_outbox_indexes(self.listings)
        await ensure_outbox_indexes(self.leads)
        await ensure_outbox_indexes(self.found_leads)
        await self.found_leads.create_index([("case_id", 1)])  # erasure

    # ------------------------------------------------------------------------------------------ listings

    async def count_listings(self) -> int:
        return await self.listings.count_documents({})

    async def fingerprints(self, listing_ids: list[str]) -> dict[str, str]:
        return {doc["_id"]: doc.get("fingerprint", "")
                for doc in await find_by_ids(self.listings, listing_ids, {"fingerprint": 1})}

    async def save_listings(self, changes: list[tuple[Listing, str, dict[str, Any]]], known: set[str]) -> None:
        """Store (listing, fingerprint, outbox fields) triples: each listing and its event in one write.

        New listings go in one insert_many (fast on FerretDB, which updates a document by rewriting it).
        """
        def fields(listing: Listing, fingerprint: str) -> dict[str, Any]:
            return {**listing.model_dump(mode="json", exclude={"id"}), "terms": sorted(listing.index_terms),
                    "fingerprint": fingerprint}

        new = [{"_id": listing.id, **fields(listing, fp), **outbox_fields([entry])}
               for listing, fp, entry in changes if listing.id not in known]
        # Imported by someone else meanwhile: fall through to updating those.
        known = known | await insert_new_returning_existing(self.listings, new)
        for listing, fp, entry in changes:
            if listing.id in known:
                update = outbox_update([entry])
                update["$set"].update(fields(listing, fp))
                await self._change_listing(listing.id, "import", update)

    async def _change_listing(self, listing_id: str, by: str, update: dict[str, Any]) -> None:
        """A change of a stored listing, in its turn (an import and a compaction at the same moment must not
        drop each other's outbox entries); a few tries, since imports rarely meet."""
        for _ in range(5):
            doc = await self.listings.find_one({"_id": listing_id}, {"changes": 1})
            if doc is None:
                return
            step = next_change_number(doc)
            if await self.listing_turns.take(listing_id, step, by):
                await self.listings.update_one({"_id": listing_id}, as_change_number(update, step))
                return
        raise ChangedMeanwhile(f"listing {listing_id}")

    def outbox_compaction(self) -> CompactionTargets:
        """Listings and leads take turns with their other writers; the announcements of found leads are only
        inserted and deleted."""
        return CompactionTargets(
            [(self.listings, self.compact_listings), (self.leads, self.compact_leads),
             (self.found_leads, partial(compact_plainly, self.found_leads))],
            [self.lead_turns.collection, self.listing_turns.collection])

    async def compact_listings(self, pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
        return await compact_in_turns(self.listings, self.listing_turns, pending, compaction_as_next_change)

    async def compact_leads(self, pending: list[tuple[dict[str, Any], list[str]]]) -> set[Any]:
        return await compact_in_turns(self.leads, self.lead_turns, pending, compaction_counted_by(_lead_step))

    async def all_listings(self) -> list[Listing]:
        cursor = self.listings.find({}, {"outbox": 0, "terms": 0, "fingerprint": 0, "outbox_added_at": 0})
        return [Listing.model_validate({**doc, "id": doc["_id"]}) async for doc in cursor]

    # ------------------------------------------------------------------------------------------ spouses

    async def save_spouses(self, profiles: list[SpouseProfile]) -> int:
        """Store the profiles of spouses not known yet (one unordered insert; a case arrives once, so a profile
        that exists came from the same event delivered before). Returns how many were new."""
        # Only what matching needs; the spouse's name is kept for the adviser's lead board.
        return await insert_new_many(self.spouses, [
            {"_id": str(p.case_id), **p.model_dump(mode="json"), "terms": sorted(p.search_terms)} for p in profiles])

    async def erase_case(self, case_id: str) -> int:
        """Delete the spouse's profile, leads (notes included) and the family's job-help choice."""
        spouses = await self.spouses.delete_one({"_id": case_id})
        leads = await self.leads.delete_many({"case_id": case_id})
        choice = await self.job_help_choices.delete_one({"_id": case_id})
        found = await self.found_leads.delete_many({"case_id": case_id})
        return spouses.deleted_count + leads.deleted_count + choice.deleted_count + found.deleted_count

    async def spouses_of(self, case_ids: list[str]) -> dict[str, SpouseProfile]:
        return {doc["_id"]: SpouseProfile.model_validate(doc)
                for doc in await find_by_ids(self.spouses, case_ids, {"terms": 0})}

    async def set_wants_job_help(self, case_id: str, wants_job_help: bool) -> bool:
        """False when no spouse of the case is stored (not arrived here yet, or erased). Only the family's choice
        changes a stored profile, one event of a case at a time: a plain update is safe here."""
        result = await self.spouses.update_one({"_id": case_id}, {"$set": {"wants_job_help": wants_job_help}})
        return result.matched_count == 1

    async def record_job_help_choice(self, case_id: str, wants_job_help: bool, change: int,
                                     at: datetime) -> bool:
        """Keep the family's newest choice; False when a later one is stored (this one is out of date)."""
        return await keep_newest(self.job_help_choices, {"_id": case_id, "wants_job_help": wants_job_help,
                                                         "change": change, "at": at}, "change")

    async def job_help_choices_of(self, case_ids: list[str]) -> dict[str, bool]:
        """The families among these that chose (case id -> wants job help)."""
        return {doc["_id"]: doc["wants_job_help"]
                for doc in await find_by_ids(self.job_help_choices, case_ids, {"wants_job_help": 1})}

    async def spouses_with_terms(self, terms: frozenset[str]) -> list[SpouseProfile]:
        cursor = self.spouses.find({"terms": {"$in": sorted(terms)}, "wants_job_help": True, "may_work": True},
                                   {"terms": 0})
        return [SpouseProfile.model_validate(doc) async for doc in cursor]

    # ------------------------------------------------------------------------------------------ leads

    async def lead_scores(self, case_ids: list[str]) -> dict[str, list[float]]:
        scores: dict[str, list[float]] = {c: [] for c in case_ids}
        async for doc in self.leads.find({"case_id": {"$in": case_ids}}, {"case_id": 1, "score": 1}):
            scores[doc["case_id"]].append(doc["score"])
        return scores

    async def add_leads_of_many(self, leads: list[tuple[str, JobLead, str]], announce: Announce | None = None) -> int:
        """(case id, lead, source event id) triples; a lead that exists already is left as it is. Returns how many
        were new. `announce` makes the JobLeadsFound of each spouse's leads from one source event.

        An unordered insert_many with deterministic ids: duplicates are refused by the unique _id, the rest
        stored. (Upserts do the same on MongoDB, but FerretDB runs each as a slow query-and-rewrite.) Then one
        insert of the announcements, after the leads: one that a crash in between lost is written when the event
        comes again (its id is the spouse's and the event's). An announcement names every lead the event found,
        also one that existed: readers take a lead's later status changes over its finding.
        """
        if not leads:
            return 0
        now = datetime.now(UTC)
        docs = {
            lead_id: {
                "_id": lead_id, "case_id": case_id, **lead.model_dump(mode="json", exclude={"explanation"}),
                "explanation_json": lead.explanation.model_dump_json(), "status": LeadStatus.NEW.value,
                "adviser": None, "notes": [],
                "history": [{"status": LeadStatus.NEW.value, "at": now, "by": "system", "reason": None}],
                "source_event_id": source_event_id, "created_at": now,
            }
            for case_id, lead, source_event_id in leads
            for lead_id in [str(lead_id_for(uuid.UUID(case_id), lead.listing_id))]
        }
        inserted = await insert_new_many(self.leads, list(docs.values()))
        if announce is not None:
            found: dict[str, list[dict[str, Any]]] = {}
            for doc in docs.values():
                found.setdefault(f"{doc['case_id']}:{doc['source_event_id']}", []).append(doc)
            await insert_new_many(self.found_leads, [
                {"_id": found_id, "case_id": group[0]["case_id"], "lead_ids": [d["_id"] for d in group],
                 "at": now, **outbox_fields([announce(group[0]["case_id"], group, now)])}
                for found_id, group in found.items()])
        return inserted

    async def leads_created_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        cursor = self.leads.find({"created_at": {"$gte": start, "$lt": end}}, {"case_id": 1})
        return await cursor.to_list(length=None)

    async def get_lead(self, lead_id: str) -> dict[str, Any] | None:
        doc = await self.leads.find_one({"_id": lead_id}, {"outbox": 0})
        return None if doc is None else readable_lead(doc)

    async def change_lead(self, lead: dict[str, Any], by: str, update: dict[str, Any]) -> bool:
        """Apply `update` as the next change of the lead as it was read; False if it changed meanwhile."""
        if not await self.lead_turns.take(lead["_id"], _lead_step(lead), by):
            return False
        result = await self.leads.update_one({"_id": lead["_id"]}, update)
        return result.modified_count == 1

    async def leads_of_case(self, case_id: str) -> list[dict[str, Any]]:
        cursor = self.leads.find({"case_id": case_id}, {"outbox": 0}).sort([("score", -1), ("listing_id", 1)])
        return [readable_lead(doc) for doc in await cursor.to_list(length=200)]

    async def lead_board(self, statuses: Iterable[str], adviser: str | None, limit: int = 2000) -> list[dict[str, Any]]:
        """The leads in these statuses, oldest first. Asked for the open ones, what it reads does not grow with
        the leads finished over the years (the (status, adviser) index)."""
        query: dict[str, Any] = {"status": {"$in": [str(s) for s in statuses]}}
        if adviser:
            query["adviser"] = adviser
        cursor = self.leads.find(query, {"outbox": 0}).sort([("created_at", 1), ("score", -1)])
        return [readable_lead(doc) for doc in await cursor.to_list(length=limit)]

    async def finished_since(self, statuses: Iterable[str], since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """Leads finished (in one of these statuses) since `since`, the latest `limit` (the (status, updated_at)
        index): not every lead ever finished."""
        query = {"status": {"$in": [str(s) for s in statuses]}}
        return [readable_lead(doc) for doc in await newest(self.leads, query, "updated_at", limit, datetime.now(UTC),
                                                           since=since, projection={"outbox": 0})]


def readable_lead(doc: dict[str, Any]) -> dict[str, Any]:
    """A lead as readers use it: its explanation as a mapping. It is stored as JSON text: FerretDB encodes every
    field of a nested document with its type, and with the explanation's lists as a document a lead cost its CPU
    0.27 ms to insert instead of 0.19 (ten leads per spouse). Leads stored before keep it as a document."""
    if "explanation_json" in doc:
        doc["explanation"] = json.loads(doc.pop("explanation_json"))
    return doc


def _lead_step(lead: dict[str, Any]) -> int:
    """A lead's next change number: its status changes, notes and compactions so far."""
    return len(lead["history"]) + len(lead.get("notes", [])) + lead.get("compactions", 0)
