"""The consumer runner against the real broker: effects, commits, retries and dead letters."""

import asyncio
import json
import uuid

from shared import bus
from shared.events import NEWCOMER_ARRIVED, NEWCOMER_ERASED, ErasureBasis, NewcomerErased, to_json
from shared.settings import ServiceSettings
from tests.builders import arrival_event
from tests.kafka_helpers import eventually, group_lag, read_topic, write


async def _run(settings, handler):
    producer = bus.create_producer(settings)
    await producer.start()
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED])
    runner = bus.ConsumerRunner(settings, [bus.Subscription(NEWCOMER_ARRIVED, handler)], producer)
    await runner.start()
    task = asyncio.create_task(runner.run())
    return runner, task, producer


async def _stop(runner, task, producer):
    await runner.stop()
    await asyncio.wait_for(task, 10)
    await producer.stop()


async def test_poison_events_are_dead_lettered_with_reason_and_good_events_behind_them_handled(infrastructure):
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    handled = []

    async def handler(event):
        if event.payload.newcomer.full_name == "Always Fails":
            raise ValueError("handler bug")
        handled.append(event.event_id)

    runner, task, producer = await _run(settings, handler)
    good = arrival_event()
    bad_version = json.loads(to_json(arrival_event()))
    bad_version.update(version=9, min_reader_version=9)
    failing = arrival_event()
    failing_body = json.loads(to_json(failing))
    failing_body["payload"]["newcomer"]["full_name"] = "Always Fails"
    await write(infrastructure.kafka_bootstrap_servers, topic,
                [b"{not json", json.dumps(bad_version).encode(), json.dumps(failing_body).encode(), to_json(good)])

    assert await eventually(lambda: good.event_id in handled)
    dead = await read_topic(infrastructure.kafka_bootstrap_servers, bus.dead_letter_topic(topic), expect=3)
    await _stop(runner, task, producer)

    reasons = [dict(r.headers)["dlq.reason"].decode() for r in dead]
    assert len(dead) == 3, reasons
    assert "not a valid NewcomerArrived" in reasons[0]
    assert "version 9 is not readable" in reasons[1]
    assert "ValueError: handler bug" in reasons[2]
    headers = dict(dead[2].headers)
    assert headers["dlq.attempts"] == str(settings.consumer_max_attempts).encode()
    assert headers["dlq.original.topic"] == topic.encode()
    assert int(headers["dlq.original.offset"]) == 2
    assert handled == [good.event_id]
    assert runner.stats.dead_lettered == 3


def _recording():
    """A handler that notes each event's id, and the list it notes them in."""
    seen = []

    async def handler(event):
        seen.append(event.event_id)

    return seen, handler


async def test_offsets_are_committed_after_handling_so_a_restart_does_not_redeliver(infrastructure):
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    seen, handler = _recording()
    events = [arrival_event() for _ in range(3)]
    runner, task, producer = await _run(settings, handler)
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(e) for e in events])
    assert await eventually(lambda: len(seen) == 3)
    await _stop(runner, task, producer)

    later = arrival_event()
    runner, task, producer = await _run(settings, handler)
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(later)])
    assert await eventually(lambda: len(seen) == 4)

    async def committed_everything():
        return await group_lag(infrastructure.kafka_bootstrap_servers, settings.consumer_group, [topic]) == 0

    assert await eventually(committed_everything)  # the group has handled all there is: no redelivery pending
    await _stop(runner, task, producer)
    assert seen == [e.event_id for e in events] + [later.event_id]


async def test_handled_offsets_are_committed_at_most_once_an_interval_and_all_of_them_at_a_stop(infrastructure):
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                                       consumer_commit_interval_ms=60_000)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    seen, handler = _recording()
    events = [arrival_event() for _ in range(4)]
    runner, task, producer = await _run(settings, handler)
    for n, event in enumerate(events[:3], start=1):  # one poll each
        await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(event)])
        assert await eventually(lambda n=n: len(seen) == n)
    # The first poll's offsets go at once; the next two wait for the interval (a commit per poll: 3).
    assert await eventually(lambda: runner.stats.commits == 1)
    assert await group_lag(infrastructure.kafka_bootstrap_servers, settings.consumer_group, [topic]) == 2
    await _stop(runner, task, producer)
    assert runner.stats.commits == 2  # at the stop, what was handled
    assert await group_lag(infrastructure.kafka_bootstrap_servers, settings.consumer_group, [topic]) == 0

    runner, task, producer = await _run(settings, handler)  # nothing handled comes again
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(events[3])])
    assert await eventually(lambda: len(seen) == 4)
    await _stop(runner, task, producer)
    assert seen == [e.event_id for e in events]


