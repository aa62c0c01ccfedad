"""Metrics, traces and logs (#9): /metrics counts what happened, one registration is one trace across the four
services (in-memory exporter), logs are JSON with the ids of the work in hand and no personal data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pymongo import AsyncMongoClient

from services.job_match.app import create_app as job_match_app
from services.job_match.settings import JobMatchSettings
from services.registration.app import create_app as registration_app
from services.registration.settings import RegistrationSettings
from services.school_intake.app import create_app as school_intake_app
from services.school_intake.settings import SchoolIntakeSettings
from services.welcome_pack.app import create_app as welcome_pack_app
from services.welcome_pack.settings import WelcomePackSettings
from shared.logs import JsonFormatter, log_context
from shared.metrics import DatabaseCommands, ServiceMetrics
from tests.apps import as_role, running
from tests.builders import registration
from tests.kafka_helpers import eventually

SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")


@pytest.fixture(scope="module")
def spans():
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
async def system(infrastructure, spans):
    prefix = f"test-{infrastructure.run_id}-obs-{uuid.uuid4().hex[:4]}."
    apps = {
        "registration": registration_app(infrastructure.settings(RegistrationSettings, kafka_topic_prefix=prefix,
                                                                 mongodb_database=f"obs_{uuid.uuid4().hex[:6]}_reg")),
        "welcome_pack": welcome_pack_app(infrastructure.settings(WelcomePackSettings, kafka_topic_prefix=prefix,
                                                                 mongodb_database=f"obs_{uuid.uuid4().hex[:6]}_wp")),
        "school_intake": school_intake_app(infrastructure.settings(SchoolIntakeSettings, kafka_topic_prefix=prefix,
                                                                   mongodb_database=f"obs_{uuid.uuid4().hex[:6]}_si")),
        "job_match": job_match_app(infrastructure.settings(JobMatchSettings, kafka_topic_prefix=prefix,
                                                           mongodb_database=f"obs_{uuid.uuid4().hex[:6]}_jm")),
    }
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(running(app)) for name, app in apps.items()}
        yield apps, clients


async def test_one_registration_is_one_trace_across_the_four_services(system, spans):
    apps, clients = system
    headers = as_role(apps["registration"].state.settings, "borgerservice")
    spans.clear()
    created = await clients["registration"].post("/registrations", json=registration(), headers=headers)
    assert created.status_code == 201
    case_id = created.json()["case_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        timeline = (await clients["registration"].get(f"/registrations/{case_id}/timeline", headers=headers)).json()
        if timeline["letters"] == 1 and len(timeline["intake_tasks"]) == 2 and timeline["job_leads_by_status"]:
            break
        await asyncio.sleep(0.2)
    # The outputs are stored; their events still travel back to registration. Wait (bounded) until the trace
    # holds a consumer and a producer span of every service, instead of a fixed pause.
    wanted = {(s, kind) for s in SERVICES for kind in (SpanKind.CONSUMER, SpanKind.PRODUCER)}

    def whole_trace():
        finished = spans.get_finished_spans()
        # FastAPI's own server span of the POST, and everything in its trace.
        [post] = [s for s in finished if s.name == "POST /registrations" and s.kind is SpanKind.SERVER]
        in_trace = [s for s in finished if s.context.trace_id == post.context.trace_id]
        return in_trace if wanted <= {(s.instrumentation_scope.name, s.kind) for s in in_trace} else None

    in_trace = await eventually(whole_trace, timeout=30) or []
    by_service = {s.instrumentation_scope.name for s in in_trace} - {"fastapi"}
    assert by_service == set(SERVICES), by_service
    kinds = {(s.instrumentation_scope.name, s.kind) for s in in_trace}
    for service in ("welcome_pack", "school_intake", "job_match"):
        assert (service, SpanKind.CONSUMER) in kinds and (service, SpanKind.PRODUCER) in kinds
    assert ("registration", SpanKind.PRODUCER) in kinds
    # The timeline events the others published come back to registration in the same trace.
    assert ("registration", SpanKind.CONSUMER) in kinds
    assert not any("Amira" in json.dumps(dict(s.attributes or {})) for s in in_trace)


async def test_metrics_count_requests_events_and_the_outbox_without_a_token(system):
    apps, clients = system
    headers = as_role(apps["registration"].state.settings, "borgerservice")
    await clients["registration"].get(f"/registrations/{uuid.uuid4()}", headers=headers)  # a 404
    text = (await clients["registration"].get("/metrics")).text
    assert 'velkommen_http_requests_total{method="GET",route="/registrations/{case_id}",status="404"}' in text
    assert 'velkommen_events_published_total{topic=' in text and "onboarding.newcomer-arrived.v1" in text
    assert "velkommen_outbox_pending_events" in text and "velkommen_outbox_oldest_pending_age_seconds" in text
    consumer = (await clients["welcome_pack"].get("/metrics")).text
    assert 'velkommen_events_consumed_total{outcome="ok",topic="onboarding.newcomer-arrived.v1"}' in consumer
    assert "velkommen_consumer_lag_events{" in consumer
    assert "velkommen_event_handler_duration_seconds_bucket" in consumer
    # The letter was written by an insert into `letters`: database commands are counted by command and collection.
    inserts = [line for line in consumer.splitlines()
               if line.startswith('velkommen_db_commands_total{collection="letters",command="insert"}')]
    assert inserts and float(inserts[0].split()[-1]) >= 1


def test_logs_are_json_with_the_ids_of_the_work_in_hand():
    record = logging.LogRecord("shared.bus", logging.WARNING, __file__, 1, "event %s failed", ("e-1",), None)
    with log_context(event_id="e-1", case_id="c-1", correlation_id="c-1"):
        line = json.loads(JsonFormatter("welcome_pack").format(record))
    assert line["service"] == "welcome_pack" and line["message"] == "event e-1 failed"
    assert (line["event_id"], line["case_id"], line["level"]) == ("e-1", "c-1", "WARNING")
    outside = json.loads(JsonFormatter("welcome_pack").format(record))
    assert "case_id" not in outside


async def test_a_cursors_further_batches_are_counted_under_its_collection(infrastructure):
    metrics = ServiceMetrics("test")
    client = AsyncMongoClient(infrastructure.mongodb_uri, event_listeners=[DatabaseCommands(metrics)])
    try:
        collection = client[f"test_{uuid.uuid4().hex[:8]}"]["many"]
        await collection.insert_many([{"n": n} for n in range(30)])
        assert len(await collection.find({}).batch_size(10).to_list(length=None)) == 30
        assert metrics.db_commands.labels("getMore", "many")._value.get() >= 2  # not under "" (a cursor id)
        await client.drop_database(collection.database.name)
    finally:
        await client.close()
