"""Welcome pack service: FastAPI app; its lifespan opens the database and Kafka and runs the consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.welcome_pack.api import router as api_router
from services.welcome_pack.family import FamilyAccess
from services.welcome_pack.family_mail import report_refused_addresses
from services.welcome_pack.family_pages import family_error
from services.welcome_pack.family_pages import router as family_router
from services.welcome_pack.handlers import WelcomePackHandlers
from services.welcome_pack.pages import router as pages_router
from services.welcome_pack.plan_reminders import remind_families
from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore
from shared.logs import configure_logging
from shared.notify import NotificationStore
from shared.notify import router as notifications_router
from shared.runtime import ServiceRuntime
from shared.web import service_app


def create_app(settings: WelcomePackSettings | None = None) -> FastAPI:
    settings = settings or WelcomePackSettings()
    settings.link_secret()  # refuses to start without MAIL_LINK_SECRET outside development
    configure_logging(settings.service_name)
    renderer = LetterRenderer(settings.municipality)
    plan_rules = renderer.plan_rules()  # refuses a municipality file with a bad "plan" section at start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, metrics=app.state.metrics) as runtime:
            store = LetterStore(runtime.db, watch=runtime.watch)
            await store.ensure_indexes()
            runtime.start_relay(store.outbox())
            runtime.start_compaction(store.outbox_compaction())
            notifications = NotificationStore(runtime.db)
            await notifications.ensure_indexes()
            runtime.start_notifications(notifications)
            access = FamilyAccess(store, settings)
            handlers = WelcomePackHandlers(store=store, renderer=renderer, settings=settings,
                                           erasures=runtime.erasures, access=access, notifications=notifications)
            runtime.start_consumer(handlers.subscriptions())
            runtime.start_periodic("plan reminders", partial(remind_families, store, notifications, renderer,
                                                             plan_rules, settings),
                                   settings.plan_reminder_check_seconds, first_after=60.0)
            runtime.start_periodic("refused addresses", partial(report_refused_addresses, store, notifications,
                                                                runtime.erasures, settings),
                                   settings.refusal_check_seconds)
            app.state.runtime, app.state.store, app.state.renderer = runtime, store, renderer
            app.state.handlers, app.state.notifications = handlers, notifications
            app.state.access, app.state.plan_rules = access, plan_rules
            yield

    app = service_app("Velkommen welcome pack", settings, lifespan, api_router, pages_router, family_router,
                       notifications_router,
                       templates=Path(__file__).parent / "templates")
    app.state.error_page = family_error
    return app
