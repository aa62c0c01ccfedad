"""Events the job match consumes, and what it does with each. Consumes: NewcomerArrived v1."""

from __future__ import annotations

from datetime import date

from services.job_match import domain
from services.job_match.store import JobStore
from shared.events import EventEnvelope, NewcomerArrived


async def handle_newcomer_arrived(
    event: EventEnvelope[NewcomerArrived], *, store: JobStore, leads_per_spouse: int, today: date | None = None
) -> None:
    profile = domain.spouse_profile(event.payload)
    if profile is None or not profile.wants_job_help:
        return
    today = today or date.today()
    candidates = await store.open_listings_with_terms(profile.search_terms, today)
    leads = domain.rank_leads(profile, candidates, today, leads_per_spouse)
    await store.add_leads(str(profile.case_id), leads, str(event.event_id))
