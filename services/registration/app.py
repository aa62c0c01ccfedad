"""Registration service: FastAPI app; its lifespan opens the database and Kafka and runs the outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.registration.api import router as api_router
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
        async with ServiceRuntime(settings) as runtime:
            store = CaseStore(runtime.db)
            await store.ensure_indexes()
            runtime.start_relay([store.cases])
            app.state.runtime, app.state.store = runtime, store
            yield

    return service_app("Velkommen registration", settings, lifespan, api_router)
