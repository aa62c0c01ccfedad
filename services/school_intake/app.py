"""School intake service: FastAPI app; its lifespan opens the database and Kafka, runs the consumer and relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.school_intake.api import router as api_router
from services.school_intake.domain import MunicipalityConfig, WaitingLines
from services.school_intake.handlers import SchoolIntakeHandlers
from services.school_intake.pages import router as pages_router
from services.school_intake.reminders import remind
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.store import IntakeTaskStore
from services.school_intake.waitlist import publish_waitlist_positions
from shared.logs import configure_logging
from shared.municipality import load_municipality_file
from shared.notify import NotificationStore
from shared.notify import router as notifications_router
from shared.runtime import ServiceRuntime
from shared.web import service_app


def create_app(settings: SchoolIntakeSettings | None = None, config: MunicipalityConfig | None = None) -> FastAPI:
    settings = settings or SchoolIntakeSettings()
    configure_logging(settings.service_name)
    config = config or MunicipalityConfig.model_validate(
        load_municipality_file(Path(__file__).parent, settings.municipality)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, metrics=app.state.metrics) as runtime:
            store = IntakeTaskStore(runtime.db, watch=runtime.watch)
            await store.ensure_indexes()
            runtime.start_relay([store.tasks])
            runtime.start_compaction(store.outbox_compaction())
            notifications = NotificationStore(runtime.db)
            await notifications.ensure_indexes()
            runtime.start_notifications(notifications)
            runtime.start_periodic("reminders", partial(remind, store, notifications, config, settings),
                                   settings.reminder_check_seconds)
            lines = WaitingLines()
            runtime.start_periodic("waitlist positions",
                                   partial(publish_waitlist_positions, store, runtime.erasures, settings, lines),
                                   settings.waitlist_positions_seconds)
            handlers = SchoolIntakeHandlers(store=store, settings=settings, config=config, erasures=runtime.erasures,
                                            notifications=notifications, waiting_lines=lines)
            runtime.start_consumer(handlers.subscriptions())
            app.state.runtime, app.state.store, app.state.handlers = runtime, store, handlers
            app.state.notifications = notifications
            yield

    app = service_app("Velkommen school intake", settings, lifespan, api_router, pages_router, notifications_router,
                       templates=Path(__file__).parent / "templates")
    app.state.intake_config = config
    return app
