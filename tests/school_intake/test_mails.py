"""School intake's mails to its units, through the real Mailpit (tests/conftest.py starts it): one mail per
new task, to the unit's intake mailbox, in Danish, without personal data; retried while the server is away;
marked failed, without blocking the others, when the server refuses the recipient for good."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.school_intake import domain
from services.school_intake.app import create_app
from services.school_intake.handlers import SchoolIntakeHandlers
from services.school_intake.mails import task_arrived
from services.school_intake.reminders import remind
from services.school_intake.settings import SchoolIntakeSettings
from services.school_intake.workflow import new_task_document
from shared.events import NEWCOMER_ERASED, ErasureBasis, NewcomerErased
from shared.municipality import load_municipality_file
from shared.notify import Mail, NotificationSender, NotificationStore, notification, notification_id
from tests.apps import as_role, running
from tests.builders import arrival, arrival_event, child, registration
from tests.conftest import ROOT
from tests.kafka_helpers import eventually
from tests.mailpit import free_port, mails_with, private_mailpit
from tests.school_intake.conftest import one_seat_config

HERNING = load_municipality_file(ROOT / "services" / "school_intake", "herning")
CONFIG = domain.MunicipalityConfig.model_validate(HERNING)
PERSONAL = ("Amira", "Haddad", "Lina", "Bredgade", "140587")


def _task(status=domain.TaskStatus.NEW):
    payload = arrival(registration(children=[child("Lina Haddad", "2019-03-05")]))
    [decision] = domain.decide_intake(payload, CONFIG)
    return new_task_document(payload, decision, str(uuid.uuid4()), status, str(uuid.uuid4()),
                             datetime.now(UTC), "newcomer registered")


def test_a_new_task_is_told_to_its_units_mailbox_in_danish_without_personal_data():
    task = _task()
    mail = task_arrived(task, CONFIG, "https://intake.example")
    assert mail.to == CONFIG.unit(task["unit_id"]).mailbox and mail.language == "da"
    assert mail.subject == "Velkommen: ny indskrivningsopgave (modtageklasse)"
    assert "Klassetrin: 1." in mail.text and "Frist:" in mail.text
    assert f"https://intake.example/#task-{task['_id']}" in mail.text
    assert not [word for word in PERSONAL if word in mail.subject + mail.text]


def test_a_waitlisted_child_is_told_as_such():
    mail = task_arrived(_task(domain.TaskStatus.WAITLISTED), CONFIG, "https://intake.example")
    assert mail.subject == "Velkommen: et barn står på venteliste til en plads (modtageklasse)"
    assert "ingen ledig plads" in mail.text


def test_a_municipality_file_with_a_unit_without_a_mailbox_is_refused_naming_it():
    raw = json.loads(json.dumps(HERNING))
    del raw["youth_unit"]["mailbox"]
    raw["schools"][1]["mailbox"] = None
    with pytest.raises(ValueError, match="missing for: lindbjerg, youth-unit"):
        domain.MunicipalityConfig.model_validate(raw)



@pytest.fixture(scope="module")
async def service(infrastructure):
    settings = infrastructure.settings(SchoolIntakeSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_intake_mail")
    app = create_app(settings)
    async with running(app) as client:
        yield client, app


async def test_each_new_task_is_mailed_to_its_unit_exactly_once(service, infrastructure):
    _, app = service
    event = arrival_event(registration(children=[child("Lina Haddad", "2019-03-05"), child("Omar", "2024-06-20")]))
    await app.state.handlers.newcomer_arrived(event)
    await app.state.handlers.newcomer_arrived(event)  # redelivered
    tasks = await app.state.store.tasks_of_case(str(event.payload.case_id))
    assert len(tasks) == 2
    for task in tasks:
        message_id = f"{notification_id('task-arrived:' + task['_id'])}@velkommen"

        async def arrived(message_id=message_id):
            return await mails_with(infrastructure.mailpit_url, message_id)

        [mail] = await eventually(arrived, timeout=20)
        assert [to["Address"] for to in mail["To"]] == [CONFIG.unit(task["unit_id"]).mailbox]
        assert mail["Subject"].startswith("Velkommen: ")
        assert not [word for word in PERSONAL if word in json.dumps(mail)]
    # Sent: nothing pending for the case, one record each; a third delivery of the event changes nothing.
    await app.state.handlers.newcomer_arrived(event)
    store = app.state.notifications
    assert await store.pending.count_documents({"case_id": str(event.payload.case_id)}) == 0
    assert await store.sent.count_documents({"case_id": str(event.payload.case_id)}) == 2


async def test_tasks_stored_before_a_crash_are_mailed_when_the_arrival_comes_again(service):
    """The tasks were written, the mails not (the process died in between): the redelivery finds the tasks
    existing and mails their units from the stored tasks."""
    _, app = service
    event = arrival_event(registration(children=[child("Lina Haddad", "2019-03-05"), child("Omar", "2024-06-20")]))
    case_id = str(event.payload.case_id)
    await app.state.handlers.newcomer_arrived(event)
    store = app.state.notifications

    async def settled() -> bool:
        return await store.pending.count_documents({"case_id": case_id}) == 0 and \
            await store.sent.count_documents({"case_id": case_id}) == 2

    assert await eventually(settled, timeout=20)
    await store.sent.delete_many({"case_id": case_id})  # as if never mailed
    await app.state.handlers.newcomer_arrived(event)
    assert await eventually(settled, timeout=20)


async def test_an_old_task_replayed_is_not_mailed_again(service):
    _, app = service
    event = arrival_event(registration(children=[child("Old", "2015-04-01", "good")]))
    await app.state.handlers.newcomer_arrived(event)
    [task] = await app.state.store.tasks_of_case(str(event.payload.case_id))
    await app.state.notifications.pending.delete_many({"case_id": str(event.payload.case_id)})
    await app.state.notifications.sent.delete_many({"case_id": str(event.payload.case_id)})
    await app.state.store.tasks.unwatched.update_one(
        {"_id": task["_id"]}, {"$set": {"created_at": datetime.now(UTC) - timedelta(days=30)}})
    await app.state.handlers.newcomer_arrived(event)  # a replay, a month later
    assert await app.state.notifications.pending.count_documents({"case_id": str(event.payload.case_id)}) == 0


@pytest.fixture
def refusing_mailpit(tmp_path):
    """A Mailpit of this test's own that refuses (550) every recipient not at allowed.example."""
    with private_mailpit(tmp_path, "@allowed\\.example$") as server:
        yield server


