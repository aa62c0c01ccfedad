"""Events the job match consumes, and what it does with each.

Consumes: NewcomerArrived v1 (profile the spouse, first leads) and JobListingPublished v1 (re-match open spouses).
"""

from __future__ import annotations

from datetime import date

from services.job_match import domain
from services.job_match.index import ListingIndex
from services.job_match.store import JobStore
from shared.events import EventEnvelope, JobListingPublished, NewcomerArrived


async def handle_newcomer_arrived(
    event: EventEnvelope[NewcomerArrived], *, store: JobStore, index: ListingIndex, leads_per_spouse: int,
    today: date | None = None,
) -> None:
    profile = domain.spouse_profile(event.payload)
    if profile is None:
        return
    await store.save_spouse(profile)
    if not profile.wants_job_help:
        return
    today = today or date.today()
    candidates = index.candidates(profile.search_terms, today)
    leads = domain.rank_leads(profile, candidates, today, leads_per_spouse)
    await store.add_leads(str(profile.case_id), leads, str(event.event_id))


async def handle_job_listing_published(
    event: EventEnvelope[JobListingPublished], *, store: JobStore, index: ListingIndex, leads_per_spouse: int,
    today: date | None = None,
) -> None:
    listing = domain.Listing(id=event.payload.listing_id, **event.payload.model_dump(exclude={"listing_id"}))
    index.put(listing)
    today = today or date.today()
    if not domain.is_open(listing, today):
        return
    spouses = await store.spouses_with_terms(listing.index_terms)
    if not spouses:
        return
    scores = await store.lead_scores([str(s.case_id) for s in spouses])
    for spouse in spouses:
        lead = domain.evaluate(spouse, listing, today)
        if lead is not None and domain.worth_adding(lead, scores[str(spouse.case_id)], leads_per_spouse):
            await store.add_leads(str(spouse.case_id), [lead], str(event.event_id))
