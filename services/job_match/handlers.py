"""Events the job match consumes, and what it does with each.

Consumes: NewcomerArrived v1 (profile the spouse, first leads), JobListingPublished v1 (re-match open spouses),
SpouseJobHelpChanged v1 (the family turned job help off: withdraw the open leads; on: reopen them and match
again), NewcomerErased v1 (delete the spouse's profile and leads, confirm).
A spouse's new leads are announced by one JobLeadsFound per source event, written right after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.job_match import domain
from services.job_match.index import ListingIndex
from services.job_match.settings import JobMatchSettings
from services.job_match.store import Announce, JobStore
from services.job_match.workflow import follow_family_choice
from shared.bus import Subscription, TopicFollower
from shared.erasure import ErasureLog
from shared.events import (
    ERASURE_CONFIRMED,
    JOB_LEAD_STATUS_CHANGED,
    JOB_LEADS_FOUND,
    JOB_LISTING_PUBLISHED,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SPOUSE_JOB_HELP_CHANGED,
    EventEnvelope,
    JobListingPublished,
    NewcomerArrived,
    NewcomerErased,
    SpouseJobHelpChanged,
)

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (JOB_LISTING_PUBLISHED, JOB_LEADS_FOUND, JOB_LEAD_STATUS_CHANGED, ERASURE_CONFIRMED)
CONSUMES = (NEWCOMER_ARRIVED, JOB_LISTING_PUBLISHED, SPOUSE_JOB_HELP_CHANGED, NEWCOMER_ERASED)


@dataclass(frozen=True)
class JobMatchHandlers:
    """The handlers of the events job_match consumes, with what they need. `today` fixes the date (tests).

    With several replicas, each replica's index is kept whole by `listings` (every listing event, read outside
    the consumer group); the group's listing handler re-matches the spouses stored so far, once per listing. An
    arrival is matched after the follower has caught up with the listings published before the spouse was
    stored, so that a listing is either in the index when the spouse is matched or finds the spouse when it
    is re-matched.
    """

    store: JobStore
    index: ListingIndex
    leads_per_spouse: int
    erasures: ErasureLog
    announce: Announce | None = None
    today: date | None = None
    listings: TopicFollower[JobListingPublished] | None = None
    settings: JobMatchSettings = field(default_factory=JobMatchSettings)

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(NEWCOMER_ARRIVED, self.newcomer_arrived, handle_batch=self.newcomers_arrived),
            Subscription(JOB_LISTING_PUBLISHED, self.job_listing_published,
                         handle_batch=self.job_listings_published),
            Subscription(SPOUSE_JOB_HELP_CHANGED, self.spouse_job_help_changed),
            Subscription(NEWCOMER_ERASED, self.newcomer_erased),
        ]

    def _today(self) -> date:
        return self.today or date.today()

    async def newcomer_arrived(self, event: EventEnvelope[NewcomerArrived]) -> None:
        await self.newcomers_arrived([event])

    async def newcomers_arrived(self, events: list[EventEnvelope[NewcomerArrived]]) -> None:
        """Profile each arrival's spouse and find the first leads: one tombstone query, one insert of the
        profiles, one query of the families' job-help choices, one insert of the leads, and one tombstone query
        again, whatever the batch size."""
        profiles = {str(p.case_id): p for p in map(domain.spouse_profile, (e.payload for e in events))
                    if p is not None}
        sources = {str(e.payload.case_id): str(e.event_id) for e in events}
        if not profiles:
            return  # nobody with a spouse
        erased = await self.erasures.erased_among(profiles)  # a replayed arrival must not bring erased data back
        profiles = {case_id: p for case_id, p in profiles.items() if case_id not in erased}
        await self.store.save_spouses(list(profiles.values()))
        # Read after the profiles are stored: a choice handled meanwhile either finds the profile or is read here.
        for case_id, wants in (await self.store.job_help_choices_of(list(profiles))).items():
            if wants != profiles[case_id].wants_job_help:
                profiles[case_id] = profiles[case_id].model_copy(update={"wants_job_help": wants})
                await self.store.set_wants_job_help(case_id, wants)
        await self._match(list(profiles.values()), sources)
        await self.erasures.forget_if_erased(profiles, self.store.erase_case)

    async def _match(self, profiles: list[domain.SpouseProfile], sources: dict[str, str]) -> None:
        """The best leads for each spouse who wants job help (those that exist already are left as they are)."""
        if self.listings is not None:
            await self.listings.caught_up()
        today = self._today()
        leads = []
        for profile in profiles:
            if profile.wants_job_help:
                case_id = str(profile.case_id)
                candidates = self.index.candidates(profile.search_terms, today)
                leads += [(case_id, lead, sources[case_id])
                          for lead in domain.rank_leads(profile, candidates, today, self.leads_per_spouse)]
        await self.store.add_leads_of_many(leads, self.announce)

    async def spouse_job_help_changed(self, event: EventEnvelope[SpouseJobHelpChanged]) -> None:
        """The family's choice, kept first (an arrival not handled yet reads it). Off: every open lead is withdrawn
        (the adviser sees it as withdrawn by the family). On: the withdrawn leads are new again, and the spouse
        is matched against today's listings. An older or repeated change does nothing new."""
        choice = event.payload
        case_id = str(choice.case_id)
        if not await self.store.record_job_help_choice(case_id, choice.wants_job_help, choice.change,
                                                       choice.changed_at):
            return
        # No spouse stored: not arrived here yet (its arrival reads the choice), or erased.
        if await self.store.set_wants_job_help(case_id, choice.wants_job_help):
            for lead in await self.store.leads_of_case(case_id):
                await follow_family_choice(self.store, self.settings, lead, choice.wants_job_help, choice.changed_at)
            if choice.wants_job_help:
                spouse = await self.store.spouses_of([case_id])
                await self._match(list(spouse.values()), {case_id: str(event.event_id)})
        await self.erasures.forget_if_erased([case_id], self.store.erase_case)  # a replay after erasure keeps nothing

    async def job_listing_published(self, event: EventEnvelope[JobListingPublished]) -> None:
        await self.job_listings_published([event])

    async def job_listings_published(self, events: list[EventEnvelope[JobListingPublished]]) -> None:
        """Re-match open spouses against new or changed listings: one spouse query and one lead query per
        batch."""
        today = self._today()
        arrived: list[tuple[domain.Listing, str]] = []
        for event in events:
            listing = domain.Listing.from_event(event.payload)
            self.index.put(listing)
            if domain.is_open(listing, today):
                arrived.append((listing, str(event.event_id)))
        if not arrived:
            return
        terms = frozenset[str]().union(*(listing.index_terms for listing, _ in arrived))
        spouses = await self.store.spouses_with_terms(terms)
        if not spouses:
            return
        scores = await self.store.lead_scores([str(s.case_id) for s in spouses])
        new_leads = []
        for listing, event_id in arrived:
            facts = domain.ListingFacts.of(listing)
            for spouse in spouses:
                if not (spouse.search_terms & listing.index_terms):
                    continue
                case_id = str(spouse.case_id)
                lead = domain.evaluate(spouse, facts, today)
                if lead is not None and domain.worth_adding(lead, scores[case_id], self.leads_per_spouse):
                    new_leads.append((case_id, lead, event_id))
                    scores[case_id].append(lead.score)
        await self.store.add_leads_of_many(new_leads, self.announce)

    async def newcomer_erased(self, event: EventEnvelope[NewcomerErased]) -> None:
        await self.erasures.erase(event, self.store.erase_case)
