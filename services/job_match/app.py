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
from services.job_match.handlers import (
    handle_job_listing_published,
    handle_job_listings_published,
    handle_newcomer_arrived,
    handle_newcomer_erased,
    handle_newcomers_arrived,
)
from services.job_match.importing import import_listings
from services.job_match.index import ListingIndex
from services.job_match.listings import sample_listings
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from services.job_match.workflow import lead_created_event
from services.job_match.pages import router as pages_router
from shared.bus import Subscription
from shared.events import JOB_LISTING_PUBLISHED, NEWCOMER_ARRIVED, NEWCOMER_ERASED
from shared.logs import configure_logging
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
            runtime.start_relay([store.listings, store.leads])
            deps = {"store": store, "index": index, "leads_per_spouse": settings.leads_per_spouse,
                    "announce": partial(lead_created_event, settings)}
            runtime.start_consumer([
                Subscription(NEWCOMER_ARRIVED, partial(handle_newcomer_arrived, **deps, erasures=runtime.erasures),
                             handle_batch=partial(handle_newcomers_arrived, **deps, erasures=runtime.erasures)),
                Subscription(JOB_LISTING_PUBLISHED, partial(handle_job_listing_published, **deps),
                             handle_batch=partial(handle_job_listings_published, **deps)),
                Subscription(NEWCOMER_ERASED, partial(handle_newcomer_erased, store=store, erasures=runtime.erasures)),
            ])
            app.state.runtime, app.state.store, app.state.listing_index = runtime, store, index
            yield

    return service_app("Velkommen job match", settings, lifespan, api_router, pages_router,
                       templates=Path(__file__).parent / "templates")
