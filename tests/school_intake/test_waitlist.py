"""The waiting lines' numbers: worked out from what changed since the job's last read, not from the whole line.
Pure rules first, then against the real database and Kafka."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.school_intake.domain import PlaceInLine, WaitingLines, line_numbers, place_in_line
from shared.events import NEWCOMER_ERASED, SCHOOL_INTAKE_STATUS_CHANGED, ErasureBasis, NewcomerErased
from tests.builders import arrival_event, child, registration
from tests.kafka_helpers import read_until_quiet
from tests.school_intake.test_handlers import move, tasks_of
from tests.school_intake.test_offers import line_up, publish_numbers

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def task(task_id: str, arrived: str, created_minute: int = 0, *, band=(0, 2), status="waitlisted", case="",
         position=None) -> dict:
    return {"_id": task_id, "case_id": case or f"case-{task_id}", "kind": "reception_class", "status": status,
            "grade_band": list(band), "arrival_date": arrived, "created_at": T0 + timedelta(minutes=created_minute),
            "waitlist_position": position}


def test_a_line_is_in_order_of_arrival_then_registration_then_id_one_line_per_band():
    places = [place_in_line(t) for t in (
        task("c", "2026-11-02"), task("b", "2026-11-01", 5), task("a", "2026-11-01", 5),
        task("d", "2026-11-01", 1), task("x", "2026-10-01", band=(3, 5)), task("y", "2026-11-30", band=(3, 5)),
    )]
    assert line_numbers(p for p in places if p is not None) == {"d": 1, "a": 2, "b": 3, "c": 4, "x": 1, "y": 2}


def test_only_a_waitlisted_reception_class_task_with_a_band_has_a_place():
    assert isinstance(place_in_line(task("a", "2026-11-01")), PlaceInLine)
    assert place_in_line(task("a", "2026-11-01", status="offered")) is None
    assert place_in_line({**task("a", "2026-11-01"), "kind": "daycare"}) is None
    assert place_in_line({**task("a", "2026-11-01"), "grade_band": None}) is None
    assert place_in_line({}) is None  # a task no longer there


def test_the_lines_learn_joins_leaves_and_erasures_and_renumber_only_who_moved():
    lines = WaitingLines()
    lines.read_whole([task("a", "2026-11-01", position=1), task("b", "2026-11-02", position=2),
                      task("c", "2026-11-03", position=3, case="family-c"), task("d", "2026-11-04")], T0)
    assert lines.renumbered() == {"d": 4}  # the others were told their numbers before
    lines.published("d", 4)
    assert lines.renumbered() == {}
    # "a" got an offer and left; "e" arrived the day "b" did, registered after it: c and d keep their numbers.
    lines.read_changes([task("e", "2026-11-02", 9), task("a", "2026-11-01", status="offered")], set(), T0)
    assert lines.renumbered() == {"b": 1, "e": 2} and "a" not in lines.places
    # Both told; then c's case is erased.
    for task_id, number in lines.renumbered().items():
        lines.published(task_id, number)
    lines.read_changes([], {"family-c"}, T0 + timedelta(seconds=5))
    assert lines.renumbered() == {"d": 3}
    assert lines.read_at == T0 + timedelta(seconds=5) and lines.read_whole_at == T0


def test_a_child_joining_is_numbered_after_those_known_ahead_of_it_in_its_band():
    lines = WaitingLines()
    joining = place_in_line(task("new", "2026-11-02", 30))
    assert joining is not None and lines.numbers_on_joining([joining]) is None  # not read yet: the job tells it
    lines.read_whole([task("a", "2026-11-01", position=1), task("b", "2026-11-03", position=2),
                      task("x", "2026-10-01", band=(3, 5), position=1)], T0)
    assert lines.numbers_on_joining([joining]) == {"new": 2}  # after a, before b; x waits in another band
    lines.joined(replace(joining, published=2))  # stored with its number
    assert lines.renumbered() == {"b": 3}  # what the job then tells: b moved down
    later = place_in_line(task("later", "2026-11-02", 50))
    assert later is not None and lines.numbers_on_joining([later]) == {"later": 3}  # behind the one before it
    lines.left("a")
    assert lines.numbers_on_joining([later]) == {"later": 2}


def test_children_joining_together_count_those_of_their_batch_ahead_of_them():
    lines = WaitingLines()
    lines.read_whole([task("a", "2026-11-01", position=1), task("b", "2026-11-03", position=2),
                      task("x", "2026-10-01", band=(3, 5), position=1)], T0)
    # In the order the batch came (not the line's): two made in the same minute are ordered by id, as stored.
    batch = [place_in_line(t) for t in (task("e", "2026-11-02", 40), task("d", "2026-11-02", 10),
                                        task("c", "2026-11-02", 10), task("y", "2026-09-01", band=(3, 5)),
                                        task("z", "2026-12-01"))]
    numbers = lines.numbers_on_joining(p for p in batch if p is not None)
    assert numbers == {"c": 2, "d": 3, "e": 4, "z": 6, "y": 1}
    for place in batch:
        assert place is not None
        lines.joined(replace(place, published=numbers[place.task_id]))
    assert lines.renumbered() == {"b": 5, "x": 2}  # only those already waiting behind them move


def test_the_whole_line_is_read_at_first_and_then_every_so_often():
    lines, every = WaitingLines(), timedelta(minutes=10)
    assert lines.due_for_whole_read(T0, every)
    lines.read_whole([], T0)
    lines.read_changes([], set(), T0 + timedelta(minutes=9))
    assert not lines.due_for_whole_read(T0 + timedelta(minutes=9, seconds=59), every)
    assert lines.due_for_whole_read(T0 + every, every)


# ------------------------------------------------------------------------------------ against the real servers


async def numbers(app, events) -> list[int | None]:
    return [(await app.state.store.get_task((await tasks_of(app, e))[0]["task_id"])).get("waitlist_position")
            for e in events]


async def test_after_the_first_run_only_what_changed_is_read_and_the_numbers_follow(one_seat, monkeypatch):
    client, app = one_seat
    _, waiting = await line_up(app, 3, arrived="2026-11-01")  # arrived 1, 2 and 3 November
    lines = WaitingLines()
    await publish_numbers(app, lines)
    assert await numbers(app, waiting) == [1, 2, 3]

    async def whole_read_refused():
        raise AssertionError("the job read the whole line again")

    monkeypatch.setattr(app.state.store, "waitlist_places", whole_read_refused)
    # Arrived the same day as the first in line, registered after it: second in line, the two behind move down.
    between = arrival_event(registration(children=[child("Between", "2019-03-05")], arrival_date="2026-11-01"))
    await app.state.handlers.newcomer_arrived(between)
    await publish_numbers(app, lines)
    assert await numbers(app, [waiting[0], between, waiting[1], waiting[2]]) == [1, 2, 3, 4]

    # The first in line declined by staff (it is not renumbered itself): the three behind move up.
    [first] = await tasks_of(app, waiting[0])
    response = await move(client, app, first["task_id"], "declined", reason="moved away")
    assert response.status_code == 200, response.text
    await publish_numbers(app, lines)
    assert await numbers(app, [between, waiting[1], waiting[2]]) == [1, 2, 3]

    # The first one now erased: the two behind move up.
    await app.state.handlers.newcomer_erased(NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=between.payload.case_id, basis=ErasureBasis.REQUEST, requested_at=datetime.now(UTC)),
        producer="tests", correlation_id=between.payload.case_id))
    await publish_numbers(app, lines)
    assert await tasks_of(app, between) == []
    assert await numbers(app, waiting[1:]) == [1, 2]


async def test_children_waitlisted_in_one_batch_are_numbered_as_the_job_numbers_them(one_seat):
    """A batch of arrivals handled together (the consumer's usual case under load), all arrived the same day: each
    child's first event carries the number the stored line gives it, so the job has nothing to correct. (Tasks of
    one batch are created within the same millisecond, the precision the database keeps, and are then ordered by
    id: numbering them by the microseconds in hand, or before the whole batch is known, told families numbers
    the job changed seconds later.)"""
    _, app = one_seat
    lines = app.state.handlers.waiting_lines
    await publish_numbers(app, lines)  # the lines read (the job does so at start)
    _, before = await line_up(app, 1)
    batch = [arrival_event(registration(children=[child(f"Batch {i}", "2019-03-05")], arrival_date="2026-11-01"))
             for i in range(12)]
    await app.state.handlers.newcomers_arrived(batch)
    given = await numbers(app, [*before, *batch])
    assert sorted(given) == list(range(1, 14))  # one line, each number once
    assert await publish_numbers(app, WaitingLines()) == 0  # a fresh read of the stored line agrees with each
    assert await numbers(app, [*before, *batch]) == given


async def test_a_child_waitlisted_is_told_its_number_in_its_first_event(one_seat, infrastructure):
    _, app = one_seat
    lines = app.state.handlers.waiting_lines  # the app's job's
    await publish_numbers(app, lines)  # the lines read (the job does so at start)
    _, waiting = await line_up(app, 3)
    tasks = [await app.state.store.get_task((await tasks_of(app, e))[0]["task_id"]) for e in waiting]
    assert [(t["waitlist_position"], len(t["history"]), t["history"][0]["waitlist_position"]) for t in tasks] == [
        (1, 1, 1), (2, 1, 2), (3, 1, 3)]  # one change each: the number came with the task
    assert await publish_numbers(app, lines) == 0  # nothing left for the job
    topic = app.state.settings.topic(SCHOOL_INTAKE_STATUS_CHANGED.topic)
    first = {}
    for message in await read_until_quiet(infrastructure.kafka_bootstrap_servers, topic, at_least=4):
        change = SCHOOL_INTAKE_STATUS_CHANGED.parse(message.value).payload
        first.setdefault(str(change.task_id), change)
    assert [(first[t["_id"]].status, first[t["_id"]].waitlist_position) for t in tasks] == [
        ("waitlisted", 1), ("waitlisted", 2), ("waitlisted", 3)]
