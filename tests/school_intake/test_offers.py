"""A freed reception-class place is offered to the longest-waiting child; the family accepts or declines it (on
its own pages, an IntakeOfferAnswered event) by a deadline in working days; the line's positions are published.
Pure rules first, then against the real database and Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.school_intake import domain, workflow
from services.school_intake.domain import TaskStatus as S
from services.school_intake.domain import WaitingLines
from services.school_intake.waitlist import publish_waitlist_positions
from shared.events import (
    INTAKE_OFFER_ANSWERED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    IntakeOfferAnswered,
    OfferAnswer,
)
from tests.builders import arrival_event, child, registration
from tests.kafka_helpers import read_until_quiet
from tests.school_intake.test_handlers import move, tasks_of

DEADLINE = date(2026, 12, 9)


@pytest.mark.parametrize(("status", "answer", "on", "outcome"), [
    (S.OFFERED, OfferAnswer.ACCEPTED, DEADLINE, S.NEW),  # on the last day: still in time
    (S.OFFERED, OfferAnswer.DECLINED, DEADLINE - timedelta(days=3), S.DECLINED),
    (S.OFFERED, OfferAnswer.ACCEPTED, DEADLINE + timedelta(days=1), None),  # too late
    (S.ACKNOWLEDGED, OfferAnswer.ACCEPTED, DEADLINE, None),  # staff acted first
    (S.NEW, OfferAnswer.DECLINED, DEADLINE, None),  # answered before (accepted)
    (S.WAITLISTED, OfferAnswer.ACCEPTED, DEADLINE, None),  # nothing offered
])
def test_what_an_answer_does(status, answer, on, outcome):
    assert domain.offer_outcome(status, DEADLINE, answer, on) == outcome


def test_an_offer_lapses_the_day_after_its_deadline():
    assert not domain.offer_lapsed(S.OFFERED, DEADLINE, DEADLINE)
    assert domain.offer_lapsed(S.OFFERED, DEADLINE, DEADLINE + timedelta(days=1))
    assert not domain.offer_lapsed(S.NEW, DEADLINE, DEADLINE + timedelta(days=30))


def test_staff_may_act_on_an_offered_task_and_so_void_the_answer():
    assert set(domain.TASK_WORKFLOW.next_statuses(S.OFFERED)) == {S.ACKNOWLEDGED, S.DECLINED}


async def line_up(app, count: int, arrived: str = "2026-11-01"):
    """A holder of the one place, then `count` children waitlisted in order of arrival."""
    holder = arrival_event(registration(children=[child("Holder", "2019-03-05")], arrival_date="2026-10-01"))
    await app.state.handlers.newcomer_arrived(holder)
    waiting = []
    for i in range(count):
        day = (date.fromisoformat(arrived) + timedelta(days=i)).isoformat()
        event = arrival_event(registration(children=[child(f"Waiting {i}", "2019-03-05")], arrival_date=day))
        await app.state.handlers.newcomer_arrived(event)
        waiting.append(event)
    return holder, waiting


def answered(event, task, answer: OfferAnswer, at: datetime | None = None):
    return INTAKE_OFFER_ANSWERED.envelope(
        IntakeOfferAnswered(case_id=event.payload.case_id, task_id=uuid.UUID(task["task_id"]), answer=answer,
                            answered_at=at or datetime.now(UTC)),
        producer="welcome_pack", correlation_id=event.payload.case_id)


async def free_the_place(client, app, holder):
    [holding] = await tasks_of(app, holder)
    response = await move(client, app, holding["task_id"], "declined", reason="moved away")
    assert response.status_code == 200, response.text


async def first_in_line_offered(client, app, waiting: int):
    """A holder and `waiting` children in line; the holder's place freed: (the waiting events, the offered task)."""
    holder, line = await line_up(app, waiting)
    await free_the_place(client, app, holder)
    [offered] = await tasks_of(app, line[0])
    return holder, line, offered


async def publish_numbers(app, lines: WaitingLines) -> int:
    return await publish_waitlist_positions(app.state.store, app.state.runtime.erasures, app.state.settings, lines)


