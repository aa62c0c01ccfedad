"""Job match service: FastAPI app; its lifespan opens the database and Kafka, loads sample listings, consumes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.job_match.api import router as api_router
from services.job_match.digest import send_digest
from services.job_match.domain import Listing
from services.job_match.handlers import JobMatchHandlers
from services.job_match.importing import import_listings
from services.job_match.index import ListingIndex
from services.job_match.listings import sample_listings
from services.job_match.pages import router as pages_router
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from services.job_match.workflow import leads_found_event
from shared.bus import TopicFollower
from shared.events import JOB_LISTING_PUBLISHED
from shared.logs import configure_logging
from shared.notify import NotificationStore
from shared.notify import router as notifications_router
from shared.runtime import ServiceRuntime
from shared.web import service_app

log = logging.getLogger(__name__)


def create_app(settings: JobMatchSettings | None = None) -> FastAPI:
    settings = settings or JobMatchSettings()
    configure_logging(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, metrics=app.state.metrics) as runtime:
            store = JobStore(runtime.db, watch=runtime.watch)
            await store.ensure_indexes()
            index = ListingIndex(await store.all_listings())
            if settings.sample_listings_file and len(index) == 0:
                sample = sample_listings(settings.sample_listings_file, date.today())
                report = await import_listings(store, settings, index, sample, [])
                log.info("loaded %d sample listings", report.new)
            log.info("listing index: %d listings", len(index))
            runtime.start_relay([store.listings, store.leads, store.found_leads])
            notifications = NotificationStore(runtime.db)
            await notifications.ensure_indexes()
            runtime.start_notifications(notifications)
            # Looked for every quarter of a period: the digest of a period that just ended goes out soon after.
            runtime.start_periodic("leads-digest", partial(send_digest, store, notifications, settings),
                                   settings.digest_hours * 3600 / 4)
            # Found-leads documents are only inserted and deleted: compacted by a plain update.
            runtime.start_compaction(store.outbox_compaction())
            follower = runtime.start_follower(TopicFollower(
                settings, JOB_LISTING_PUBLISHED,
                lambda events: index.put_all(Listing.from_event(e.payload) for e in events)))
            handlers = JobMatchHandlers(store=store, index=index, leads_per_spouse=settings.leads_per_spouse,
                                        erasures=runtime.erasures, announce=partial(leads_found_event, settings),
                                        listings=follower, settings=settings)
            runtime.start_consumer(handlers.subscriptions())
            app.state.runtime, app.state.store, app.state.listing_index = runtime, store, index
            app.state.handlers, app.state.notifications = handlers, notifications
            yield

    return service_app("Velkommen job match", settings, lifespan, api_router, pages_router, notifications_router,
                       templates=Path(__file__).parent / "templates")
