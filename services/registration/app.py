"""Registration service: FastAPI app; its lifespan opens the database and Kafka, runs the outbox relay, and
consumes the other services' events for the case timeline and erasure confirmations, and erases closed cases
when their retention period ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.registration.api import router as api_router
from services.registration.erasure import erase_expired_cases
from services.registration.handlers import RegistrationHandlers
from services.registration.pages import router as pages_router
from services.registration.settings import RegistrationSettings
from services.registration.store import CaseStore
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.web import service_app


def create_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()
    configure_logging(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, metrics=app.state.metrics) as runtime:
            store = CaseStore(runtime.db, watch=runtime.watch)
            await store.ensure_indexes()
            runtime.start_relay([store.cases])
            runtime.start_compaction(store.outbox_compaction())
            handlers = RegistrationHandlers(store=store)
            runtime.start_consumer(handlers.subscriptions())
            runtime.start_periodic("retention", partial(erase_expired_cases, store, settings),
                                   settings.retention_check_seconds)
            app.state.runtime, app.state.store, app.state.handlers = runtime, store, handlers
            yield

    return service_app("Velkommen registration", settings, lifespan, api_router, pages_router,
                       templates=Path(__file__).parent / "templates")