async def test_a_mail_server_that_is_away_is_retried_and_a_refused_recipient_fails_alone(
        infrastructure, mongo_client, refusing_mailpit):
    smtp_port, api = refusing_mailpit
    db = mongo_client[f"test_{infrastructure.run_id}_notify_{uuid.uuid4().hex[:6]}"]
    store = NotificationStore(db)
    now = datetime.now(UTC)
    good = notification(f"test:{uuid.uuid4()}", "test", Mail(to="unit@allowed.example", subject="Ny opgave",
                                                            text="Se Velkommen."), case_id="c1", now=now)
    refused = notification(f"test:{uuid.uuid4()}", "test", Mail(to="nobody@refused.example", subject="Ny opgave",
                                                               text="Se Velkommen."), case_id="c2", now=now)
    assert await store.add([good, refused]) == 2
    settings = infrastructure.settings(SchoolIntakeSettings, smtp_port=free_port(), notification_max_attempts=5)
    away = NotificationSender(store, settings)
    assert await away.send_due() == 0  # nothing listens: counted and kept, not dropped
    assert {d["attempts"] async for d in store.pending.find({})} == {1}
    back = NotificationSender(store, settings.model_copy(update={"smtp_port": smtp_port}))
    assert await back.send_due(now=datetime.now(UTC) + timedelta(hours=1)) == 1
    assert await store.pending.count_documents({}) == 0
    [failed] = await store.failures()
    assert failed["_id"] == refused["_id"] and "550" in failed["reason"] and failed["attempts"] == 2
    assert await mails_with(api, f"{good['_id']}@velkommen")
    assert await store.add([good]) == 0  # already sent: written again, it is not sent again