async def test_a_transient_failure_is_retried_until_it_succeeds_and_never_dead_lettered(infrastructure):
    from pymongo.errors import AutoReconnect

    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", consumer_max_attempts=2)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    calls = []

    async def flaky(event):
        calls.append(event.event_id)
        if len(calls) <= 4:  # more failures than consumer_max_attempts: transient errors do not count toward it
            raise AutoReconnect("database restarting")

    runner, task, producer = await _run(settings, flaky)
    event = arrival_event()
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(event)])
    assert await eventually(lambda: runner.stats.handled == 1, timeout=30)
    await _stop(runner, task, producer)
    assert len(calls) == 5 and runner.stats.dead_lettered == 0


async def test_a_batch_handler_gets_the_batch_and_a_failing_batch_falls_back_to_one_by_one(infrastructure):
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", consumer_max_attempts=1)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    batches, singles = [], []

    async def batch(events):
        batches.append([e.event_id for e in events])
        if any(e.payload.newcomer.full_name == "Bad Apple" for e in events):
            raise ValueError("one bad event spoils the batch")

    async def single(event):
        if event.payload.newcomer.full_name == "Bad Apple":
            raise ValueError("still bad alone")
        singles.append(event.event_id)

    producer = bus.create_producer(settings)
    await producer.start()
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED])
    key = str(uuid.uuid4()).encode()  # one key: one partition, so the records come in one poll
    good = [arrival_event() for _ in range(3)]
    bad = json.loads(to_json(arrival_event()))
    bad["payload"]["newcomer"]["full_name"] = "Bad Apple"
    await write(infrastructure.kafka_bootstrap_servers, topic,
                [to_json(good[0]), to_json(good[1]), json.dumps(bad).encode(), to_json(good[2])], key=key)
    runner = bus.ConsumerRunner(settings, [bus.Subscription(NEWCOMER_ARRIVED, single, handle_batch=batch)], producer)
    await runner.start()
    task = asyncio.create_task(runner.run())
    assert await eventually(lambda: len(singles) == 3 and runner.stats.dead_lettered == 1, timeout=30)
    await _stop(runner, task, producer)
    assert len(batches[0]) == 4  # the whole poll went to the batch handler first
    assert singles == [e.event_id for e in good]


async def test_the_topics_of_one_poll_are_handled_in_the_order_of_the_subscriptions(infrastructure):
    """A case's arrival and an event that follows it can come in one poll (a consumer that starts, or catches up,
    finds both waiting); aiokafka returns the poll's partitions in a random order. The runner hands them to the
    handlers in the order the service subscribed (arrivals first), or a handler that needs the case would skip
    the later event for a case it does not know yet. Several rounds: the fetch's order is a coin toss each."""
    for _ in range(5):
        settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                           kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.")
        producer = bus.create_producer(settings)
        await producer.start()
        await bus.ensure_topics(settings, [NEWCOMER_ARRIVED, NEWCOMER_ERASED])
        arrivals = [arrival_event() for _ in range(6)]
        for event in arrivals:  # several partitions of each topic (keys by case)
            erased = NEWCOMER_ERASED.envelope(
                NewcomerErased(case_id=event.payload.case_id, basis=ErasureBasis.REQUEST,
                               requested_at=event.occurred_at), producer="test",
                correlation_id=event.payload.case_id)
            key = str(event.payload.case_id).encode()
            await producer.send_and_wait(settings.topic(NEWCOMER_ERASED.topic), value=to_json(erased), key=key)
            await producer.send_and_wait(settings.topic(NEWCOMER_ARRIVED.topic), value=to_json(event), key=key)
        handled: list[str] = []

        async def arrived(event, handled=handled):
            handled.append("arrived")

        async def erased_case(event, handled=handled):
            handled.append("erased")

        runner = bus.ConsumerRunner(settings, [bus.Subscription(NEWCOMER_ARRIVED, arrived),
                                               bus.Subscription(NEWCOMER_ERASED, erased_case)], producer)
        await runner.start()
        task = asyncio.create_task(runner.run())
        try:
            assert await eventually(lambda handled=handled: len(handled) == 12, timeout=30)
        finally:
            await _stop(runner, task, producer)
        assert handled == ["arrived"] * 6 + ["erased"] * 6