async def test_the_line_is_published_and_moves_up(one_seat, infrastructure):
    client, app = one_seat
    holder, waiting = await line_up(app, 3)
    lines = WaitingLines()  # the job's own (it also runs in the app, every few seconds)
    await publish_numbers(app, lines)  # the first run reads the whole line
    assert [(await app.state.store.get_task((await tasks_of(app, e))[0]["task_id"]))["waitlist_position"]
            for e in waiting] == [1, 2, 3]
    await free_the_place(client, app, holder)
    [offered] = await tasks_of(app, waiting[0])
    assert offered["status"] == "offered"
    await publish_numbers(app, lines)  # this one what changed: the first child's offer
    task = await app.state.store.get_task(offered["task_id"])
    assert task["offer_deadline"] == domain.add_working_days(datetime.now(UTC).date(), 5,
                                                             app.state.intake_config.rules).isoformat()
    assert [(await app.state.store.get_task((await tasks_of(app, e))[0]["task_id"]))["waitlist_position"]
            for e in waiting[1:]] == [1, 2]
    # What the families read: the last published position of each waiting child, and the offer's deadline.
    topic = app.state.settings.topic(SCHOOL_INTAKE_STATUS_CHANGED.topic)
    # At least: the holder's task, 3 waitlisted (each with its number), the decline, the offer, 2 moves up. (The
    # topic is the session's: in a full run it also holds other tests' events, so a count too high went unseen.)
    events = [SCHOOL_INTAKE_STATUS_CHANGED.parse(m.value).payload
              for m in await read_until_quiet(infrastructure.kafka_bootstrap_servers, topic, at_least=8)]
    cases = {str(e.payload.case_id): i for i, e in enumerate(waiting)}
    last = {}
    for change in events:
        if str(change.case_id) in cases:
            last[cases[str(change.case_id)]] = change
    assert last[0].status == "offered" and last[0].offer_deadline == date.fromisoformat(task["offer_deadline"])
    school = app.state.intake_config.school("braendgaard")
    assert (last[0].unit_name, last[0].unit_address) == (school.name, school.address)
    assert [(last[i].status, last[i].waitlist_position, last[i].grade_band) for i in (1, 2)] == [
        ("waitlisted", 1, (0, 2)), ("waitlisted", 2, (0, 2))]


async def test_an_accepted_offer_goes_to_the_school_and_a_second_answer_changes_nothing(one_seat):
    client, app = one_seat
    _, [first, second], offered = await first_in_line_offered(client, app, 2)
    await app.state.handlers.intake_offer_answered(answered(first, offered, OfferAnswer.ACCEPTED))
    await app.state.handlers.intake_offer_answered(answered(first, offered, OfferAnswer.DECLINED))  # too late now
    [accepted] = await tasks_of(app, first)
    assert accepted["status"] == "new" and accepted["unit_id"] == "braendgaard"
    task = await app.state.store.get_task(offered["task_id"])
    assert [(h["status"], h["by"]) for h in task["history"]][-1] == ("new", "family")
    assert (await tasks_of(app, second))[0]["status"] == "waitlisted"  # the place stayed with the first child


async def test_a_declined_offer_goes_to_the_next_child_in_line(one_seat):
    client, app = one_seat
    _, [first, second], offered = await first_in_line_offered(client, app, 2)
    await app.state.handlers.intake_offer_answered(answered(first, offered, OfferAnswer.DECLINED))
    assert (await tasks_of(app, first))[0]["status"] == "declined"
    assert (await tasks_of(app, second))[0]["status"] == "offered"
    assert [s["task_id"] for s in await app.state.store.all_seats()] == [(await tasks_of(app, second))[0]["task_id"]]


async def test_an_answer_after_the_deadline_or_after_staff_acted_is_void(one_seat):
    client, app = one_seat
    holder, [first], offered = await first_in_line_offered(client, app, 1)
    late = datetime.now(UTC) + timedelta(days=30)
    await app.state.handlers.intake_offer_answered(answered(first, offered, OfferAnswer.ACCEPTED, late))
    assert (await tasks_of(app, first))[0]["status"] == "offered"
    assert (await move(client, app, offered["task_id"], "acknowledged")).status_code == 200
    await app.state.handlers.intake_offer_answered(answered(first, offered, OfferAnswer.DECLINED))
    assert (await tasks_of(app, first))[0]["status"] == "acknowledged"


async def test_another_cases_answer_is_ignored(one_seat):
    client, app = one_seat
    holder, [first], offered = await first_in_line_offered(client, app, 1)
    forged = answered(holder, offered, OfferAnswer.DECLINED)  # the task id of another case
    await app.state.handlers.intake_offer_answered(forged)
    assert (await tasks_of(app, first))[0]["status"] == "offered"


async def test_an_unanswered_offer_lapses_and_the_place_moves_on(one_seat):
    client, app = one_seat
    _, [first, second], offered = await first_in_line_offered(client, app, 2)
    deadline = date.fromisoformat((await app.state.store.get_task(offered["task_id"]))["offer_deadline"])
    settings, config = app.state.settings, app.state.intake_config
    assert await workflow.lapse_offers(app.state.store, settings, config, deadline) == 0
    assert await workflow.lapse_offers(app.state.store, settings, config, deadline + timedelta(days=1)) == 1
    assert (await tasks_of(app, first))[0]["status"] == "declined"
    assert (await tasks_of(app, second))[0]["status"] == "offered"
    task = await app.state.store.get_task(offered["task_id"])
    assert task["history"][-1]["reason"] == "no answer before the deadline"