async def test_erasure_drops_a_cases_pending_mails(service, mongo_client, infrastructure):
    _, app = service
    # The service's handlers, writing to a notification store no sender reads: the mail stays pending.
    store = NotificationStore(mongo_client[f"test_{infrastructure.run_id}_unsent_{uuid.uuid4().hex[:6]}"])
    handlers = SchoolIntakeHandlers(store=app.state.store, settings=app.state.settings, config=app.state.intake_config,
                                    erasures=app.state.runtime.erasures, notifications=store)
    event = arrival_event(registration(children=[child("Gone", "2015-04-01", "good")]))
    case_id = str(event.payload.case_id)
    await handlers.newcomer_arrived(event)
    assert await store.pending.count_documents({"case_id": case_id}) == 1
    erased = NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=event.payload.case_id, basis=ErasureBasis.REQUEST, requested_at=datetime.now(UTC)),
        producer="tests", correlation_id=event.payload.case_id)
    await handlers.newcomer_erased(erased)
    assert await store.pending.count_documents({"case_id": case_id}) == 0
    assert await app.state.store.tasks_of_case(case_id) == []


async def test_reminders_and_escalations_are_sent_once_whatever_runs_them_how_often(service, infrastructure):
    _, app = service
    store, notifications = app.state.store, app.state.notifications
    event = arrival_event(registration(children=[child("Late", "2015-04-01", "good")]))
    await app.state.handlers.newcomer_arrived(event)
    [task] = await store.tasks_of_case(str(event.payload.case_id))
    # Well past the escalation point, counted from the later of the due date and the day the task came.
    later = max(date.fromisoformat(task["due_date"]), task["created_at"].date()) + timedelta(days=10)

    def run():
        return remind(store, notifications, app.state.intake_config, app.state.settings, today=later)

    written = await asyncio.gather(run(), run(), run())  # replicas at the same moment
    assert sum(written) >= 2
    await run()                                             # and again after a "restart"

    async def all_sent():
        return await notifications.pending.count_documents({"case_id": str(event.payload.case_id)}) == 0

    assert await eventually(all_sent, timeout=20)  # nothing more on its way: what Mailpit holds is final
    for kind, to in (("overdue", CONFIG.unit(task["unit_id"]).mailbox),
                     ("escalated", CONFIG.school_administration.mailbox)):
        message_id = f"{notification_id(f'task-{kind}:' + task['_id'])}@velkommen"

        async def arrived(message_id=message_id):
            return await mails_with(infrastructure.mailpit_url, message_id)

        [mail] = await eventually(arrived, timeout=20)
        assert [r["Address"] for r in mail["To"]] == [to]
    assert await notifications.sent.count_documents({"case_id": str(event.payload.case_id)}) == 3  # + arrival


async def test_a_place_offered_from_the_waitlist_is_mailed_to_the_school(infrastructure):
    settings = infrastructure.settings(SchoolIntakeSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_offer_{uuid.uuid4().hex[:6]}")
    app = create_app(settings, config=one_seat_config())
    async with running(app) as client:
        holder, waiting = (arrival_event(registration(children=[child(n, "2019-03-05")])) for n in ("Holder", "Wait"))
        await app.state.handlers.newcomer_arrived(holder)
        await app.state.handlers.newcomer_arrived(waiting)
        [held] = await app.state.store.tasks_of_case(str(holder.payload.case_id))
        response = await client.post(f"/intake-tasks/{held['_id']}/transitions",
                                     json={"to": "declined", "reason": "moved away"},
                                     headers=as_role(settings, "school_staff", held["unit_id"], name="T"))
        assert response.status_code == 200, response.text
        [offered] = await app.state.store.tasks_of_case(str(waiting.payload.case_id))
        assert offered["status"] == "offered" and offered["history"][-1]["by"] == "system"
        assert await remind(app.state.store, app.state.notifications, app.state.intake_config, settings) >= 1
        offer_id = notification_id(f"task-offered:{offered['_id']}:{len(offered['history']) - 1}")
        message_id = f"{offer_id}@velkommen"

        async def arrived():
            return await mails_with(infrastructure.mailpit_url, message_id)

        [mail] = await eventually(arrived, timeout=20)
        assert mail["Subject"] == "Velkommen: en plads i modtageklasse er tilbudt"
        assert [r["Address"] for r in mail["To"]] == [app.state.intake_config.unit(offered["unit_id"]).mailbox]
