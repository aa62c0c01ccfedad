"""School intake against the real database and broker: idempotency, workflow, places and the waitlist."""

import asyncio
import json
import uuid

import pytest

from services.school_intake import domain, workflow
from services.school_intake.app import create_app
from services.school_intake.schemas import IntakeTaskPublic
from services.school_intake.settings import SchoolIntakeSettings
from shared.events import SCHOOL_INTAKE_STATUS_CHANGED
from tests.apps import as_role, running
from tests.builders import arrival_event, child, registration
from tests.kafka_helpers import eventually, read_topic


@pytest.fixture(scope="module")
async def herning(infrastructure):
    settings = infrastructure.settings(SchoolIntakeSettings)
    app = create_app(settings)
    async with running(app) as client:
        yield client, app


async def handle(app, event):
    await app.state.handlers.newcomer_arrived(event)


async def tasks_of(app, event):
    """All of a case's tasks, at every school (read from the store: the API shows staff their own school's)."""
    docs = await app.state.store.tasks_of_case(str(event.payload.case_id))
    return [IntakeTaskPublic.from_document(d).model_dump(mode="json") for d in docs]


def staff_of(app, school_id):
    return as_role(app.state.settings, "school_staff", school_id, name="Test Teacher")


async def move(client, app, task_id, to, **extra):
    """A transition by staff of the task's own school."""
    task = await app.state.store.get_task(str(task_id))
    school = task["unit_id"] if task else "herningsholm"
    return await client.post(f"/intake-tasks/{task_id}/transitions", json={"to": to, **extra},
                             headers=staff_of(app, school))


async def test_the_same_event_twice_creates_the_tasks_once_and_takes_one_place(herning):
    client, app = herning
    event = arrival_event()
    await handle(app, event)
    await handle(app, event)
    tasks = await tasks_of(app, event)
    assert [t["kind"] for t in tasks] == ["reception_class", "daycare"]
    seats = await app.state.store.seats.find({"task_id": {"$in": [t["task_id"] for t in tasks]}}).to_list(None)
    assert len(seats) == 1
    assert seats[0]["task_id"] == tasks[0]["task_id"] and seats[0]["pool_id"].startswith(tasks[0]["unit_id"] + ":")


