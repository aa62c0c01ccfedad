"""The FastAPI app every service starts from: health routes and clear, data-minimal error responses."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.concurrency import ChangedMeanwhile
from shared.db import TRANSIENT_DB_ERRORS
from shared.health import router as health_router
from shared.outbox import OutboxRelay
from shared.settings import ServiceSettings
from shared.workflow import IllegalTransition


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency returning what the app's lifespan put on app.state (store, settings, renderer, ...)."""

    def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"get_{name}"
    return dependency


def _relay(request: Request) -> OutboxRelay | None:
    runtime = getattr(request.app.state, "runtime", None)
    return runtime.relay if runtime is not None else None


RelayDep = Annotated[OutboxRelay | None, Depends(_relay)]


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # One message per bad field, without echoing the submitted values: they may be personal data (a CPR number).
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "The database is not reachable right now; nothing was changed. Try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _illegal_transition(request: Request, exc: IllegalTransition) -> JSONResponse:
    return JSONResponse({"detail": {"message": str(exc), "current": exc.current, "allowed": exc.allowed}},
                        status_code=409)


async def _changed_meanwhile(request: Request, exc: ChangedMeanwhile) -> JSONResponse:
    return JSONResponse({"detail": {"message": str(exc)}}, status_code=409)


def service_app(
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    *routers: APIRouter,
) -> FastAPI:
    app = FastAPI(title=title, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(ChangedMeanwhile, _changed_meanwhile)
    for error in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    app.include_router(health_router)
    for router in routers:
        app.include_router(router)
    return app