async def _batch_sizes_of_a_stream(infrastructure, linger_ms: int) -> list[int]:
    """One event after a quiet spell, then 40 more written one by one every 10 ms: the sizes of the passes."""
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", consumer_linger_ms=linger_ms)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    sizes: list[int] = []

    async def batch(events):
        sizes.append(len(events))

    async def single(event):
        sizes.append(1)

    producer = bus.create_producer(settings)
    await producer.start()
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED])
    runner = bus.ConsumerRunner(settings, [bus.Subscription(NEWCOMER_ARRIVED, single, handle_batch=batch)], producer)
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        key = str(uuid.uuid4()).encode()
        await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(arrival_event())], key=key)
        assert await eventually(lambda: sum(sizes) == 1, timeout=30)
        first = list(sizes)
        for _ in range(40):
            await producer.send_and_wait(topic, value=to_json(arrival_event()), key=key)
            await asyncio.sleep(0.01)  # the pace of the stream, not a wait for something to happen
        assert await eventually(lambda: sum(sizes) == 41, timeout=30)
    finally:
        await _stop(runner, task, producer)
    assert first == [1]  # after a quiet spell: at once, alone
    return sizes[1:]


async def test_while_events_keep_coming_a_consumer_lingers_and_handles_them_in_fewer_passes(infrastructure):
    lingering = await _batch_sizes_of_a_stream(infrastructure, linger_ms=300)
    at_once = await _batch_sizes_of_a_stream(infrastructure, linger_ms=0)
    assert sum(lingering) == sum(at_once) == 40
    # 40 events over at least 0.4 s: with 300 ms of lingering a handful of passes; without, one per poll.
    assert len(lingering) <= 8 < len(at_once)


async def test_a_consumer_that_stops_fetching_while_events_wait_is_replaced(infrastructure):
    """aiokafka was seen (fault suite, broker restart) to stay in its group yet fetch nothing for minutes."""
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", consumer_stall_seconds=0.5)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    seen = []

    async def handler(event):
        seen.append(event.event_id)

    runner, task, producer = await _run(settings, handler)
    first = arrival_event()
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(first)])
    assert await eventually(lambda: first.event_id in seen)

    async def fetch_nothing(*args, **kwargs):  # the stuck fetcher
        await asyncio.sleep(0.1)
        return {}

    runner.consumer.getmany = fetch_nothing
    await asyncio.sleep(1)  # the real getmany in flight (up to 0.5 s) returns first
    waiting = arrival_event()
    await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(waiting)])
    assert await eventually(lambda: waiting.event_id in seen, timeout=30)
    assert runner.stats.reconnects >= 1
    await _stop(runner, task, producer)


async def test_a_slow_handler_does_not_leave_a_busy_partition_waiting_behind_a_fetch_of_quiet_ones(infrastructure):
    """aiokafka fetches a partition again only once its buffered records are taken; while a handler works, it sends
    a fetch of the other partitions alone after 100 ms, and a broker holds a fetch of quiet partitions for the
    whole fetch_max_wait_ms. The busy partition, drained meanwhile, then waited for it (seen at 50/s: every
    consumer stalled ~5 s at a time). Here the wait is 30 s: a stall shows as the stream not being handled in
    15 s; without one it takes ~3 s (12 events, 0.25 s of handling each)."""
    settings = infrastructure.settings(ServiceSettings, service_name=f"bus-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                                       consumer_fetch_max_wait_ms=30_000)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    handled = []

    async def slow_handler(event):
        await asyncio.sleep(0.25)  # the handler's work
        handled.append(event.event_id)

    runner, task, producer = await _run(settings, slow_handler)
    try:
        key = str(uuid.uuid4()).encode()  # one partition busy, the topic's others quiet
        await write(infrastructure.kafka_bootstrap_servers, topic, [to_json(arrival_event())], key=key)
        assert await eventually(lambda: len(handled) == 1, timeout=30)
        for _ in range(12):
            await producer.send_and_wait(topic, value=to_json(arrival_event()), key=key)
            await asyncio.sleep(0.05)  # the pace of the stream
        assert await eventually(lambda: len(handled) == 13, timeout=15), f"{len(handled)} of 13 handled"
    finally:
        await _stop(runner, task, producer)