async def test_tasks_carry_only_the_childs_needed_facts(herning):
    client, app = herning
    event = arrival_event(registration(children=[child("Lina Haddad", "2019-03-05")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    assert set(task["child"]) == {"full_name", "date_of_birth", "languages", "danish_level", "years_of_schooling"}
    raw = str(await app.state.store.tasks.find_one({"case_id": str(event.payload.case_id)}, {"outbox": 0}))
    assert "cpr" not in raw.lower() and "Jonas Weber" not in raw and "Amira" not in raw


async def test_a_schools_queue_is_oldest_due_first(herning):
    client, app = herning
    later = arrival_event(registration(children=[child("Later", "2015-04-01", "good")], arrival_date="2026-11-20"))
    sooner = arrival_event(registration(children=[child("Sooner", "2015-04-01", "good")], arrival_date="2026-11-03"))
    for event in (later, sooner):
        await handle(app, event)
    queue = (await client.get("/intake-tasks", params={"status": "new"}, headers=staff_of(app, "herningsholm"))).json()
    names = [t["child"]["full_name"] for t in queue]
    assert names.index("Sooner") < names.index("Later")
    assert all(t["unit_id"] == "herningsholm" and t["status"] == "new" for t in queue)


async def test_staff_see_their_own_schools_queue_and_no_other(herning):
    client, app = herning
    event = arrival_event(registration(children=[child("Own", "2015-04-01", "good")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    own = await client.get("/intake-tasks", headers=staff_of(app, task["unit_id"]))
    assert own.status_code == 200 and task["task_id"] in [t["task_id"] for t in own.json()]
    assert {t["unit_id"] for t in own.json()} == {task["unit_id"]}
    other = "lindbjerg" if task["unit_id"] != "lindbjerg" else "herningsholm"
    elsewhere = await client.get("/intake-tasks", headers=staff_of(app, other))
    assert task["task_id"] not in [t["task_id"] for t in elsewhere.json()]
    asked_for_other = await client.get("/intake-tasks", params={"school_id": task["unit_id"]},
                                       headers=staff_of(app, other))
    assert asked_for_other.status_code == 404
    by_case = await client.get("/intake-tasks", params={"case_id": task["case_id"]}, headers=staff_of(app, other))
    assert by_case.json() == []
    assert (await client.get(f"/intake-tasks/{task['task_id']}", headers=staff_of(app, other))).status_code == 404
    assert (await move(client, app, task["task_id"], "acknowledged")).status_code == 200
    refused = await client.post(f"/intake-tasks/{task['task_id']}/transitions", json={"to": "declined", "reason": "x"},
                                headers=staff_of(app, other))
    assert refused.status_code == 404


async def test_the_workflow_to_placed_is_stored_with_who_and_published(herning, infrastructure):
    client, app = herning
    event = arrival_event(registration(children=[child("Pupil", "2015-04-01", "good")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    for to in ("acknowledged", "meeting_scheduled", "placed"):
        response = await move(client, app, task["task_id"], to)
        assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "placed"
    assert [(h["status"], h["by"]) for h in done["history"]] == [
        ("new", "system"), ("acknowledged", "Test Teacher"), ("meeting_scheduled", "Test Teacher"),
        ("placed", "Test Teacher")]

    topic = app.state.settings.topic(SCHOOL_INTAKE_STATUS_CHANGED.topic)

    async def published():
        records = await read_topic(infrastructure.kafka_bootstrap_servers, topic, expect=10_000, timeout=1.5)
        mine = [json.loads(r.value)["payload"] for r in records if r.key == str(event.payload.case_id).encode()]
        return mine if len(mine) == 4 else None

    statuses = await eventually(published, timeout=20)
    assert [(p["previous_status"], p["status"]) for p in statuses] == [
        (None, "new"), ("new", "acknowledged"), ("acknowledged", "meeting_scheduled"), ("meeting_scheduled", "placed")]
    assert all("full_name" not in json.dumps(p) for p in statuses)


async def test_illegal_transitions_are_409_with_the_allowed_ones(herning):
    client, app = herning
    event = arrival_event(registration(children=[child("Pupil", "2015-04-01", "good")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    response = await move(client, app, task["task_id"], "placed")
    assert response.status_code == 409
    assert response.json()["detail"]["allowed"] == ["acknowledged", "declined", "redirected"]
    assert (await move(client, app, task["task_id"], "declined")).status_code == 422  # a reason is required
    assert (await move(client, app, str(uuid.uuid4()), "acknowledged")).status_code == 404
    assert (await move(client, app, task["task_id"], "flying")).status_code == 422


async def test_redirect_closes_the_task_and_opens_one_at_the_target_school(herning):
    client, app = herning
    event = arrival_event(registration(children=[child("Pupil", "2015-04-01", "good")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    response = await move(client, app, task["task_id"], "redirected", reason="parents chose Tjørring",
                          target_school_id="tjoerring")
    assert response.status_code == 200, response.text
    old, new = sorted(await tasks_of(app, event), key=lambda t: t["status"] != "redirected")
    assert (old["status"], old["redirected_to"]) == ("redirected", "tjoerring")
    assert (new["status"], new["unit_id"], new["redirected_from"]) == ("new", "tjoerring", task["task_id"])
    bad = await move(client, app, new["task_id"], "redirected", reason="x", target_school_id="nowhere")
    assert bad.status_code == 422 and "tjoerring" in bad.json()["detail"]


async def test_two_concurrent_placements_never_overbook_the_last_place(one_seat):
    _, app = one_seat
    store = app.state.store
    results = await asyncio.gather(*(store.reserve_seat("braendgaard:0-2", 1, f"task-{i}") for i in range(20)))
    assert results.count(True) == 1
    assert await store.seats_taken() == {"braendgaard:0-2": 1}


async def test_one_task_never_holds_two_seats(one_seat):
    _, app = one_seat
    store = app.state.store
    results = await asyncio.gather(*(store.reserve_seat(f"pool-{i}", 3, "the-same-task") for i in range(10)))
    assert results.count(True) == 1
    assert sum((await store.seats_taken()).values()) == 1


async def test_two_staff_changing_the_same_task_at_once_one_wins_the_other_is_told(one_seat):
    client, app = one_seat
    event = arrival_event(registration(children=[child("Pupil", "2015-04-01", "good")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    responses = await asyncio.gather(*(move(client, app, task["task_id"], "acknowledged") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    [after] = await tasks_of(app, event)
    assert [h["status"] for h in after["history"]] == ["new", "acknowledged"]


async def test_concurrent_arrivals_for_the_last_place_one_placed_the_other_waitlisted(one_seat):
    client, app = one_seat
    events = [arrival_event(registration(children=[child(f"Child {i}", "2019-03-05")])) for i in range(2)]
    await asyncio.gather(*(handle(app, e) for e in events))
    statuses = sorted([(await tasks_of(app, e))[0]["status"] for e in events])
    assert statuses == ["new", "waitlisted"]
    schools = (await client.get("/schools", headers=staff_of(app, "herningsholm"))).json()
    [school] = [s for s in schools if s["reception_classes"]]
    assert school["reception_classes"][0]["free"] == 0
    assert school["reception_classes"][0]["waitlisted"] == 1


async def test_a_batch_places_first_come_first_served_and_a_redelivered_task_keeps_its_place(one_seat):
    """A poll's arrivals at once, against a class with one place: the first new child takes it, later ones
    are waitlisted in order, a redelivered event (its child waitlisted before) does not take the place, an
    event twice in the batch gives one task, and an erased case gets none."""
    _, app = one_seat
    waiting_before, first, second, erased = (
        arrival_event(registration(children=[child(name, "2019-03-05")])) for name in ("Early", "First", "Second",
                                                                                       "Gone"))
    holder = arrival_event(registration(children=[child("Holder", "2019-03-05")]))
    await handle(app, holder)
    await handle(app, waiting_before)
    assert [(await tasks_of(app, e))[0]["status"] for e in (holder, waiting_before)] == ["new", "waitlisted"]
    # The place comes free (seat given back directly: no offer to the waitlist), then the batch arrives.
    [holding] = await tasks_of(app, holder)
    await app.state.store.release_seat(holding["task_id"])
    await app.state.runtime.erasures.tombstones.insert_one({"_id": str(erased.payload.case_id)})
    await app.state.handlers.newcomers_arrived([waiting_before, first, second, first, erased])
    assert [[t["status"] for t in await tasks_of(app, e)] for e in (waiting_before, first, second, erased)] == [
        ["waitlisted"], ["new"], ["waitlisted"], []]
    [placed] = await tasks_of(app, first)
    seats = await app.state.store.all_seats()
    assert [seat["task_id"] for seat in seats] == [placed["task_id"]]


async def test_a_freed_place_goes_to_the_child_who_arrived_first(one_seat):
    client, app = one_seat
    holder = arrival_event(registration(children=[child("Holder", "2019-03-05")], arrival_date="2026-10-01"))
    second = arrival_event(registration(children=[child("Second", "2019-03-05")], arrival_date="2026-11-05"))
    first = arrival_event(registration(children=[child("First", "2019-03-05")], arrival_date="2026-11-01"))
    for event in (holder, second, first):  # Second is handled before First but arrived later
        await handle(app, event)
    [holding] = await tasks_of(app, holder)
    assert holding["status"] == "new" and holding["unit_id"] == "braendgaard"
    assert [(await tasks_of(app, e))[0]["status"] for e in (first, second)] == ["waitlisted", "waitlisted"]

    response = await move(client, app, holding["task_id"], "declined", reason="family moved to Aarhus")
    assert response.status_code == 200, response.text

    [got_place] = await tasks_of(app, first)
    [still_waiting] = await tasks_of(app, second)
    assert (got_place["status"], got_place["unit_id"]) == ("offered", "braendgaard")
    assert got_place["history"][-1]["reason"] == "reception-class place offered at Brændgårdskolen"
    assert still_waiting["status"] == "waitlisted"
    schools = (await client.get("/schools", headers=staff_of(app, "herningsholm"))).json()
    [school] = [s for s in schools if s["reception_classes"]]
    assert school["reception_classes"][0] == {"grades": [0, 2], "capacity": 1, "free": 0, "waitlisted": 1}


async def test_redirecting_to_a_full_reception_class_is_refused(one_seat):
    client, app = one_seat
    event = arrival_event(registration(children=[child("Pupil", "2019-03-05")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    response = await move(client, app, task["task_id"], "redirected", reason="closer", target_school_id="lindbjerg")
    assert response.status_code == 409
    assert "no reception class" in response.json()["detail"]["message"]
    assert (await tasks_of(app, event))[0]["status"] == task["status"]


async def _reception_class_task_and_another_school(app):
    event = arrival_event(registration(children=[child("Pupil", "2019-03-05")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    assert task["kind"] == "reception_class" and task["status"] == "new"
    other = next(s for s in app.state.intake_config.schools
                 if s.id != task["unit_id"] and s.reception_class_for(task["grade"]) is not None)
    return event, task, other


async def test_a_redirect_that_fails_leaves_no_follow_up_task_or_seat_behind(herning, monkeypatch):
    _, app = herning
    store = app.state.store
    event, task, other = await _reception_class_task_and_another_school(app)

    async def broken_change(*args, **kwargs):
        raise RuntimeError("the write failed")

    monkeypatch.setattr(store, "change_task", broken_change)
    with pytest.raises(RuntimeError):
        await workflow.transition(store, app.state.settings, app.state.intake_config, task["task_id"],
                                  domain.TaskStatus.REDIRECTED, "Test Teacher", "closer", other.id)
    monkeypatch.undo()
    [still] = await tasks_of(app, event)
    assert (still["task_id"], still["status"]) == (task["task_id"], "new")
    follow_up_id = str(uuid.uuid5(uuid.UUID(task["task_id"]), other.id))  # what a redirect names its follow-up
    assert await store.get_task(follow_up_id) is None
    assert await store.seat_of(follow_up_id) is None                    # the target's place is free again
    assert await store.seat_of(task["task_id"]) is not None              # the child keeps their place


async def test_a_redirect_that_fails_after_it_landed_keeps_the_follow_up(herning, monkeypatch):
    _, app = herning
    store = app.state.store
    event, task, other = await _reception_class_task_and_another_school(app)

    async def offer_fails(*args, **kwargs):
        raise RuntimeError("offering the freed place failed")

    monkeypatch.setattr(workflow, "release_and_offer", offer_fails)
    with pytest.raises(RuntimeError):
        await workflow.transition(store, app.state.settings, app.state.intake_config, task["task_id"],
                                  domain.TaskStatus.REDIRECTED, "Test Teacher", "closer", other.id)
    monkeypatch.undo()
    tasks = {t["status"]: t for t in await tasks_of(app, event)}
    assert set(tasks) == {"redirected", "new"} and tasks["new"]["unit_id"] == other.id
    assert tasks["new"]["task_id"] in {seat["task_id"] for seat in await store.all_seats()}


async def test_the_queue_gives_the_reasons_in_danish_and_in_english_on_request(herning):
    client, app = herning
    event = arrival_event(registration(children=[child("Pupil", "2016-04-01", "none")]))
    await handle(app, event)
    [task] = await tasks_of(app, event)
    staff = {**staff_of(app, task["unit_id"]), "Accept": "text/html"}
    danish = (await client.get("/", headers=staff)).text
    assert f"{task['grade']}. klasse efter årgang" in danish and "basisundervisning i dansk" in danish
    assert "by age cohort" not in danish
    english = (await client.get("/", headers={**staff, "Cookie": "velkommen_lang=en"})).text
    assert f"grade {task['grade']} by age cohort" in english
    assert task["reasons"][0] == f"grade {task['grade']} by age cohort"  # the API: English, with the codes
    assert task["reason_codes"][0] == {"code": "grade_by_cohort", "params": {"grade": task["grade"]}}
