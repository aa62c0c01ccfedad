"""Importing listings: store each new or changed listing together with its JobListingPublished event."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from services.job_match import domain
from services.job_match.domain import Listing
from services.job_match.index import ListingIndex
from services.job_match.listings import RowError
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from shared.events import JOB_LISTING_PUBLISHED, JobListingPublished
from shared.outbox import outbox_entry


class ImportReport(BaseModel):
    received: int
    new: int
    changed: int
    unchanged: int
    errors: list[RowError]


def listing_event(listing: Listing, settings: JobMatchSettings, correlation_id: uuid.UUID) -> dict:
    payload = JobListingPublished(listing_id=listing.id, **listing.model_dump(exclude={"id"}))
    envelope = JOB_LISTING_PUBLISHED.envelope(payload, producer=settings.service_name, correlation_id=correlation_id)
    return outbox_entry(settings.topic(JOB_LISTING_PUBLISHED.topic), listing.id, envelope)


async def import_listings(store: JobStore, settings: JobMatchSettings, index: ListingIndex, listings: list[Listing],
                          errors: list[RowError]) -> ImportReport:
    # The last occurrence of an id in one file wins, as if the rows were imported one after another.
    unique = list({listing.id: listing for listing in listings}.values())
    known = await store.fingerprints([listing.id for listing in unique])
    correlation_id = uuid.uuid4()  # one import, one correlation id across its events
    changes = []
    new = changed = 0
    for listing in unique:
        fingerprint = domain.listing_fingerprint(listing)
        if known.get(listing.id) == fingerprint:
            continue
        if listing.id in known:
            changed += 1
        else:
            new += 1
        changes.append((listing, fingerprint, listing_event(listing, settings, correlation_id)))
    await store.save_listings(changes, set(known))
    for listing, _, _ in changes:
        index.put(listing)  # this replica matches against them at once; others learn from the events
    return ImportReport(received=len(listings) + len(errors), new=new, changed=changed,
                        unchanged=len(unique) - new - changed, errors=errors)
