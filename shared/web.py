"""The FastAPI app every service starts from: health routes and clear, data-minimal error responses."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit import router as audit_router
from shared.auth import TokenVerifier
from shared.concurrency import ChangedMeanwhile
from shared.db import TRANSIENT_DB_ERRORS
from shared.health import router as health_router
from shared.metrics import HttpMetrics, ServiceMetrics
from shared.metrics import router as metrics_router
from shared.pages import StaffPages, login_router, static_files, wants_html
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing
from shared.workflow import IllegalTransition


def from_state(name: str) -> Callable[[Request], Any]:
    """A dependency returning what the app's lifespan put on app.state (store, settings, renderer, ...).

    Dependencies are `async def` on purpose: FastAPI runs a plain `def` one in a worker thread, which cost
    measurable time per request under load (bench/flow.py profile)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"get_{name}"
    return dependency


PagesDep = Annotated[StaffPages, Depends(from_state("pages"))]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # One message per bad field, without echoing the submitted values: they may be personal data (a CPR number).
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "The database is not reachable right now; nothing was changed. Try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _illegal_transition(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IllegalTransition)
    return await _conflict(request, {"message": str(exc), "current": exc.current, "allowed": exc.allowed})


async def _changed_meanwhile(request: Request, exc: Exception) -> Response:
    return await _conflict(request, {"message": str(exc)})


async def _conflict(request: Request, detail: dict[str, Any]) -> Response:
    """409: a staff page in the reader's language for a browser (a form), the JSON detail for an API client."""
    if wants_html(request) and getattr(request.app.state, "pages", None) is not None:
        return request.app.state.pages.error(request, HTTPException(409, detail))
    return JSONResponse({"detail": detail}, status_code=409)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # A service may answer some paths with its own error pages (welcome_pack's family pages); otherwise a browser
    # gets a staff page (the login form for 401) and an API client the usual JSON.
    own_page = getattr(request.app.state, "error_page", None)
    if own_page is not None and (page := own_page(request, exc)) is not None:
        return page
    if wants_html(request) and exc.status_code in (401, 403, 404, 409, 422):
        return request.app.state.pages.error(request, exc)
    return await http_exception_handler(request, exc)


# Sent with every response. The pages use no inline script or style, so the policy can be strict; personal data
# must not linger in shared browser caches, hence no-store (static files excepted).
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                 b"frame-ancestors 'self'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                own = {name.lower() for name, _ in headers}  # a response may set a stricter or looser policy itself
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in own)
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def service_app(
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    *routers: APIRouter,
    templates: Path | None = None,
) -> FastAPI:
    """A service's app: its routers, health, audit, login, shared static files and error handling.

    Fails at once when no token issuer is configured: a service that cannot check who asks must not start.
    """
    app = FastAPI(title=title, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    app.state.pages = StaffPages(settings, templates)
    app.state.metrics = ServiceMetrics(settings.service_name)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HttpMetrics, metrics=app.state.metrics)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(ChangedMeanwhile, _changed_meanwhile)
    for error in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(audit_router)
    app.include_router(login_router(app.state.pages))
    app.mount("/static", static_files(), name="static")
    for router in routers:
        app.include_router(router)
    return app
