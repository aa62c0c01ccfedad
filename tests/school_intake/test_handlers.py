"""The school intake's handler and API against the real database."""

import pytest

from services.school_intake.app import create_app
from services.school_intake.handlers import handle_newcomer_arrived
from services.school_intake.settings import SchoolIntakeSettings
from tests.apps import running
from tests.builders import arrival_event, child, registration


@pytest.fixture(scope="module")
async def service(infrastructure):
    app = create_app(infrastructure.settings(SchoolIntakeSettings))
    async with running(app) as client:
        yield client, app


async def test_the_same_event_twice_creates_the_tasks_once(service):
    client, app = service
    event = arrival_event()
    store = app.state.store
    await handle_newcomer_arrived(event, store=store, config=app.state.intake_config)
    await handle_newcomer_arrived(event, store=store, config=app.state.intake_config)
    tasks = (await client.get("/intake-tasks", params={"case_id": str(event.payload.case_id)})).json()
    assert [t["kind"] for t in tasks] == ["reception_class", "daycare"]


async def test_tasks_carry_only_the_childs_needed_facts(service):
    client, app = service
    event = arrival_event(registration(children=[child("Lina Haddad", "2019-03-05")]))
    await handle_newcomer_arrived(event, store=app.state.store, config=app.state.intake_config)
    [task] = (await client.get("/intake-tasks", params={"case_id": str(event.payload.case_id)})).json()
    assert set(task["child"]) == {"full_name", "date_of_birth", "languages", "danish_level", "years_of_schooling"}
    raw = await app.state.store.tasks.find_one({"case_id": str(event.payload.case_id)})
    flat = str(raw)
    assert "cpr" not in flat.lower() and "Jonas Weber" not in flat and "Amira" not in flat


async def test_a_schools_queue_is_oldest_due_first(service):
    client, app = service
    later = arrival_event(registration(children=[child("Later", "2015-04-01", "good")], arrival_date="2026-11-20"))
    sooner = arrival_event(registration(children=[child("Sooner", "2015-04-01", "good")], arrival_date="2026-11-03"))
    for event in (later, sooner):
        await handle_newcomer_arrived(event, store=app.state.store, config=app.state.intake_config)
    queue = (await client.get("/intake-tasks", params={"school_id": "herningsholm", "status": "new"})).json()
    names = [t["child"]["full_name"] for t in queue]
    assert names.index("Sooner") < names.index("Later")
    assert all(t["unit_id"] == "herningsholm" and t["status"] == "new" for t in queue)


async def test_a_query_without_filters_is_refused(service):
    client, _ = service
    response = await client.get("/intake-tasks")
    assert response.status_code == 422
    assert "case_id" in response.json()["detail"]
