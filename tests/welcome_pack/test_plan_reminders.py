"""The weekly reminder of plan steps due soon: once per family and week, in its language, only while it
consents; against the real database and Mailpit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.welcome_pack.app import create_app
from services.welcome_pack.family import plan_view
from services.welcome_pack.plan_reminders import remind_families, steps_due_soon, week_of
from services.welcome_pack.settings import WelcomePackSettings
from shared.notify import notification_id
from tests.apps import running
from tests.builders import arrival_event, child, registration
from tests.kafka_helpers import eventually
from tests.mailpit import mails_with


def test_weeks_are_iso_weeks():
    assert week_of(date(2026, 12, 31)) == "2026-W53" and week_of(date(2027, 1, 4)) == "2027-W01"


@pytest.fixture(scope="module")
async def service(infrastructure):
    settings = infrastructure.settings(WelcomePackSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_plan_reminders")
    app = create_app(settings)
    async with running(app) as client:
        yield client, app


async def run(app, today):
    state = app.state
    return await remind_families(state.store, state.notifications, state.renderer, state.plan_rules,
                                 state.settings, today)


async def test_a_consenting_family_gets_one_reminder_a_week_of_what_is_due_soon(service, infrastructure):
    _, app = service
    today = datetime.now(UTC).date()
    event = arrival_event(registration(preferred_language="es", email="familia@example.org", contact_consent=True,
                                       arrival_date=today.isoformat(), children=[child("Lina", "2016-03-05")]))
    quiet = arrival_event(registration(arrival_date=today.isoformat(), email="no@example.org",
                                       contact_consent=False))
    for e in (event, quiet):
        await app.state.handlers.newcomer_arrived(e)
    case_id = str(event.payload.case_id)
    view = await plan_view(app.state.store, app.state.plan_rules, case_id, today)
    due = {s.step.id for s in steps_due_soon(view, today, 7)}
    assert {"documents", "cpr_registration", "school:0"} <= due  # due on arrival and within 5 working days
    assert "danish_education" not in due  # 30 working days away
    assert await run(app, today) >= 1
    assert await run(app, today) == 0  # the same week again: nothing new
    message_id = f"{notification_id(f'family-plan:{case_id}:{week_of(today)}')}@velkommen"

    async def delivered():
        return await mails_with(infrastructure.mailpit_url, message_id)

    [mail] = await eventually(delivered, timeout=20)
    assert mail["Subject"].startswith("Su plan:") and [t["Address"] for t in mail["To"]] == ["familia@example.org"]
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{infrastructure.mailpit_url}/api/v1/message/{mail['ID']}")).json()
    assert "Colegio para Lina" in body["Text"] and "140587" not in body["Text"] + body["HTML"]
    quiet_id = notification_id(f"family-plan:{quiet.payload.case_id}:{week_of(today)}")
    assert await app.state.notifications.pending.find_one({"_id": quiet_id}) is None
    assert await app.state.notifications.sent.find_one({"_id": quiet_id}) is None


async def test_after_unsubscribing_no_reminder_comes(service):
    _, app = service
    today = datetime.now(UTC).date()
    event = arrival_event(registration(email="gone@example.org", contact_consent=True,
                                       arrival_date=today.isoformat()))
    await app.state.handlers.newcomer_arrived(event)
    case_id = str(event.payload.case_id)
    await app.state.store.withdraw_consent(case_id, datetime.now(UTC))
    await run(app, today + timedelta(days=1))
    for collection in (app.state.notifications.pending, app.state.notifications.sent):
        assert await collection.find_one({"case_id": case_id, "kind": "family_plan_reminder"}) is None
