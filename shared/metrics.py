"""Prometheus metrics of a service, served at GET /metrics (no token: it holds no personal data).

One registry per app, so that several apps in one process (the tests) keep their figures apart.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pymongo import monitoring
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServiceMetrics:
    def __init__(self, service: str):
        self.registry = CollectorRegistry()
        registry = self.registry
        self.info = Gauge("velkommen_service_info", "The service these metrics are of.", ["service"], registry=registry)
        self.info.labels(service).set(1)
        self.http_requests = Counter("velkommen_http_requests_total", "HTTP requests answered.",
                                     ["method", "route", "status"], registry=registry)
        self.http_seconds = Histogram("velkommen_http_request_duration_seconds", "Time to answer an HTTP request.",
                                      ["method", "route"], registry=registry)
        self.events_consumed = Counter(
            "velkommen_events_consumed_total",
            "Events consumed, by outcome: ok, retried (an attempt failed and will be repeated), dead_lettered.",
            ["topic", "outcome"], registry=registry)
        self.handler_seconds = Histogram("velkommen_event_handler_duration_seconds",
                                         "Time to handle one event (or one batch, per event).", ["topic"],
                                         registry=registry)
        self.consumer_lag = Gauge("velkommen_consumer_lag_events",
                                  "Events in the partition after this consumer's position.", ["topic", "partition"],
                                  registry=registry)
        self.events_produced = Counter("velkommen_events_published_total",
                                       "Events the outbox relay published (broker acknowledged).", ["topic"],
                                       registry=registry)
        self.outbox_pending = Gauge("velkommen_outbox_pending_events",
                                    "Events the relay saw pending in its last pass.", registry=registry)
        self.db_commands = Counter("velkommen_db_commands_total",
                                   "Database commands sent, by command and collection (what loads the database).",
                                   ["command", "collection"], registry=registry)
        self.db_seconds = Counter("velkommen_db_command_seconds_total",
                                  "Time spent waiting for database commands, by command and collection.",
                                  ["command", "collection"], registry=registry)
        self.notifications = Counter("velkommen_notifications_total",
                                     "Mail notifications by kind and outcome: sent, retried, failed.",
                                     ["kind", "outcome"], registry=registry)
        self.notifications_pending = Gauge("velkommen_notifications_pending",
                                           "Notifications waiting to be sent (due or backing off).",
                                           registry=registry)
        self.outbox_oldest_age = Gauge("velkommen_outbox_oldest_pending_age_seconds",
                                       "Age of the oldest pending event the relay saw in its last pass.",
                                       registry=registry)


class HttpMetrics:
    """ASGI middleware counting requests by method, route template (never the raw path: ids), status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                                  else "unmatched")
            self.metrics.http_requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.http_seconds.labels(scope["method"], route).observe(time.perf_counter() - started)


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class DatabaseCommands(monitoring.CommandListener):
    """Counts the service's database commands and their time (PyMongo's command monitoring)."""

    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics
        self._collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if not isinstance(target, str):  # getMore names a cursor; its collection is a field of its own
            target = event.command.get("collection", "")
        self._collections[event.request_id] = target if isinstance(target, str) else ""

    def _finished(self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent) -> None:
        collection = self._collections.pop(event.request_id, "")
        self.metrics.db_commands.labels(event.command_name, collection).inc()
        self.metrics.db_seconds.labels(event.command_name, collection).inc(event.duration_micros / 1e6)

    succeeded = _finished
    failed = _finished
